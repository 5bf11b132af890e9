// Hostile config text (issue 13): nesting and size limits checked before any
// parser runs, bounded excerpts in messages, config files that are not
// regular files. The deep cases used to overflow the stack (SIGSEGV), so they
// run in a child process.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "common/config_io.h"
#include "common/error.h"
#include "error_of.h"
#include "test_dir.h"

namespace dlab {
namespace {

using test::contains;
using test::error_of;

namespace fs = std::filesystem;

// The message `f` throws, computed in a forked child (a stack overflow there
// fails the test instead of killing the test runner); "(crashed)" if it died
// or blocked for 20 s.
std::string error_in_child(const std::function<void()>& f) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) return "(no pipe)";
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(20);  // a regression that blocks (a FIFO) ends the child, not the test run
    ::close(pipefd[0]);
    const std::string msg = error_of(f);
    const ssize_t n = ::write(pipefd[1], msg.data(), msg.size());
    ::_exit(n == ssize_t(msg.size()) ? 0 : 1);
  }
  ::close(pipefd[1]);
  std::string msg;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof(buf))) > 0;) msg.append(buf, size_t(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) return "(crashed)";
  return msg;
}

fs::path test_dir(const std::string& name) { return test::test_dir_fresh("common", name); }

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// ---- JSON ---------------------------------------------------------------------

// {"model": [[[[...]]]]} in a checkpoint's config crashed dlab inspect: the
// type error dumped the whole value, recursing once per level.
TEST(ConfigLimits, DeeplyNestedJsonIsRefusedNotACrash) {
  const std::string deep =
      R"({"model": )" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_EQ(error_in_child([&] { config_from_json(deep, "ck.h5 (attribute config)"); }),
            "ck.h5 (attribute config): the JSON text nests arrays and objects more than 64 "
            "levels deep (at byte 73); a config nests 3 levels, and DepthLab reads at most 64");
  const std::string objects = repeat(R"({"a":)", 100000) + "1" + std::string(100000, '}');
  EXPECT_TRUE(contains(error_in_child([&] { config_from_json(objects); }), "more than 64 levels"));
}

TEST(ConfigLimits, JsonNestingIsCountedOutsideStringsOnly) {
  // Brackets inside strings (escaped quotes too) are text, not nesting.
  const std::string name = std::string(200, '[') + "\\\"{{" + std::string(200, '{');
  EXPECT_NO_THROW(json_text_check(R"({"run":{"name":")" + name + R"("}})", "t"));
  EXPECT_EQ(config_from_json(R"({"run":{"name":")" + name + R"("}})").run.name.size(), 403u);
  // Exactly at the limit, then one past it.
  EXPECT_NO_THROW(json_text_check(std::string(64, '[') + std::string(64, ']'), "t"));
  EXPECT_TRUE(contains(error_of([] { json_text_check(std::string(65, '['), "t"); }),
                       "t: the JSON text nests arrays and objects more than 64 levels deep (at "
                       "byte 64)"));
}

// nlohmann reports a number past double as out_of_range, not parse_error; it
// escaped config_from_json and terminated the program (config_parse fuzzer).
TEST(ConfigLimits, JsonNumberOverflowIsAnErrorNotATermination) {
  EXPECT_EQ(error_of([] { config_from_json(R"({"train":{"lr":55e555755}})", "ck.h5"); }),
            "ck.h5: invalid JSON: [json.exception.out_of_range.406] number overflow parsing "
            "'55e555755'");
}

TEST(ConfigLimits, HugeJsonIsRefusedBeforeParsing) {
  const std::string big = R"({"run":{"name":")" + std::string(2 << 20, 'x') + R"("}})";
  EXPECT_EQ(error_of([&] { config_from_json(big, "run.h5"); }),
            "run.h5: the JSON text is 2097171 bytes long; DepthLab reads at most 1048576 bytes of "
            "config JSON");
}

TEST(ConfigLimits, JsonMessagesQuoteShortExcerpts) {
  const std::string long_value = std::string(5000, 'v');
  const std::string msg =
      error_of([&] { config_from_json(R"({"model":{"n_layers":")" + long_value + R"("}})"); });
  EXPECT_LT(msg.size(), 200u) << msg;
  EXPECT_TRUE(contains(msg, "model.n_layers must be an integer, got \"vvvv")) << msg;
  EXPECT_TRUE(contains(msg, "...")) << msg;
  const std::string wide = "[" + repeat("1,", 100000) + "1]";
  const std::string msg2 = error_of([&] { config_from_json(R"({"model":)" + wide + "}"); });
  EXPECT_LT(msg2.size(), 200u) << msg2.substr(0, 300);
  EXPECT_TRUE(contains(msg2, "'model' must be an object, got [1,1,1")) << msg2;
  // A parse error inside a long string quotes only its start.
  const std::string bad = R"({"run":{"name":")" + std::string(100000, 'n') + "\x01\"}}";
  const std::string msg3 = error_of([&] { config_from_json(bad); });
  EXPECT_LT(msg3.size(), 400u) << msg3.substr(0, 500);
  EXPECT_TRUE(contains(msg3, "invalid JSON")) << msg3;
}

// ---- TOML ---------------------------------------------------------------------

// A dotted key or a table header of 100 000 parts builds 100 000 nested tables,
// whose destructors recursed until the stack overflowed.
TEST(ConfigLimits, DeepTomlKeysAndHeadersAreRefusedNotACrash) {
  const std::string key = "[run]\nname = \"x\"\n" + repeat("a.", 100000) + "a = 1\n";
  EXPECT_EQ(error_in_child([&] { config_from_toml(key, "deep.toml"); }),
            "deep.toml:3: the TOML text nests tables, arrays and dotted keys more than 64 levels "
            "deep; a config nests 3 levels, and DepthLab reads at most 64");
  const std::string header = "[" + repeat("a.", 100000) + "a]\n";
  EXPECT_TRUE(contains(error_in_child([&] { config_from_toml(header, "h.toml"); }),
                       "h.toml:1: the TOML text nests"));
  const std::string aot = "[[" + repeat("a.", 100000) + "a]]\n";
  EXPECT_TRUE(contains(error_in_child([&] { config_from_toml(aot, "t"); }), "more than 64"));
  // A deep header plus a dotted key below it add up.
  const std::string sum = "[" + repeat("a.", 40) + "a]\n" + repeat("b.", 30) + "b = 1\n";
  EXPECT_TRUE(contains(error_of([&] { config_from_toml(sum, "s.toml"); }), "s.toml:2: the TOML"));
  const std::string inline_tables = "x = " + repeat("{a=", 70) + "1" + std::string(70, '}');
  EXPECT_TRUE(contains(error_of([&] { config_from_toml(inline_tables, "i"); }), "more than 64"));
  const std::string inline_keys = "x = {" + repeat("a.", 70) + "a = 1}";
  EXPECT_TRUE(contains(error_of([&] { config_from_toml(inline_keys, "k"); }), "more than 64"));
  const std::string arrays = "x = " + std::string(100000, '[') + std::string(100000, ']');
  EXPECT_TRUE(contains(error_in_child([&] { config_from_toml(arrays, "a"); }), "more than 64"));
}

TEST(ConfigLimits, TomlNestingIgnoresStringsCommentsAndFloats) {
  // Dots and brackets in values, strings, quoted keys and comments are not nesting.
  const std::string text = "# " + repeat("a.[{", 100) + "\n[train]\nlr = 1.5e-3\n" +
                           "[run]\nname = \"" + repeat("a.b[", 100) + "\"\n" + "device = '''" +
                           repeat(".[", 10) + "'''\n" + "dir = \"\"\"\n" + repeat("x.y.[{\n", 80) +
                           "\"\"\"\n";
  const Config c = config_from_toml(text, "ok.toml");
  EXPECT_EQ(c.train.lr, 1.5e-3);
  EXPECT_EQ(c.run.name, repeat("a.b[", 100));
  // A real config round-trips unchanged.
  Config base;
  base.model.moe.n_experts = 4;
  EXPECT_EQ(config_to_toml(config_from_toml(config_to_toml(base), "rt")), config_to_toml(base));
}

// Both crashed the config_parse fuzzer inside tomlplusplus 3.3 (an assertion
// in parse_key; TOML_UNREACHABLE in its whitespace tables), which is undefined
// behaviour in a release build. TOML forbids both, so they are refused first.
TEST(ConfigLimits, TomlControlAndStrayNonAsciiCharactersAreRefused) {
  EXPECT_EQ(error_of([] { config_from_toml(std::string("[\0\0]\n", 5), "nul.toml"); }),
            "nul.toml:1: the TOML text has the control character 0x00, which TOML does not allow "
            "(inside a string, write it as an escape)");
  EXPECT_EQ(error_of([] { config_from_toml("[run]\nname = \"x\" \xEF\xBB\xB7\n", "u.toml"); }),
            "u.toml:2: the TOML text has a non-ASCII character outside a string or comment; TOML "
            "keys, values and whitespace are ASCII (quote a key that needs other characters)");
  EXPECT_TRUE(contains(error_of([] {
                         config_from_toml(
                             "[run]\nname = \"a\x01"
                             "b\"\n",
                             "s");
                       }),
                       "s:2: the TOML text has the control character 0x01"));
  EXPECT_TRUE(
      contains(error_of([] { config_from_toml("# \x7f\n", "c"); }), "control character 0x7F"));
  EXPECT_EQ(error_of([] { config_from_toml("[model]\nn_layers = 2\n[}rain]\n", "h.toml"); }),
            "h.toml:3: a [table] header must start with a key (letters, digits, '_', '-', or a "
            "quoted key)");
  EXPECT_TRUE(contains(error_of([] { config_from_toml("[[ .x]]\n", "a"); }), "a:1: a [table]"));
  EXPECT_TRUE(contains(error_of([] { config_from_toml("[#", "c"); }), "c:1: a [table]"));
  EXPECT_EQ(config_from_toml("[ \"train\" ]\nlr = 0.5\n", "q").train.lr, 0.5);
  EXPECT_EQ(error_of([] { config_from_toml("[\ninit\n", "n.toml"); }),
            "n.toml:1: a [table] header must end with ']' on its own line");
  // The same code points reach it inside a bare value (tomlplusplus reads
  // `-{"t...` as one value, classifying each character) and at the start of
  // text continued after a line-ending backslash.
  EXPECT_TRUE(contains(error_of([] { config_from_toml("x = -{\"t\xC3\xA9\"}\n", "b"); }),
                       "b:1: the TOML text has a non-ASCII character outside a string"));
  EXPECT_TRUE(contains(
      error_of([] { config_from_toml("[run]\nname = \"\"\"a \\\n  \xC3\xA9\"\"\"\n", "m"); }),
      "m:2: the TOML text has a non-ASCII character after a backslash in a multi-line string"));
  EXPECT_TRUE(
      contains(error_of([] { config_from_toml("[run]\nname = \"\"\"a\\\xCE\x98\"\"\"\n", "e"); }),
               "e:2: the TOML text has a non-ASCII character after a backslash"));
  EXPECT_EQ(config_from_toml("[run]\nname = \"\"\"a \\\n  b\xC3\xA9\"\"\"\n", "m").run.name,
            "a b\xC3\xA9");
  // Allowed: non-ASCII in strings and comments, a byte order mark, tabs, CRLF.
  const Config c = config_from_toml(
      "\xEF\xBB\xBF# \xEF\xBB\xB7 \xC3\xA9\r\n[run]\r\n\tname = \"\xEF\xBB\xB7\"\r\n", "ok");
  EXPECT_EQ(c.run.name, "\xEF\xBB\xB7");
}

TEST(ConfigLimits, HugeTomlIsRefused) {
  const std::string big = "[run]\nname = \"" + std::string(2 << 20, 'x') + "\"\n";
  EXPECT_TRUE(contains(error_of([&] { config_from_toml(big, "big.toml"); }),
                       "big.toml: the config is 2097168 bytes long; DepthLab reads at most "
                       "1048576 bytes of TOML config"));
  const std::string msg = error_of(
      [&] { config_from_toml("[model]\nn_layers = \"" + std::string(5000, 'q') + "\"\n", "q"); });
  EXPECT_LT(msg.size(), 200u) << msg;
}

// ---- config files that are not regular files ------------------------------------------

TEST(ConfigLimits, ConfigFileThatIsAFifoDeviceOrDirectoryIsRefused) {
  const fs::path dir = test_dir("config_special");
  const fs::path fifo = dir / "fifo.toml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  // Used to block forever in the open (a FIFO) or read without end (/dev/zero).
  EXPECT_EQ(error_in_child([&] { config_from_file(fifo); }),
            "cannot read the config file " + fifo.string() +
                ": it is a FIFO (named pipe), not a regular file");
  EXPECT_EQ(error_in_child([] { config_from_file("/dev/zero"); }),
            "cannot read the config file /dev/zero: it is a character device, not a regular file");
  EXPECT_EQ(
      error_of([&] { config_from_file(dir); }),
      "cannot read the config file " + dir.string() + ": it is a directory, not a regular file");
  // A real config file, damaged: grown past the limit.
  const fs::path file = dir / "grown.toml";
  {
    std::ofstream out(file);
    out << config_to_toml(Config{}) << "# " << std::string(2 << 20, 'z') << "\n";
  }
  EXPECT_TRUE(contains(error_of([&] { config_from_file(file); }),
                       "DepthLab reads at most 1048576 bytes of TOML config"));
}

}  // namespace
}  // namespace dlab
