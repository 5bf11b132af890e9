// dlab serve hardening (issue 13): one bad request must never crash, freeze
// or exhaust the server. Each test drives a real `dlab serve` on 127.0.0.1
// with real clients, and shows the server refusing the request clearly and
// serving the next one:
//   - paths a client names in a config resolve inside --runs / --data only;
//   - integer fields are checked as 64-bit integers, never truncated;
//   - hostile config values are refused, the server goes on;
//   - --max-runs / --max-ranks cap what trains at once;
//   - a long evaluation stops on `stop`, shutdown cancels a running analysis.
// (The flood tests are in serve_flood_test.cpp.)
#include <gtest/gtest.h>

#include <QCoreApplication>
#include <QTest>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "serve_test_client.h"
#include "store/checkpoint_file.h"
#include "test_dir.h"

namespace dlab::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kToken = "hardening-token";

fs::path test_dir(const std::string& name) { return test_dir_fresh("serve", "hard_" + name); }

void write_text(const fs::path& file, const std::string& text) { std::ofstream(file) << text; }

// About 60 KB of text: enough windows for training and its held-out split.
std::string corpus_text() {
  std::string s;
  for (int i = 0; i < 1500; ++i) {
    s += "the layer " + std::to_string(i % 17) + " reads the residual stream and writes back.\n";
  }
  return s;
}

// A start of the tiny preset with `set` overrides; the reply, whatever its type.
json start_tiny(Client& c, const std::vector<std::string>& set) {
  return c.request({{"type", "start"}, {"body", {{"preset", "tiny"}, {"set", set}}}}, "", 60000);
}

std::set<std::string> fields_of(const json& error) {
  std::set<std::string> f;
  for (const json& e : error["body"]["fields"]) f.insert(e["field"].get<std::string>());
  return f;
}

std::string messages_of(const json& error) {
  const json& body = error.value("body", json::object());
  std::string s = body.value("message", "");
  for (const json& e : body.value("fields", json::array())) s += " | " + e.value("message", "");
  return s;
}

// Subscribes and waits until `run` reports `state`.
bool reaches(Client& c, const std::string& run, const std::string& state, int timeout_ms) {
  c.request({{"type", "subscribe"}, {"run", run}}, "subscribed");
  return wait_until(
      [&] {
        for (const json& s : c.states()) {
          if (s["run"] == run && s["body"]["state"] == state) return true;
        }
        return false;
      },
      timeout_ms);
}

// A finished tiny run of width `d_model` with a checkpoint at its last step.
std::string finished_run(Client& c, const std::string& name, int d_model = 32, int n_layers = 2) {
  const json started = start_tiny(
      c, {"run.name=" + name, "train.steps=6", "train.checkpoint_every=6", "train.eval_every=6",
          "model.d_model=" + std::to_string(d_model), "model.n_layers=" + std::to_string(n_layers),
          "model.d_ff=" + std::to_string(2 * d_model)});
  EXPECT_EQ(started.value("type", ""), "started") << started.dump();
  if (started.value("type", "") != "started") return "";
  const std::string run = started.value("run", "");
  EXPECT_TRUE(reaches(c, run, "finished", 120000)) << run << " did not finish";
  return run;
}

// Another connection still gets answers: the server survived what came before.
void expect_serving(const ServerProcess& server) {
  ASSERT_TRUE(server.running()) << "the server died";
  Client other;
  ASSERT_TRUE(other.open(server.url()));
  ASSERT_TRUE(other.hello(kToken));
  EXPECT_FALSE(other.request({{"type", "ping"}}, "pong", 10000).is_null());
}

// ---- 6: the paths a client names --------------------------------------------

TEST(ServeHardening, ClientPathsOutsideTheRunsAndDataFoldersAreRefused) {
  const fs::path dir = test_dir("paths");
  const fs::path data = dir / "data", outside = dir / "outside";
  fs::create_directories(data);
  fs::create_directories(outside);
  write_text(outside / "secret.txt", corpus_text());
  write_text(data / "corpus.txt", corpus_text());
  fs::create_symlink(outside / "secret.txt", data / "link.txt");  // points out of --data
  write_text(outside / "evil.toml", "[run]\nname = \"evil\"\n");
  ServerProcess server((dir / "runs").string(), kToken,
                       {"--data", QString::fromStdString(data.string())});
  ASSERT_FALSE(server.url().isEmpty());
  Client c;
  ASSERT_TRUE(c.open(server.url()));
  ASSERT_TRUE(c.hello(kToken));
  const json info = c.request({{"type", "server_info"}}, "server_info");
  EXPECT_NE(info["body"]["data_dirs"].dump().find(fs::canonical(data).string()), std::string::npos)
      << info.dump();

  struct Case {
    std::string set, field;
  };
  const std::vector<Case> refused = {
      {"data.corpus=" + (outside / "secret.txt").string(), "data.corpus"},
      {"data.corpus=" + (data / ".." / "outside" / "secret.txt").string(), "data.corpus"},
      {"data.corpus=" + (data / "link.txt").string(), "data.corpus"},
      {"data.corpus=/etc/hostname", "data.corpus"},
      {"data.tokenizer=" + (outside / "x.model").string(), "data.tokenizer"},
      {"data.cache_dir=" + (outside / "cache").string(), "data.cache_dir"},
      {"data.cache_dir=" + (data / "new" / ".." / ".." / "outside" / "cache").string(),
       "data.cache_dir"},
      {"run.dir=" + outside.string(), "run.dir"},
  };
  for (const Case& k : refused) {
    const json e = start_tiny(c, {"run.name=p", "train.steps=10", k.set});
    EXPECT_EQ(e["body"].value("code", ""), "invalid_config") << k.set << ": " << e.dump();
    EXPECT_EQ(fields_of(e), std::set<std::string>{k.field}) << e.dump();
    const std::string value = k.set.substr(k.set.find('=') + 1);
    EXPECT_NE(messages_of(e).find(value), std::string::npos) << "names the value: " << e.dump();
    EXPECT_NE(messages_of(e).find("--data"), std::string::npos) << "says what is allowed";
  }
  // A preset given as a path, and a config object naming a path outside.
  const json by_path =
      c.request({{"type", "start"}, {"body", {{"preset", (outside / "evil.toml").string()}}}}, "");
  EXPECT_EQ(by_path["body"].value("code", ""), "invalid_config") << by_path.dump();
  EXPECT_EQ(fields_of(by_path), std::set<std::string>{"body.preset"}) << by_path.dump();
  const json in_config = c.request({{"type", "start"},
                                    {"body",
                                     {{"config",
                                       {{"run", {{"name", "p"}}},
                                        {"data", {{"corpus", (outside / "secret.txt").string()}}},
                                        {"train", {{"steps", 10}}}}}}}},
                                   "");
  EXPECT_EQ(fields_of(in_config), std::set<std::string>{"data.corpus"}) << in_config.dump();
  EXPECT_FALSE(fs::exists(outside / "cache")) << "the refused cache folder was created";
  EXPECT_FALSE(fs::exists(dir / "runs" / "p")) << "a refused run was created";

  // What the server supplies itself works: a complete config as the GUI sends
  // it (run.dir at its default, data.cache_dir empty, an alias corpus) ...
  const json gui = {
      {"run", {{"name", "gui"}, {"dir", "runs"}, {"device", "cpu"}}},
      {"model",
       {{"n_layers", 2},
        {"d_model", 32},
        {"n_heads", 4},
        {"n_kv_heads", 2},
        {"d_ff", 64},
        {"vocab_size", 256}}},
      {"data",
       {{"corpus", "@synthetic"}, {"tokenizer", "byte"}, {"seq_len", 32}, {"cache_dir", ""}}},
      {"train", {{"steps", 10}, {"batch_size", 8}, {"warmup_steps", 2}}}};
  const json started_gui = c.request({{"type", "start"}, {"body", {{"config", gui}}}}, "", 60000);
  ASSERT_EQ(started_gui.value("type", ""), "started") << started_gui.dump();
  // ... and so do files inside --data, symlinks and ".." resolved first.
  const json started_data =
      start_tiny(c, {"run.name=inside", "train.steps=10", "train.eval_every=10",
                     "data.corpus=" + (data / "sub" / ".." / "corpus.txt").string(),
                     "data.cache_dir=" + (data / "cache").string()});
  ASSERT_EQ(started_data.value("type", ""), "started") << started_data.dump();
  EXPECT_EQ(started_data["body"]["config"]["data"]["corpus"],
            fs::canonical(data / "corpus.txt").string())
      << "the checked canonical path is the one used";
  EXPECT_TRUE(reaches(c, "gui", "finished", 60000));
  EXPECT_TRUE(reaches(c, "inside", "finished", 60000)) << server.stderr_text();
  EXPECT_TRUE(fs::is_directory(data / "cache")) << "the cache inside --data was used";
}

// A run that fails before writing its run.h5 (here: its corpus is missing)
// still holds its name: starting that name again gets "-2" instead of
// replacing a run whose thread was never joined (which ended the process).
TEST(ServeHardening, ANameWhoseRunFailedEarlyIsNotReused) {
  const fs::path dir = test_dir("failed");
  fs::create_directories(dir / "data");
  ServerProcess server((dir / "runs").string(), kToken,
                       {"--data", QString::fromStdString((dir / "data").string())});
  ASSERT_FALSE(server.url().isEmpty());
  Client c;
  ASSERT_TRUE(c.open(server.url()));
  ASSERT_TRUE(c.hello(kToken));
  const std::string missing = "data.corpus=" + (dir / "data" / "missing.txt").string();
  const json first = start_tiny(c, {"run.name=f", "train.steps=10", missing});
  ASSERT_EQ(first.value("type", ""), "started") << first.dump();
  ASSERT_TRUE(reaches(c, "f", "failed", 60000));
  const json second = start_tiny(c, {"run.name=f", "train.steps=10", missing});
  ASSERT_EQ(second.value("type", ""), "started") << second.dump();
  EXPECT_EQ(second["run"], "f-2");
  EXPECT_TRUE(reaches(c, "f-2", "failed", 60000));
  expect_serving(server);
}

TEST(ServeHardening, DataFolderMustExist) {
  const fs::path dir = test_dir("nodata");
  QProcess p;
  p.start(DEPTHLAB_DLAB_BINARY, {"serve", "--runs", QString::fromStdString((dir / "runs").string()),
                                 "--data", QString::fromStdString((dir / "missing").string())});
  ASSERT_TRUE(p.waitForFinished(60000));
  EXPECT_NE(p.exitCode(), 0);
  EXPECT_TRUE(p.readAllStandardError().contains("--data")) << "names the option";
  EXPECT_TRUE(p.readAllStandardOutput().isEmpty()) << "printed a listening line";
}

// ---- 8: integers are range-checked as int64, never truncated ----------------

TEST(ServeHardening, IntegerFieldsAreCheckedAs64BitNotTruncated) {
  const fs::path dir = test_dir("ints");
  ServerProcess server((dir / "runs").string(), kToken);
  ASSERT_FALSE(server.url().isEmpty());
  Client c;
  ASSERT_TRUE(c.open(server.url()));
  ASSERT_TRUE(c.hello(kToken));
  const std::string run = finished_run(c, "ints");

  // Each: a body (or envelope) and what the error must say.
  struct Case {
    json message;
    std::string code, mentions;
  };
  auto jacobian = [&](json body) {
    return json{{"type", "jacobian"}, {"run", run}, {"body", std::move(body)}};
  };
  auto evaluate = [&](json op) {
    return json{{"type", "evaluate"}, {"run", run}, {"body", {{"plan", json::array({op})}}}};
  };
  const std::vector<Case> cases = {
      // 2^40 was answered for position 0; 2^32 too.
      {jacobian({{"position", 1099511627776}}), "bad_field", "body.position=1099511627776"},
      {jacobian({{"position", 4294967296}}), "bad_field", "body.position=4294967296"},
      {jacobian({{"position", 2}}), "bad_field", "0..1"},
      // 10^12 was refused as "-727379968".
      {jacobian({{"position", 0}, {"samples", 1000000000000}}), "bad_field",
       "body.samples=1000000000000 out of range; an integer in 1..1024"},
      {jacobian({{"position", 0}, {"samples", 4294967297}}), "bad_field", "4294967297"},
      {jacobian({{"position", 1.0}}), "bad_field", "body.position=1.0 must be"},
      {jacobian({{"position", 1e12}}), "bad_field", "body.position"},
      {jacobian({{"position", "0"}}), "bad_field", "body.position=\"0\""},
      {jacobian({{"position", -1}}), "bad_field", "body.position=-1"},
      {jacobian({{"position", true}}), "bad_field", "body.position=true"},
      {jacobian({{"position", 0}, {"checkpoint_step", uint64_t(18446744073709551615ull)}}),
       "bad_field", "body.checkpoint_step=18446744073709551615 out of range"},
      {evaluate({{"op", "skip"}, {"position", 4294967296}}), "bad_field",
       "body.plan[0].position=4294967296"},
      {evaluate({{"op", "swap"}, {"i", 0}, {"j", 4294967297}}), "bad_field",
       "body.plan[0].j=4294967297"},
      {evaluate({{"op", "linear"}, {"position", 1099511627776}}), "bad_field",
       "body.plan[0].position=1099511627776"},
      {evaluate({{"op", "skip"}, {"position", 0.5}}), "bad_field", "body.plan[0].position=0.5"},
      {{{"type", "start"}, {"body", {{"preset", "tiny"}, {"ranks", 4294967297}}}},
       "bad_field",
       "body.ranks=4294967297"},
      {{{"type", "subscribe"},
        {"run", run},
        {"body", {{"from_seq", uint64_t(18446744073709551615ull)}}}},
       "bad_field",
       "body.from_seq=18446744073709551615"},
  };
  for (const Case& k : cases) {
    const json e = c.request(k.message, "", 60000);
    EXPECT_EQ(e.value("type", ""), "error") << k.message.dump() << " -> " << e.dump();
    EXPECT_EQ(e["body"].value("code", ""), k.code) << e.dump();
    const std::string text = e["body"].value("message", "");
    EXPECT_NE(text.find(k.mentions), std::string::npos) << k.message.dump() << " -> " << text;
    EXPECT_EQ(text.find("-727379968"), std::string::npos) << text;
  }
  // The envelope's id too (it is refused, not wrapped to -1).
  c.send_raw(R"({"v":1,"type":"ping","id":18446744073709551615})");
  const json bad_id = c.await("error");
  EXPECT_EQ(bad_id["body"]["code"], "bad_envelope") << bad_id.dump();
  EXPECT_NE(bad_id["body"]["message"].get<std::string>().find("18446744073709551615"),
            std::string::npos);
  // A valid position is still answered, for that position.
  const json ok = c.request(jacobian({{"position", 1}, {"samples", 2}}), "", 60000);
  ASSERT_EQ(ok.value("type", ""), "jacobian") << ok.dump();
  EXPECT_EQ(ok["body"]["position"], 1);
  expect_serving(server);
}

// ---- hostile config values: refused, and the server goes on -----------------

TEST(ServeHardening, HostileConfigValuesAreRefusedAndTheServerGoesOn) {
  const fs::path dir = test_dir("hostile");
  ServerProcess server((dir / "runs").string(), kToken);
  ASSERT_FALSE(server.url().isEmpty());
  const std::string nul_a = std::string("a") + '\0' + "b";
  const std::string nul_dots = std::string("..") + '\0' + "x";
  struct Case {
    json body;
    std::string field;
  };
  auto set = [](const std::string& s) {
    return json{{"preset", "tiny"}, {"set", json::array({s})}};
  };
  const std::vector<Case> cases = {
      {set("model.n_heads=2147483647"), "model.n_heads"},
      {set("run.name=" + nul_a), "run.name"},
      {set("run.name=" + nul_dots), "run.name"},
      {set("train.threads=100000"), "train.threads"},
      {set("model.n_layers=1000000"), "model.n_layers"},
      {set("train.eval_batches=2000000000"), "train.eval_batches"},
      {{{"config", {{"run", {{"name", nul_a}}}}}}, "run.name"},
      {{{"config", {{"model", {{"n_heads", 2147483647}}}}}}, "model.n_heads"},
      {{{"config", {{"model", {{"n_layers", 1099511627776}}}}}}, "model.n_layers"},
  };
  for (const Case& k : cases) {
    Client c;
    ASSERT_TRUE(c.open(server.url()));
    ASSERT_TRUE(c.hello(kToken));
    const json e = c.request({{"type", "start"}, {"body", k.body}}, "", 60000);
    EXPECT_EQ(e["body"].value("code", ""), "invalid_config") << k.body.dump() << " -> " << e.dump();
    EXPECT_EQ(fields_of(e).count(k.field), 1u) << k.body.dump() << " -> " << e.dump();
    expect_serving(server);  // on another connection
  }
  // And it still trains.
  Client c;
  ASSERT_TRUE(c.open(server.url()));
  ASSERT_TRUE(c.hello(kToken));
  const json started = start_tiny(c, {"run.name=after", "train.steps=10"});
  ASSERT_EQ(started.value("type", ""), "started") << started.dump();
  EXPECT_TRUE(reaches(c, "after", "finished", 60000));
}

// ---- 4: under a 2 GiB address-space limit, nothing allocates until it dies ----

TEST(ServeHardening, UnderA2GiBLimitTooLargeStartsAndCheckpointsAreRefused) {
  const fs::path dir = test_dir("prlimit");
  ServerProcess server((dir / "runs").string(), kToken, {}, int64_t(2) << 30);
  ASSERT_FALSE(server.url().isEmpty()) << server.stderr_text();
  Client c;
  ASSERT_TRUE(c.open(server.url()));
  ASSERT_TRUE(c.hello(kToken));
  // Within every field's bound, but far beyond 2 GiB: refused by the estimate.
  for (const std::vector<std::string>& set : std::vector<std::vector<std::string>>{
           {"model.d_ff=1048576"},
           {"model.n_layers=1024", "model.d_model=4096", "model.n_heads=32", "model.n_kv_heads=32"},
           {"train.batch_size=65536"}}) {
    const json e = start_tiny(c, set);
    ASSERT_TRUE(e.is_object() && e["body"].is_object()) << e.dump();
    EXPECT_EQ(e["body"].value("code", ""), "invalid_config") << e.dump();
    EXPECT_NE(messages_of(e).find("the run needs about"), std::string::npos) << e.dump();
    expect_serving(server);
  }
  // A checkpoint whose config asks for a huge model (a damaged or hostile
  // file, sealed again so that it passes the integrity check): every request
  // that would load it is refused, and the server goes on.
  const std::string run = finished_run(c, "small");
  ASSERT_FALSE(run.empty());
  const fs::path ckpt = dir / "runs" / run / "checkpoints" / "step-6.h5";
  CheckpointData data = checkpoint_read(ckpt);
  json config = json::parse(data.config_json);
  config["model"]["d_ff"] = 1048576;
  data.config_json = config.dump();
  checkpoint_write(ckpt, data);
  json evaluate = {{"type", "evaluate"}, {"run", run}};
  evaluate["body"]["plan"] = json::array({json{{"op", "skip"}, {"position", 0}}});
  json jacobian = {{"type", "jacobian"}, {"run", run}};
  jacobian["body"]["position"] = 0;
  for (const json& request : {evaluate, jacobian}) {
    const json e = c.request(request, "", 60000);
    ASSERT_TRUE(e.is_object() && e["body"].is_object()) << e.dump();
    EXPECT_EQ(e.value("type", ""), "error") << e.dump();
    EXPECT_NE(messages_of(e).find("needs about"), std::string::npos) << e.dump();
    expect_serving(server);
  }
}

// ---- --max-runs and --max-ranks --------------------------------------------

TEST(ServeHardening, MaxRunsAndMaxRanksCapWhatTrainsAtOnce) {
  const fs::path dir = test_dir("caps");
  ServerProcess server((dir / "runs").string(), kToken, {"--max-runs", "2", "--max-ranks", "3"});
  ASSERT_FALSE(server.url().isEmpty());
  Client c;
  ASSERT_TRUE(c.open(server.url()));
  ASSERT_TRUE(c.hello(kToken));
  const json limits = c.request({{"type", "server_info"}}, "server_info")["body"]["limits"];
  EXPECT_EQ(limits["max_runs"], 2) << limits.dump();
  EXPECT_EQ(limits["max_ranks"], 3) << limits.dump();
  const std::vector<std::string> endless = {"train.steps=1000000", "train.checkpoint_every=0"};
  auto start = [&](const std::string& name, int ranks = 1) {
    std::vector<std::string> set = endless;
    set.push_back("run.name=" + name);
    return c.request(
        {{"type", "start"}, {"body", {{"preset", "tiny"}, {"set", set}, {"ranks", ranks}}}}, "",
        60000);
  };
  ASSERT_EQ(start("a").value("type", ""), "started");
  ASSERT_EQ(start("b").value("type", ""), "started");
  c.request({{"type", "subscribe"}, {"run", "a"}}, "subscribed");
  const json third = start("c");
  EXPECT_EQ(third["body"].value("code", ""), "busy") << third.dump();
  EXPECT_NE(third["body"].value("message", "").find("--max-runs"), std::string::npos);
  // More ranks than one run may have: a field error.
  const json wide = start("w", 4);
  EXPECT_EQ(wide["body"].value("code", ""), "bad_field") << wide.dump();
  EXPECT_NE(wide["body"].value("message", "").find("1..3"), std::string::npos) << wide.dump();
  // The live runs were not affected: a keeps streaming.
  const size_t seen = c.telemetry().size();
  EXPECT_TRUE(wait_until([&] { return c.telemetry().size() > seen + 3; }, 20000));

  // One run ended: room for one more run, but not for 3 more ranks (b holds 1).
  c.request({{"type", "stop"}, {"run", "a"}}, "ok");
  ASSERT_TRUE(reaches(c, "a", "stopped", 60000));
  const json ranks = start("r", 3);
  EXPECT_EQ(ranks["body"].value("code", ""), "busy") << ranks.dump();
  EXPECT_NE(ranks["body"].value("message", "").find("--max-ranks"), std::string::npos);
  const json again = start("c");
  EXPECT_EQ(again.value("type", ""), "started") << again.dump();
  // b and the new c train (list_runs shows a run once its run.h5 exists).
  json runs;
  EXPECT_TRUE(wait_until(
      [&] {
        runs = c.request({{"type", "list_runs"}}, "runs");
        int running = 0;
        for (const json& r : runs["body"]["runs"]) running += r["state"] == "running" ? 1 : 0;
        return running == 2;
      },
      20000))
      << runs.dump();
}

// ---- long evaluations and shutdown ------------------------------------------

// An evaluation of 100000 batches (the most train.eval_batches allows) takes
// minutes; `stop` ends it in seconds, and so does SIGTERM.
TEST(ServeHardening, ALongEvaluationStopsOnStopAndOnShutdown) {
  const fs::path dir = test_dir("longeval");
  auto server = std::make_unique<ServerProcess>((dir / "runs").string(), kToken);
  ASSERT_FALSE(server->url().isEmpty());
  Client c;
  ASSERT_TRUE(c.open(server->url()));
  ASSERT_TRUE(c.hello(kToken));
  auto start_evaluating = [&](const std::string& name) {
    const json started =
        start_tiny(c, {"run.name=" + name, "train.steps=1000", "train.eval_every=1000",
                       "train.eval_batches=100000", "train.batch_size=32", "data.seq_len=64"});
    EXPECT_EQ(started.value("type", ""), "started") << started.dump();
    c.request({{"type", "subscribe"}, {"run", name}}, "subscribed");
    // The untrained model's evaluation (step 0) comes first and holds the
    // run: no training step is streamed while it lasts.
    QTest::qWait(2000);
    for (const json& m : c.telemetry()) {
      if (m["run"] == name) EXPECT_LT(m["body"]["steps"].back()["step"].get<int64_t>(), 1);
    }
  };
  start_evaluating("e1");
  const auto t0 = Clock::now();
  EXPECT_EQ(c.request({{"type", "stop"}, {"run", "e1"}}, "ok")["body"]["state"], "stopping");
  EXPECT_TRUE(reaches(c, "e1", "stopped", 20000)) << "stop waited for the evaluation";
  std::cerr << "stopped in " << std::chrono::duration<double>(Clock::now() - t0).count() << " s\n";

  start_evaluating("e2");
  const auto t1 = Clock::now();
  EXPECT_TRUE(server->terminate_and_wait(20000)) << "shutdown waited for the evaluation";
  std::cerr << "shut down in " << std::chrono::duration<double>(Clock::now() - t1).count()
            << " s\n";
}

// An analysis running when the server is told to stop is cancelled: the
// process exits in seconds, not when the analysis would have ended.
TEST(ServeHardening, ShutdownCancelsARunningAnalysis) {
  const fs::path dir = test_dir("cancel");
  auto server = std::make_unique<ServerProcess>((dir / "runs").string(), kToken);
  ASSERT_FALSE(server->url().isEmpty());
  Client c;
  ASSERT_TRUE(c.open(server->url()));
  ASSERT_TRUE(c.hello(kToken));
  const std::string run = finished_run(c, "big", 128, 8);
  c.send({{"v", 1}, {"type", "analyze"}, {"id", 77}, {"run", run}, {"body", {{"samples", 1024}}}});
  ASSERT_FALSE(c.await("analysis_progress", 77, 60000).is_null());
  QTest::qWait(500);
  const auto t0 = Clock::now();
  EXPECT_TRUE(server->terminate_and_wait(10000)) << "shutdown waited for the analysis";
  std::cerr << "shut down in " << std::chrono::duration<double>(Clock::now() - t0).count()
            << " s\n";
}

}  // namespace
}  // namespace dlab::test
