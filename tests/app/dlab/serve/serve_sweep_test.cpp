// Sweeps owned by the server (docs/protocol.md, "sweep"): queued in dlab
// serve, not in the client that asked. The real dlab binary, a raw client.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "serve_test_client.h"
#include "store/run_file.h"
#include "test_dir.h"

namespace dlab::test {
namespace {

namespace fs = std::filesystem;
const std::string kToken = "sweep-token";

json sweep_request(Client& c, const std::vector<std::string>& set, const std::string& sweep) {
  return c.request(
      {{"type", "sweep"}, {"body", {{"preset", "tiny"}, {"set", set}, {"sweep", sweep}}}}, "",
      60000);
}

// The sweep `id` as list_sweeps shows it (null when not listed).
json listed_sweep(Client& c, const std::string& id) {
  const json list = c.request({{"type", "list_sweeps"}}, "sweeps");
  for (const json& s : list["body"]["sweeps"])
    if (s["sweep"] == id) return s;
  return nullptr;
}

int live_members(const json& sweep) {
  int n = 0;
  for (const json& m : sweep["members"]) n += m["state"] == "running" || m["state"] == "paused";
  return n;
}

// Must-show of the GUI issue: a sweep started through the server survives the
// client disconnecting and finishes all its runs, one after another.
TEST(ServeSweep, ASweepSurvivesItsClientDisconnectingAndFinishesEveryRun) {
  const fs::path dir = test_dir_fresh("serve", "sweep_survives");
  ServerProcess server((dir / "runs").string(), kToken);
  ASSERT_FALSE(server.url().isEmpty());
  std::string id;
  {
    Client a;
    ASSERT_TRUE(a.open(server.url()));
    ASSERT_TRUE(a.hello(kToken));
    const json queued = sweep_request(a, {"run.name=sw", "train.steps=8", "train.eval_every=4"},
                                      "model.n_layers=1,2,3");
    ASSERT_EQ(queued.value("type", ""), "sweep_queued") << queued.dump();
    const json& body = queued["body"];
    id = body["sweep"].get<std::string>();
    EXPECT_EQ(body["key"], "model.n_layers");
    EXPECT_EQ(body["state"], "running");
    ASSERT_EQ(body["members"].size(), 3u) << body.dump();
    EXPECT_EQ(body["members"][0]["name"], "sw-n_layers1");
    EXPECT_EQ(body["members"][0]["value"], "1");
    EXPECT_EQ(body["members"][0]["state"], "running");  // the first run starts at once
    EXPECT_EQ(body["members"][0]["run"], "sw-n_layers1");
    EXPECT_EQ(body["members"][1]["state"], "queued");
    EXPECT_EQ(body["members"][2]["value"], "3");
    a.close();  // the client that asked goes away at once
  }
  Client b;
  ASSERT_TRUE(b.open(server.url()));
  ASSERT_TRUE(b.hello(kToken));
  json sweep;
  ASSERT_TRUE(wait_until(
      [&] {
        sweep = listed_sweep(b, id);
        return !sweep.is_null() && sweep["state"] == "finished";
      },
      180000))
      << sweep.dump() << "\n"
      << server.stderr_text();
  for (const json& m : sweep["members"]) EXPECT_EQ(m["state"], "finished") << sweep.dump();
  // Every sweep_state b was sent (one per change) had at most one run training.
  int snapshots = 0;
  for (const json& m : b.control()) {
    if (m.value("type", "") != "sweep_state") continue;
    ++snapshots;
    EXPECT_LE(live_members(m["body"]), 1) << m.dump();
  }
  EXPECT_GE(snapshots, 1);
  // Each run trained its own depth to the end, and the run list says so
  // from summary.json (step, losses) without the server opening run.h5.
  const json runs = b.request({{"type", "list_runs"}}, "runs")["body"]["runs"];
  ASSERT_EQ(runs.size(), 3u) << runs.dump();
  for (int l = 1; l <= 3; ++l) {
    const std::string name = "sw-n_layers" + std::to_string(l);
    const RunReader reader = RunReader::open(dir / "runs" / name / "run.h5");
    EXPECT_EQ(reader.status(), "finished") << name;
    EXPECT_EQ(reader.read("resid_var").width, l) << name;
    const json& r = runs[size_t(l - 1)];
    EXPECT_EQ(r["name"], name);
    ASSERT_TRUE(r.contains("summary")) << r.dump();
    EXPECT_EQ(r["summary"]["status"], "finished") << r.dump();
    EXPECT_EQ(r["summary"]["step"], 8) << r.dump();
    EXPECT_EQ(r["summary"]["total_steps"], 8) << r.dump();
    EXPECT_TRUE(r["summary"]["loss"].is_number()) << r.dump();
    EXPECT_TRUE(r["summary"]["val_loss"].is_number()) << r.dump();
  }
}

TEST(ServeSweep, ASweepIsCheckedWholeBeforeAnythingStartsAndCanBeCancelled) {
  const fs::path dir = test_dir_fresh("serve", "sweep_cancel");
  ServerProcess server((dir / "runs").string(), kToken);
  ASSERT_FALSE(server.url().isEmpty());
  Client c;
  ASSERT_TRUE(c.open(server.url()));
  ASSERT_TRUE(c.hello(kToken));

  // A value that fails validation refuses the whole sweep, naming the run.
  const json bad = sweep_request(c, {"run.name=bad"}, "model.n_heads=4,3");
  ASSERT_EQ(bad["body"].value("code", ""), "invalid_config") << bad.dump();
  ASSERT_FALSE(bad["body"]["fields"].empty()) << bad.dump();
  bool names_heads = false;
  for (const json& f : bad["body"]["fields"]) {  // the n_heads=3 run only
    names_heads = names_heads || f["field"] == "model.n_heads";
    EXPECT_EQ(f["message"].get<std::string>().rfind("bad-n_heads3: ", 0), 0u) << bad.dump();
  }
  EXPECT_TRUE(names_heads) << bad.dump();
  // A malformed sweep or too many values: bad_field, naming body.sweep.
  const json form = sweep_request(c, {}, "model.n_layers");
  EXPECT_EQ(form["body"].value("code", ""), "bad_field") << form.dump();
  EXPECT_NE(form["body"].value("message", "").find("body.sweep"), std::string::npos);
  std::string many = "train.seed=";
  for (int i = 0; i < 65; ++i) many += (i ? "," : "") + std::to_string(i);
  const json wide = sweep_request(c, {}, many);
  EXPECT_EQ(wide["body"].value("code", ""), "bad_field") << wide.dump();
  EXPECT_NE(wide["body"].value("message", "").find("at most 64"), std::string::npos);
  EXPECT_TRUE(c.request({{"type", "list_sweeps"}}, "sweeps")["body"]["sweeps"].empty());

  // Cancel: the training run stops (with a checkpoint), the queued ones never start.
  const json queued = sweep_request(
      c, {"run.name=long", "train.steps=1000000", "train.checkpoint_every=0"}, "train.seed=1,2,3");
  ASSERT_EQ(queued.value("type", ""), "sweep_queued") << queued.dump();
  const std::string id = queued["body"]["sweep"];
  c.request({{"type", "subscribe"}, {"run", "long-seed1"}}, "subscribed");
  ASSERT_TRUE(wait_until([&] { return c.telemetry().size() >= 2; }, 60000));
  const json cancelled = c.request({{"type", "cancel_sweep"}, {"body", {{"sweep", id}}}}, "");
  ASSERT_EQ(cancelled.value("type", ""), "ok") << cancelled.dump();
  EXPECT_EQ(cancelled["body"]["state"], "cancelled");
  json sweep;
  ASSERT_TRUE(wait_until(
      [&] {
        sweep = listed_sweep(c, id);
        return sweep["state"] == "cancelled";
      },
      60000))
      << sweep.dump();
  EXPECT_EQ(sweep["members"][0]["state"], "stopped") << sweep.dump();
  EXPECT_EQ(sweep["members"][1]["state"], "cancelled") << sweep.dump();
  EXPECT_EQ(sweep["members"][2]["state"], "cancelled") << sweep.dump();
  EXPECT_FALSE(sweep["members"][1].contains("run")) << sweep.dump();
  EXPECT_TRUE(fs::exists(dir / "runs" / "long-seed1" / "run.h5"));
  EXPECT_FALSE(fs::exists(dir / "runs" / "long-seed2"));
  EXPECT_FALSE(fs::exists(dir / "runs" / "long-seed3"));
  const json again = c.request({{"type", "cancel_sweep"}, {"body", {{"sweep", id}}}}, "");
  EXPECT_EQ(again["body"].value("code", ""), "conflict") << again.dump();
  const json unknown = c.request({{"type", "cancel_sweep"}, {"body", {{"sweep", "sweep-99"}}}}, "");
  EXPECT_EQ(unknown["body"].value("code", ""), "not_found") << unknown.dump();
}

}  // namespace
}  // namespace dlab::test
