// Every typed request of dlab_client against a real `dlab serve` (the
// dlab binary, 127.0.0.1, a token): server_info, start (refused with its
// fields, then accepted), list_runs, pause / resume / stop, evaluate,
// analyze (progress, then a result whose arrays decode through the codec to
// what the worker stored, Jacobian matrices included) and jacobian, each reply
// checked field by field, and the errors a panel shows.
#include <gtest/gtest.h>

#include <QJsonArray>
#include <QJsonDocument>
#include <cmath>
#include <cstring>
#include <optional>

#include "client_test_util.h"
#include "store/analysis_codec.h"
#include "store/analysis_file.h"
#include "store/run_file.h"
#include "worker_client.h"

namespace dlab::test {
namespace {

using client::Reply;
using client::WorkerClient;

constexpr char kToken[] = "client-test-token";

// Sends one request through `send` and waits for its reply.
template <class T, class Send>
Reply<T> await_reply(Send send, int timeout_ms = 120000) {
  std::optional<Reply<T>> got;
  send([&](const Reply<T>& r) { got = r; });
  EXPECT_TRUE(wait_until([&] { return got.has_value(); }, timeout_ms)) << "no reply";
  return got.value_or(Reply<T>{});
}

const Array* array_named(const AnalysisFileData& d, const std::string& name) {
  for (const Array& a : d.arrays)
    if (a.name == name) return &a;
  return nullptr;
}

class ClientRequests : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = client_test_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    server_ = std::make_unique<ServerProcess>((dir_ / "runs").string(), kToken);
    ASSERT_FALSE(server_->url().isEmpty()) << server_->stderr_text();
    QObject::connect(&client_, &WorkerClient::runState,
                     [this](const QString& run, const client::RunState& s) { states_[run] = s; });
    client_.connectTo(QUrl(server_->url()), kToken);
    ASSERT_TRUE(
        wait_until([&] { return client_.state() == WorkerClient::State::Connected; }, 20000));
  }

  // Starts `preset` with `sets` and waits for `started`.
  Reply<client::Started> start(const QStringList& sets) {
    client::StartRequest r;
    r.preset = "tiny";
    r.sets = sets;
    return await_reply<client::Started>([&](auto h) { client_.start(r, nullptr, h); });
  }

  bool wait_state(const QString& run, const QString& state, int timeout_ms = 120000) {
    return wait_until([&] { return states_.count(run) && states_[run].state == state; },
                      timeout_ms);
  }

  std::filesystem::path dir_;
  std::unique_ptr<ServerProcess> server_;
  WorkerClient client_;
  std::map<QString, client::RunState> states_;
};

TEST_F(ClientRequests, ServerInfoStartAndRunControl) {
  const client::ServerInfo& info = client_.serverInfo();
  EXPECT_TRUE(info.server.startsWith("dlab ")) << info.server.toStdString();
  EXPECT_TRUE(info.presets.contains("tiny"));
  ASSERT_FALSE(info.devices.empty());
  EXPECT_EQ(info.devices[0].name, "cpu");
  EXPECT_EQ(info.devices[0].kind, "cpu");
  EXPECT_TRUE(info.devices[0].usable);
  EXPECT_GT(info.devices[0].threads, 0);
  EXPECT_GT(info.devices[0].memory_bytes, 0);
  EXPECT_FALSE(info.runs_dir.isEmpty());
  ASSERT_FALSE(info.data_dirs.isEmpty());

  // Refused: the error names each field, nothing is started.
  const auto refused = start({"run.name=bad", "model.n_heads=3"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error.code, "invalid_config");
  ASSERT_FALSE(refused.error.fields.empty());
  bool named = false;
  for (const client::FieldProblem& f : refused.error.fields)
    named = named || (f.field == "model.n_heads" && f.message.contains("n_heads=3"));
  EXPECT_TRUE(named) << refused.error.fields[0].field.toStdString() << ": "
                     << refused.error.fields[0].message.toStdString();

  const auto started = start({"run.name=long", "train.steps=5000", "train.checkpoint_every=0"});
  ASSERT_TRUE(started.ok()) << started.error.message.toStdString();
  const QString run = started.value.run;
  EXPECT_EQ(run, "long");
  EXPECT_EQ(started.value.total_steps, 5000);
  EXPECT_EQ(started.value.ranks, 1);
  EXPECT_TRUE(started.value.dir.endsWith("long")) << started.value.dir.toStdString();
  EXPECT_EQ(started.value.config.value("train").toObject().value("steps").toInt(), 5000);
  int64_t streamed = -1;  // the last step the telemetry carried
  QObject::connect(&client_, &WorkerClient::telemetry, [&](const client::TelemetryBatch& b) {
    if (!b.stamps.empty()) streamed = b.stamps.back().step;
  });
  client_.subscribe(run);
  ASSERT_TRUE(wait_until([&] { return streamed >= 3; }, 60000));  // it trains

  auto control = [&](client::RunControl what, const QString& name) {
    return await_reply<client::RunControlled>(
        [&](auto h) { client_.control(what, name, nullptr, h); });
  };
  const auto paused = control(client::RunControl::Pause, run);
  ASSERT_TRUE(paused.ok()) << paused.error.message.toStdString();
  EXPECT_EQ(paused.value.state, "paused");
  ASSERT_TRUE(wait_state(run, "paused"));
  const auto resumed = control(client::RunControl::Resume, run);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed.value.state, "running");
  const auto stopping = control(client::RunControl::Stop, run);
  ASSERT_TRUE(stopping.ok());
  EXPECT_EQ(stopping.value.state, "stopping");
  ASSERT_TRUE(wait_state(run, "stopped"));
  EXPECT_GE(states_[run].step, streamed);
  EXPECT_EQ(states_[run].total_steps, 5000);

  // The errors a panel shows: an ended run, a run this server never started.
  const auto late = control(client::RunControl::Pause, run);
  EXPECT_EQ(late.error.code, "conflict") << late.error.message.toStdString();
  const auto unknown = control(client::RunControl::Stop, "no-such-run");
  EXPECT_EQ(unknown.error.code, "not_found") << unknown.error.message.toStdString();

  const auto runs =
      await_reply<std::vector<client::RunEntry>>([&](auto h) { client_.listRuns(nullptr, h); });
  ASSERT_TRUE(runs.ok());
  const client::RunEntry* e = client::run_find(runs.value, run);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state, "stopped");
  EXPECT_EQ(e->step, states_[run].step);
  ASSERT_EQ(e->checkpoints.size(), 1u);  // the one written when it stopped
  EXPECT_EQ(client::run_find(runs.value, "bad"), nullptr);
}

// continue: an ended run trains on from its newest checkpoint, in its own
// directory and under its own name, to the larger train.steps it is given; its
// run.h5 then holds every step once. A live run, an unknown one or a bad
// override is refused with the reason.
TEST_F(ClientRequests, ContinueTrainsAnEndedRunFurtherFromItsCheckpoint) {
  const auto started = start({"run.name=cont", "train.steps=12", "train.checkpoint_every=6"});
  ASSERT_TRUE(started.ok()) << started.error.message.toStdString();
  client_.subscribe("cont");
  ASSERT_TRUE(wait_state("cont", "finished"));
  EXPECT_EQ(states_["cont"].step, 12);

  auto continue_run = [&](const QString& run, const QStringList& sets) {
    return await_reply<client::Started>(
        [&](auto h) { client_.continueRun(run, sets, nullptr, h); });
  };
  const auto more = continue_run("cont", {"train.steps=24"});
  ASSERT_TRUE(more.ok()) << more.error.message.toStdString();
  EXPECT_EQ(more.value.run, "cont");
  EXPECT_EQ(more.value.dir, started.value.dir);
  EXPECT_EQ(more.value.total_steps, 24);
  EXPECT_EQ(more.value.config.value("train").toObject().value("steps").toInt(), 24);
  client_.subscribe("cont");
  ASSERT_TRUE(wait_until(
      [&] { return states_["cont"].state == "finished" && states_["cont"].step == 24; }, 120000))
      << states_["cont"].state.toStdString() << " at " << states_["cont"].step;
  const SeriesData loss =
      RunReader::open(std::filesystem::path(started.value.dir.toStdString()) / "run.h5")
          .read("loss");
  ASSERT_EQ(loss.steps.size(), 24u);
  for (size_t k = 0; k < loss.steps.size(); ++k) EXPECT_EQ(loss.steps[k], int64_t(k + 1));

  // Refused: a bad override (field named), a new name, an unknown run, a run still training.
  const auto bad = continue_run("cont", {"train.steps=30", "model.n_heads=3"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error.code, "invalid_config");
  ASSERT_FALSE(bad.error.fields.empty());
  EXPECT_TRUE(bad.error.fields[0].message.contains("n_heads=3"))
      << bad.error.fields[0].message.toStdString();
  const auto renamed = continue_run("cont", {"run.name=other"});
  EXPECT_EQ(renamed.error.code, "bad_field") << renamed.error.message.toStdString();
  const auto unknown = continue_run("no-such-run", {});
  EXPECT_EQ(unknown.error.code, "not_found") << unknown.error.message.toStdString();
  const auto longer = continue_run("cont", {"train.steps=100000", "train.checkpoint_every=0"});
  ASSERT_TRUE(longer.ok()) << longer.error.message.toStdString();
  const auto again = continue_run("cont", {"train.steps=200000"});
  EXPECT_EQ(again.error.code, "conflict") << again.error.message.toStdString();
  EXPECT_TRUE(again.error.message.contains("running")) << again.error.message.toStdString();
  client_.subscribe("cont");
  ASSERT_TRUE(await_reply<client::RunControlled>([&](auto h) {
                client_.control(client::RunControl::Stop, "cont", nullptr, h);
              }).ok());
  ASSERT_TRUE(wait_state("cont", "stopped"));
}

TEST_F(ClientRequests, EvaluateAnalyzeAndJacobianOfACheckpoint) {
  const auto started = start({"run.name=ev", "train.steps=30", "train.checkpoint_every=15"});
  ASSERT_TRUE(started.ok()) << started.error.message.toStdString();
  const QString run = started.value.run;
  const QJsonObject model = started.value.config.value("model").toObject();
  const int L = model.value("n_layers").toInt();
  const int d = model.value("d_model").toInt();
  ASSERT_GE(L, 2);
  client_.subscribe(run);
  ASSERT_TRUE(wait_state(run, "finished"));

  const auto runs =
      await_reply<std::vector<client::RunEntry>>([&](auto h) { client_.listRuns(nullptr, h); });
  ASSERT_TRUE(runs.ok());
  ASSERT_NE(client::run_find(runs.value, run), nullptr);
  EXPECT_EQ(client::run_find(runs.value, run)->checkpoints, (std::vector<int64_t>{15, 30}));

  auto evaluate = [&](std::vector<client::LayerOp> plan, int64_t step) {
    client::EvaluateRequest r;
    r.plan = std::move(plan);
    r.checkpoint_step = step;
    r.samples = 4;
    return await_reply<client::Evaluation>([&](auto h) { client_.evaluate(run, r, nullptr, h); });
  };
  const auto intact = evaluate({}, 30);
  ASSERT_TRUE(intact.ok()) << intact.error.message.toStdString();
  EXPECT_EQ(intact.value.checkpoint_step, 30);
  EXPECT_EQ(intact.value.samples, 4);
  EXPECT_TRUE(std::isfinite(intact.value.base_loss));
  EXPECT_DOUBLE_EQ(intact.value.delta_loss, 0.0);
  EXPECT_DOUBLE_EQ(intact.value.loss, intact.value.base_loss);
  ASSERT_EQ(intact.value.hidden_change.size(), size_t(L + 1));

  const auto skipped = evaluate({client::LayerOp::skip(1)}, 15);
  ASSERT_TRUE(skipped.ok()) << skipped.error.message.toStdString();
  EXPECT_EQ(skipped.value.checkpoint_step, 15);
  EXPECT_NE(skipped.value.delta_loss, 0.0);
  EXPECT_NEAR(skipped.value.loss - skipped.value.base_loss, skipped.value.delta_loss, 1e-9);
  ASSERT_EQ(skipped.value.hidden_change.size(), size_t(L + 1));
  EXPECT_DOUBLE_EQ(skipped.value.hidden_change[0], 0.0);  // before the skipped block
  EXPECT_DOUBLE_EQ(skipped.value.hidden_change[1], 0.0);
  EXPECT_GT(skipped.value.hidden_change[2], 0.0);  // after it

  const auto swapped = evaluate({client::LayerOp::swap(0, 1)}, 30);
  ASSERT_TRUE(swapped.ok()) << swapped.error.message.toStdString();
  EXPECT_NEAR(swapped.value.base_loss, intact.value.base_loss, 1e-9);

  const auto outside = evaluate({client::LayerOp::skip(L)}, 30);
  EXPECT_EQ(outside.error.code, "bad_field");
  EXPECT_TRUE(outside.error.message.contains("position")) << outside.error.message.toStdString();

  // analyze: progress first, then the result; its arrays decode to what the worker stored.
  std::vector<client::AnalysisProgress> progress;
  client::AnalyzeRequest ar;
  ar.analyses = {"jacobian", "summaries"};
  ar.checkpoint_step = 30;
  ar.samples = 4;
  const auto analysed = await_reply<client::AnalysisResult>([&](auto h) {
    client_.analyze(
        run, ar, nullptr, [&](const client::AnalysisProgress& p) { progress.push_back(p); }, h);
  });
  ASSERT_TRUE(analysed.ok()) << analysed.error.message.toStdString();
  ASSERT_FALSE(progress.empty());
  EXPECT_FALSE(progress.front().stage.isEmpty());
  for (const auto& p : progress) EXPECT_TRUE(p.fraction >= 0 && p.fraction <= 1) << p.fraction;
  EXPECT_EQ(analysed.value.checkpoint_step, 30);
  EXPECT_EQ(analysed.value.samples, 4);
  EXPECT_FALSE(analysed.value.result.isEmpty());
  ASSERT_TRUE(std::filesystem::exists(analysed.value.stored.toStdString()))
      << analysed.value.stored.toStdString();
  const AnalysisFileData from_reply = analysis_file_from_json(
      QJsonDocument(analysed.value.arrays).toJson(QJsonDocument::Compact).toStdString());
  const AnalysisFileData from_file = analysis_file_read(analysed.value.stored.toStdString());
  EXPECT_EQ(from_reply.step, 30);
  for (int l = 0; l < L; ++l) {
    const std::string name = "jacobian/" + std::to_string(l);
    const Array* a = array_named(from_reply, name);
    const Array* b = array_named(from_file, name);
    ASSERT_NE(a, nullptr) << name;
    ASSERT_NE(b, nullptr) << name;
    EXPECT_EQ(a->shape, (std::vector<int64_t>{d, d})) << name;
    EXPECT_EQ(a->shape, b->shape) << name;
    EXPECT_EQ(a->bytes, b->bytes) << name;
  }

  // jacobian: block 1's d x d matrix, the same as the analysis stored.
  client::JacobianRequest jr;
  jr.position = 1;
  jr.checkpoint_step = 30;
  jr.samples = 4;
  const auto jac =
      await_reply<client::Jacobian>([&](auto h) { client_.jacobian(run, jr, nullptr, h); });
  ASSERT_TRUE(jac.ok()) << jac.error.message.toStdString();
  EXPECT_EQ(jac.value.position, 1);
  EXPECT_EQ(jac.value.checkpoint_step, 30);
  EXPECT_EQ(jac.value.rows, d);
  EXPECT_EQ(jac.value.cols, d);
  ASSERT_EQ(jac.value.values.size(), size_t(d) * size_t(d));
  const Array* stored = array_named(from_file, "jacobian/1");
  ASSERT_NE(stored, nullptr);
  ASSERT_EQ(stored->bytes.size(), jac.value.values.size() * sizeof(float));
  std::vector<float> stored_values(jac.value.values.size());
  std::memcpy(stored_values.data(), stored->bytes.data(), stored->bytes.size());
  for (size_t i = 0; i < stored_values.size(); ++i)
    ASSERT_NEAR(jac.value.values[i], stored_values[i], 1e-5f * (1 + std::fabs(stored_values[i])))
        << "entry " << i;

  jr.position = L;
  const auto bad =
      await_reply<client::Jacobian>([&](auto h) { client_.jacobian(run, jr, nullptr, h); });
  EXPECT_EQ(bad.error.code, "bad_field");
}

}  // namespace
}  // namespace dlab::test
