#include "common/presets.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/config_io.h"
#include "common/config_schema.h"
#include "common/error.h"
#include "common/install_paths.h"
#include "common/text_match.h"
#include "test_dir.h"

namespace fs = std::filesystem;

namespace dlab {
namespace {

const fs::path kPresetDir = fs::path(DEPTHLAB_SOURCE_DIR) / "resources" / "presets";

const std::vector<std::string> kPresets = {"combined",  "demo",    "depth", "gqa",         "moe",
                                           "moe_dense", "seq_len", "tiny",  "weight_decay"};

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Sets an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

fs::path fresh_dir(const std::string& name) { return test::test_dir_fresh("common", name); }

TEST(Presets, TheShippedSetIsComplete) {
  EXPECT_EQ(preset_names(kPresetDir.string()), kPresets);
  // Without $DEPTHLAB_PRESETS the source tree is found (compile definition).
  unsetenv("DEPTHLAB_PRESETS");
  ASSERT_FALSE(preset_dirs().empty());
  EXPECT_EQ(fs::path(preset_dirs().front()), kPresetDir);
  EXPECT_EQ(preset_names(), kPresets);
}

TEST(Presets, EveryPresetLoadsValidatesAndIsNamedAfterItsFile) {
  for (const std::string& name : kPresets) {
    const Config c = preset_load(name);
    EXPECT_EQ(config_validate(c), std::vector<std::string>{}) << name;
    EXPECT_EQ(c.run.name, name);
    // Writing it out and reading it back changes nothing.
    EXPECT_EQ(config_diff(c, config_from_toml(config_to_toml(c), name)), std::vector<std::string>{})
        << name;
  }
}

// The commands in each preset's header ("#   dlab train --preset X --sweep K=V")
// name real presets and every run of the sweep validates.
TEST(Presets, HeaderCommandsWork) {
  for (const std::string& name : kPresets) {
    std::istringstream lines(read_text(kPresetDir / (name + ".toml")));
    int commands = 0;
    bool names_itself = false;
    for (std::string line; std::getline(lines, line);) {
      const std::string prefix = "#   dlab train --preset ";
      if (line.rfind(prefix, 0) != 0) continue;
      ++commands;
      std::istringstream words(line.substr(prefix.size()));
      std::string preset, flag, sweep;
      words >> preset >> flag >> sweep;
      names_itself = names_itself || preset == name;
      const Config base = preset_load(preset);
      std::vector<Config> runs = {base};
      if (!flag.empty()) {
        ASSERT_EQ(flag, "--sweep") << line;
        runs = config_expand_sweep(base, sweep);
        EXPECT_GE(runs.size(), 1u) << line;
      }
      for (const Config& run : runs) {
        EXPECT_EQ(config_validate(run), std::vector<std::string>{}) << line << ": " << run.run.name;
      }
    }
    EXPECT_GE(commands, 1) << name << ".toml has no '#   dlab train --preset' line";
    EXPECT_TRUE(names_itself) << name;
  }
}

TEST(Presets, TinyAndDemoAreAsSpecified) {
  const Config t = preset_load("tiny");
  EXPECT_EQ(t.data.corpus, "@synthetic");
  EXPECT_EQ(t.data.tokenizer, "byte");
  EXPECT_EQ(t.model.vocab_size, 256);
  EXPECT_EQ(t.model.n_layers, 2);
  EXPECT_EQ(t.model.d_model, 32);
  EXPECT_EQ(t.model.n_heads, 4);
  EXPECT_EQ(t.model.n_kv_heads, 2);
  EXPECT_EQ(t.model.d_ff, 64);
  EXPECT_EQ(t.data.seq_len, 32);
  EXPECT_EQ(t.train.batch_size, 8);
  EXPECT_EQ(t.train.steps, 40);
  EXPECT_EQ(t.train.warmup_steps, 5);
  EXPECT_EQ(t.train.lr, 3e-3);
  EXPECT_EQ(t.train.eval_every, 10);
  EXPECT_EQ(t.train.checkpoint_every, 20);
  EXPECT_EQ(t.train.stats_every, 1);
  EXPECT_EQ(t.train.attn_stats_every, 5);

  const Config d = preset_load("demo");
  EXPECT_EQ(d.data.corpus, "@demo");
  EXPECT_EQ(d.data.tokenizer, "bpe");
  EXPECT_EQ(d.model.vocab_size, 2048);
  EXPECT_EQ(d.model.n_layers, 6);
  EXPECT_EQ(d.model.d_model, 128);
  EXPECT_EQ(d.model.n_heads, 4);
  EXPECT_EQ(d.model.n_kv_heads, 2);
  EXPECT_EQ(d.model.d_ff, 352);
  EXPECT_EQ(d.data.seq_len, 128);
  EXPECT_EQ(d.train.batch_size, 16);
  EXPECT_EQ(d.train.lr, 3e-3);
  EXPECT_EQ(d.train.warmup_steps, 30);
  EXPECT_EQ(d.train.weight_decay, 0.1);
  EXPECT_EQ(d.train.steps, 400);
  EXPECT_EQ(d.train.eval_every, 50);
  EXPECT_EQ(d.train.checkpoint_every, 200);
  EXPECT_EQ(d.train.stats_every, 5);
  EXPECT_EQ(d.train.attn_stats_every, 25);
}

TEST(Presets, SweepPresetsDifferFromTheBaselineOnlyWhereTheyShould) {
  const Config depth = preset_load("depth");
  EXPECT_EQ(depth.train.steps, 0);
  EXPECT_EQ(depth.train.tokens, 2'000'000);
  auto differs = [&](const std::string& name) {
    std::vector<std::string> keys;
    for (const std::string& k : config_diff(depth, preset_load(name))) {
      if (k != "run.name") keys.push_back(k);
    }
    return keys;
  };
  // Each single-factor preset is the depth baseline at 12 blocks plus its factor.
  EXPECT_EQ(differs("weight_decay"), std::vector<std::string>{"model.n_layers"});
  EXPECT_EQ(differs("seq_len"), std::vector<std::string>{"model.n_layers"});
  EXPECT_EQ(differs("moe_dense"), std::vector<std::string>{"model.n_layers"});
  EXPECT_EQ(differs("gqa"),
            (std::vector<std::string>{"model.n_layers", "model.n_heads", "model.n_kv_heads"}));
  EXPECT_EQ(differs("moe"), (std::vector<std::string>{"model.n_layers", "model.moe.n_experts",
                                                      "model.moe.d_expert"}));
}

TEST(Presets, MoeMatchesTheDenseActiveParameters) {
  const Config moe = preset_load("moe");
  const Config dense = preset_load("moe_dense");
  EXPECT_EQ(moe.model.moe.n_experts, 8);
  EXPECT_EQ(moe.model.moe.top_k, 2);
  EXPECT_EQ(dense.model.moe.n_experts, 0);
  // Active FFN parameters per token per layer: 3 * d * hidden for each SwiGLU used.
  const int64_t d = moe.model.d_model;
  const int64_t shared = moe.model.moe.n_shared_experts;
  const int64_t moe_active = (moe.model.moe.top_k + shared) * 3 * d * moe.model.moe.d_expert;
  EXPECT_EQ(moe_active, 3 * dense.model.d_model * dense.model.d_ff);
  EXPECT_EQ(config_diff(dense, moe),
            (std::vector<std::string>{"run.name", "model.moe.n_experts", "model.moe.d_expert"}));
}

TEST(Presets, CombinedUsesAllFourFactors) {
  const Config c = preset_load("combined");
  const Config depth = preset_load("depth");
  EXPECT_EQ(c.model.n_layers, 16);
  EXPECT_GT(c.data.seq_len, depth.data.seq_len);
  EXPECT_EQ(c.train.weight_decay, 0.3);
  EXPECT_LT(c.model.n_kv_heads, c.model.n_heads);
  EXPECT_TRUE(c.model.is_moe());
  EXPECT_EQ(c.train.batch_size * c.data.seq_len, depth.train.batch_size * depth.data.seq_len);
}

TEST(Presets, EnvironmentDirectoryComesFirst) {
  const fs::path dir = fresh_dir("common-presets-env");
  std::ofstream(dir / "tiny.toml") << "[run]\nname = \"my-tiny\"\n";
  std::ofstream(dir / "extra.toml") << "[model]\nn_layers = 3\n";
  std::ofstream(dir / "notes.txt") << "not a preset\n";
  const ScopedEnv env("DEPTHLAB_PRESETS", "/nonexistent/dir:" + dir.string());
  EXPECT_EQ(fs::path(preset_dirs().front()), dir);
  EXPECT_EQ(preset_load("tiny").run.name, "my-tiny");  // shadows the shipped one
  EXPECT_EQ(preset_load("extra").model.n_layers, 3);
  EXPECT_EQ(preset_load("demo").run.name, "demo");  // still found in the source tree
  const std::vector<std::string> names = preset_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "extra"), names.end());
  EXPECT_EQ(std::count(names.begin(), names.end(), "tiny"), 1);
  EXPECT_EQ(preset_names(dir.string()), (std::vector<std::string>{"extra", "tiny"}));
}

// An installed program's presets sit at <exe>/../share/depthlab/presets; a build
// tree has none there, so the source tree's are the ones found (the installed
// order itself is checked on an unpacked package: tests/packaging, case deb).
TEST(Presets, InstalledCopyIsFoundFromTheExecutableBeforeTheSourceTree) {
  const fs::path exe_dir = executable_dir();
  ASSERT_FALSE(exe_dir.empty());
  EXPECT_EQ(installed_data_dir(), (exe_dir / ".." / "share" / "depthlab").lexically_normal());
  EXPECT_EQ(installed_lib_dir().filename(), "depthlab");
  EXPECT_EQ(installed_lib_dir().string().rfind(exe_dir.parent_path().string() + "/lib", 0), 0u)
      << installed_lib_dir();
  const std::vector<std::string> dirs = preset_dirs();
  ASSERT_FALSE(dirs.empty());
  EXPECT_EQ(fs::path(dirs.back()), kPresetDir);
  EXPECT_FALSE(fs::exists(installed_data_dir() / "presets"));
}

TEST(Presets, LoadByPath) {
  const fs::path dir = fresh_dir("common-presets-path");
  std::ofstream(dir / "mine.toml") << "[train]\nsteps = 9\n";
  EXPECT_EQ(preset_load((dir / "mine.toml").string()).train.steps, 9);
  EXPECT_EQ(preset_load((kPresetDir / "tiny.toml").string()).run.name, "tiny");
}

TEST(Presets, UnknownNameListsTheAvailableOnes) {
  unsetenv("DEPTHLAB_PRESETS");
  try {
    preset_load("dmeo");
    FAIL() << "loaded an unknown preset";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown preset 'dmeo'; did you mean 'demo'? The presets are combined, demo, "
              "depth, gqa, moe, moe_dense, seq_len, tiny, weight_decay (in " +
                  join(preset_dirs()) + ")");
  }
  try {
    preset_load("huge");
    FAIL() << "loaded an unknown preset";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("unknown preset 'huge'; the presets are combined, ", 0),
              0u)
        << e.what();
  }
}

}  // namespace
}  // namespace dlab
