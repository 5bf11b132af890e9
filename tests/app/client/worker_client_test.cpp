// The protocol client (dlab_client): telemetry decoding (CBOR, as the
// worker sends it), and WorkerClient + LocalWorker against a real `dlab serve`
// child process: the token, a run's telemetry, a reconnect that resumes with
// no gap and no duplicate, and a refused token that does not retry.
#include "worker_client.h"

#include <gtest/gtest.h>

#include <QCborArray>
#include <QCborMap>
#include <QTcpServer>
#include <QTest>
#include <cmath>
#include <map>

#include "client_test_util.h"
#include "local_worker.h"
#include "store/run_file.h"

namespace dlab::test {
namespace {

using client::LocalWorker;
using client::TelemetryBatch;
using client::WorkerClient;

QCborMap step_entry(int64_t step, const QCborMap& rows) {
  return QCborMap{{QStringLiteral("step"), qint64(step)},
                  {QStringLiteral("t_ms"), 1.0e12},
                  {QStringLiteral("rows"), rows}};
}

TEST(TelemetryDecode, GroupsRowsPerSeriesAndKeepsWidths) {
  const QCborMap body{
      {QStringLiteral("steps"),
       QCborArray{step_entry(3, QCborMap{{QStringLiteral("loss"), QCborArray{2.5}},
                                         {QStringLiteral("resid_var"), QCborArray{0.5, 1.5, 2}}}),
                  step_entry(4, QCborMap{{QStringLiteral("loss"), QCborArray{2.25}},
                                         {QStringLiteral("resid_var"),
                                          QCborArray{0.25, QCborValue(nullptr), 3.0}},
                                         {QStringLiteral("val_loss"), QCborArray{2.75}}})}},
      {QStringLiteral("progress"),
       QCborMap{{QStringLiteral("step"), 4}, {QStringLiteral("total_steps"), 10}}}};
  TelemetryBatch b;
  QString why;
  ASSERT_TRUE(client::telemetry_decode(body, b, &why)) << why.toStdString();
  ASSERT_EQ(b.series.size(), 3u);
  std::map<QString, const client::TelemetrySeries*> by;
  for (const auto& s : b.series) by[s.name] = &s;
  ASSERT_TRUE(by.count("resid_var"));
  const auto& rv = *by["resid_var"];
  EXPECT_EQ(rv.width, 3);
  EXPECT_EQ(rv.steps, (std::vector<int64_t>{3, 4}));
  ASSERT_EQ(rv.values.size(), 6u);
  EXPECT_FLOAT_EQ(rv.values[0], 0.5f);
  EXPECT_FLOAT_EQ(rv.values[2], 2.0f);    // an integer-encoded number
  EXPECT_TRUE(std::isnan(rv.values[4]));  // null: a value that was not finite
  EXPECT_EQ(by["loss"]->steps, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(by["val_loss"]->steps, (std::vector<int64_t>{4}));
  EXPECT_EQ(b.progress.step, 4);
  EXPECT_EQ(b.progress.total_steps, 10);
  ASSERT_EQ(b.stamps.size(), 2u);  // every step of the message, with its time
  EXPECT_EQ(b.stamps[1].step, 4);
  EXPECT_DOUBLE_EQ(b.stamps[1].t_ms, 1.0e12);
}

TEST(TelemetryDecode, RefusesMalformedBodies) {
  TelemetryBatch b;
  QString why;
  EXPECT_FALSE(client::telemetry_decode(QCborMap{}, b, &why));
  EXPECT_NE(why.indexOf("steps"), -1);
  const QCborMap width_changes{
      {QStringLiteral("steps"),
       QCborArray{step_entry(1, QCborMap{{QStringLiteral("resid_var"), QCborArray{1, 2}}}),
                  step_entry(2, QCborMap{{QStringLiteral("resid_var"), QCborArray{1}}})}}};
  b = {};
  EXPECT_FALSE(client::telemetry_decode(width_changes, b, &why));
  EXPECT_NE(why.indexOf("resid_var"), -1) << why.toStdString();
  const QCborMap not_a_number{
      {QStringLiteral("steps"),
       QCborArray{step_entry(1, QCborMap{{QStringLiteral("loss"), QCborArray{"x"}}})}}};
  b = {};
  EXPECT_FALSE(client::telemetry_decode(not_a_number, b, &why));
}

struct Collected {
  std::vector<int64_t> seqs;
  std::map<QString, std::vector<int64_t>> steps;
  std::map<QString, std::vector<float>> values;
  QString final_state;
};

TEST(WorkerClient, StreamsAResumesAfterReconnectWithoutGapOrDuplicate) {
  const auto dir = client_test_dir("worker-client");
  LocalWorker local;
  QUrl url;
  QString token, failure;
  QObject::connect(&local, &LocalWorker::ready, [&](const QUrl& u, const QString& t) {
    url = u;
    token = t;
  });
  QObject::connect(&local, &LocalWorker::failed, [&](const QString& m) { failure = m; });
  local.start(DEPTHLAB_DLAB_BINARY, QString::fromStdString((dir / "runs").string()));
  ASSERT_TRUE(wait_until([&] { return url.isValid() || !failure.isEmpty(); }, 60000));
  ASSERT_TRUE(failure.isEmpty()) << failure.toStdString();
  EXPECT_EQ(token.size(), 64);  // 32 random bytes as hex

  WorkerClient client;
  Collected got;
  QObject::connect(&client, &WorkerClient::telemetry, [&](const TelemetryBatch& b) {
    got.seqs.push_back(b.seq);
    for (const auto& s : b.series) {
      auto& st = got.steps[s.name];
      st.insert(st.end(), s.steps.begin(), s.steps.end());
      auto& v = got.values[s.name];
      v.insert(v.end(), s.values.begin(), s.values.end());
    }
  });
  QObject::connect(&client, &WorkerClient::runState,
                   [&](const QString&, const client::RunState& s) { got.final_state = s.state; });
  client.connectTo(url, token);
  ASSERT_TRUE(wait_until([&] { return client.state() == WorkerClient::State::Connected; }, 20000));
  EXPECT_TRUE(client.serverInfo().presets.contains("tiny"));

  QString run;
  client::StartRequest start;
  start.preset = "tiny";
  start.sets = {"run.name=wc", "train.steps=150", "train.checkpoint_every=50"};
  client.start(start, nullptr, [&](const client::Reply<client::Started>& r) { run = r.value.run; });
  ASSERT_TRUE(wait_until([&] { return !run.isEmpty(); }, 20000));
  client.subscribe(run);
  ASSERT_TRUE(wait_until([&] { return got.seqs.size() >= 3; }, 60000));

  // Drop the connection while the run trains; connect again: the client
  // renews its subscription from (last seq) + 1.
  client.disconnectFrom();
  EXPECT_EQ(client.state(), WorkerClient::State::Disconnected);
  QTest::qWait(700);
  client.connectTo(url, token);
  ASSERT_TRUE(wait_until([&] { return got.final_state == "finished"; }, 180000))
      << "state " << got.final_state.toStdString();

  for (size_t i = 0; i < got.seqs.size(); ++i)
    ASSERT_EQ(got.seqs[i], int64_t(i) + 1) << "gap or duplicate at message " << i;
  RunReader reader = RunReader::open(dir / "runs" / "wc" / "run.h5");
  for (const char* name : {"loss", "resid_var"}) {
    const SeriesData file = reader.read(name);
    EXPECT_EQ(file.steps, got.steps[name]) << name;
    EXPECT_EQ(file.values, got.values[name]) << name;
  }

  // A wrong token: refused (close code 1008), and no retry loop.
  WorkerClient wrong;
  QString detail;
  QObject::connect(&wrong, &WorkerClient::stateChanged,
                   [&](WorkerClient::State, const QString& d) { detail = d; });
  wrong.connectTo(url, "not-the-token");
  ASSERT_TRUE(wait_until([&] { return detail.contains("refused"); }, 20000))
      << detail.toStdString();
  QTest::qWait(1500);
  EXPECT_EQ(wrong.state(), WorkerClient::State::Disconnected);
}

}  // namespace
}  // namespace dlab::test

namespace dlab::test {
namespace {

// Nobody listens: the client keeps trying, says so, and stops when told.
TEST(WorkerClient, UnreachableWorkerIsRetriedUntilDisconnected) {
  const int port = [] {
    QTcpServer probe;  // a port that was free a moment ago
    probe.listen(QHostAddress::LocalHost, 0);
    return int(probe.serverPort());
  }();
  client::WorkerClient client;
  QStringList details;
  QObject::connect(&client, &client::WorkerClient::stateChanged,
                   [&](client::WorkerClient::State, const QString& d) { details << d; });
  client.connectTo(QUrl(QString("ws://127.0.0.1:%1").arg(port)), "t");
  ASSERT_TRUE(wait_until([&] { return details.filter("reconnecting in").size() >= 2; }, 10000))
      << details.join(" | ").toStdString();
  EXPECT_EQ(client.state(), client::WorkerClient::State::Reconnecting);
  bool answered = false;
  client.listRuns(nullptr, [&](const client::Reply<std::vector<client::RunEntry>>& r) {
    answered = r.error.code == "disconnected";
  });
  EXPECT_TRUE(answered) << "a request without a connection is answered at once";
  client.disconnectFrom();
  EXPECT_EQ(client.state(), client::WorkerClient::State::Disconnected);
  const qsizetype seen = details.size();
  QTest::qWait(1500);
  EXPECT_EQ(details.size(), seen) << "still retrying after disconnectFrom()";
}

}  // namespace
}  // namespace dlab::test
