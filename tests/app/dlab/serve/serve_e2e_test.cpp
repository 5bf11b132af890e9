// dlab serve end to end (issue 4, must-show 1 and 2): a real server process on
// 127.0.0.1 port 0, real QWebSocket clients, a real tiny training run whose
// streamed series are compared with the run.h5 it writes.
#include <gtest/gtest.h>

#include <QCoreApplication>
#include <QProcess>
#include <QSslError>
#include <QTcpSocket>
#include <QTest>
#include <QThread>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "serve_test_client.h"
#include "store/analysis_codec.h"
#include "store/run_file.h"
#include "test_dir.h"

namespace dlab::test {
namespace {

const std::string kToken = "e2e-token-7f3a";

std::filesystem::path test_dir(const std::string& name) {
  return test_dir_fresh("serve", "e2e_" + name);
}

// A run that trains until stopped: tiny, many steps, a checkpoint every 20.
json start_request(const std::string& name) {
  return {{"type", "start"},
          {"body",
           {{"preset", "tiny"},
            {"set",
             {"run.name=" + name, "train.steps=100000", "train.checkpoint_every=20",
              "train.eval_every=25"}}}}};
}

int64_t last_step(const Client& c) {
  const auto& t = const_cast<Client&>(c).telemetry();
  if (t.empty()) return -1;
  return t.back()["body"]["steps"].back()["step"].get<int64_t>();
}

// Every received telemetry message's seq, in order.
std::vector<int64_t> seqs(Client& c) {
  std::vector<int64_t> s;
  for (const json& m : c.telemetry()) s.push_back(m["seq"].get<int64_t>());
  return s;
}

TEST(ServeE2E, StartStreamEvaluateReconnectStopMatchesRunFile) {
  const std::filesystem::path dir = test_dir("e2e");
  ServerProcess server((dir / "runs").string(), kToken);
  ASSERT_FALSE(server.url().isEmpty()) << "no listening line from dlab serve";
  EXPECT_TRUE(server.url().startsWith("ws://127.0.0.1:")) << server.url().toStdString();

  auto first = std::make_unique<Client>();
  ASSERT_TRUE(first->open(server.url()));
  ASSERT_TRUE(first->hello(kToken));
  const json started = first->request(start_request("e2e"), "started");
  ASSERT_FALSE(started.is_null()) << "no started reply";
  const std::string run = started["run"].get<std::string>();
  EXPECT_EQ(run, "e2e");
  ASSERT_FALSE(first
                   ->request({{"type", "subscribe"}, {"run", run}, {"body", {{"from_seq", 1}}}},
                             "subscribed")
                   .is_null());

  // Per-layer telemetry: resid_var has one value per block (tiny: 2 blocks).
  ASSERT_TRUE(wait_until([&] { return last_step(*first) >= 25; }, 60000));
  bool per_layer = false;
  for (const json& m : first->telemetry()) {
    for (const json& s : m["body"]["steps"]) {
      if (s["rows"].contains("resid_var") && s["rows"]["resid_var"].size() == 2) per_layer = true;
    }
  }
  EXPECT_TRUE(per_layer) << "no per-layer resid_var row in the telemetry";

  // Evaluate a skip plan on the step-20 checkpoint while the run trains.
  const json eval = first->request(
      {{"type", "evaluate"},
       {"run", run},
       {"body",
        {{"plan", {{{"op", "skip"}, {"position", 1}}}}, {"checkpoint_step", 20}, {"samples", 4}}}},
      "", 120000);
  ASSERT_EQ(eval.value("type", ""), "evaluation") << eval.dump();
  EXPECT_EQ(eval["body"]["checkpoint_step"], 20);
  EXPECT_GT(eval["body"]["loss"].get<double>(), 0.0);
  EXPECT_EQ(eval["body"]["hidden_change"].size(), 3u);
  EXPECT_EQ(eval["body"]["plan"], "skip 1");

  // Analyze the same checkpoint: the reply carries the analysis file's arrays
  // (store/analysis_codec.h), Jacobian matrices included, for a client that
  // cannot read the stored file.
  const json analysis = first->request(
      {{"type", "analyze"},
       {"run", run},
       {"body", {{"analyses", {"causal", "jacobian"}}, {"checkpoint_step", 20}, {"samples", 2}}}},
      "analysis_result", 120000);
  ASSERT_EQ(analysis.value("type", ""), "analysis_result") << analysis.dump().substr(0, 400);
  const AnalysisFileData arrays = analysis_file_from_json(analysis["body"]["arrays"].dump());
  EXPECT_EQ(arrays.step, 20);
  std::set<std::string> names;
  for (const Array& a : arrays.arrays) {
    names.insert(a.name);
    if (a.name.rfind("jacobian/", 0) == 0) {
      EXPECT_EQ(a.shape, (std::vector<int64_t>{32, 32})) << a.name;  // (d, d) of the tiny preset
    }
  }
  EXPECT_TRUE(names.count("causal_matrix")) << analysis["body"]["arrays"].dump().substr(0, 400);
  EXPECT_TRUE(names.count("jacobian/0") && names.count("jacobian/1"));

  // Disconnect; training goes on without any client.
  const std::vector<int64_t> before = seqs(*first);
  ASSERT_FALSE(before.empty());
  const int64_t last_seq = before.back();
  std::vector<json> streamed = first->telemetry();
  first->close();
  wait_until([&] { return first->closed(); }, 5000);
  first.reset();
  QTest::qWait(500);

  // Reconnect and resume from the last seq: no gap, no duplicate.
  Client second;
  ASSERT_TRUE(second.open(server.url()));
  ASSERT_TRUE(second.hello(kToken));
  const json runs = second.request({{"type", "list_runs"}}, "runs");
  ASSERT_EQ(runs["body"]["runs"].size(), 1u);
  EXPECT_EQ(runs["body"]["runs"][0]["state"], "running");
  const json sub = second.request(
      {{"type", "subscribe"}, {"run", run}, {"body", {{"from_seq", last_seq + 1}}}}, "subscribed");
  ASSERT_FALSE(sub.is_null());
  EXPECT_GT(sub["body"]["next_seq"].get<int64_t>(), last_seq + 1) << "the run did not go on";
  ASSERT_TRUE(wait_until([&] { return second.telemetry().size() >= 3; }, 30000));
  EXPECT_EQ(second.telemetry().front()["seq"].get<int64_t>(), last_seq + 1);

  // Pause holds the run; resume continues it.
  EXPECT_EQ(second.request({{"type", "pause"}, {"run", run}}, "ok")["body"]["state"], "paused");
  ASSERT_TRUE(wait_until(
      [&] {
        return !second.states().empty() && second.states().back()["body"]["state"] == "paused";
      },
      10000));
  QTest::qWait(300);  // a step in flight may still end
  const int64_t paused_at = last_step(second);
  QTest::qWait(700);
  EXPECT_EQ(last_step(second), paused_at) << "training went on while paused";
  EXPECT_EQ(second.request({{"type", "resume"}, {"run", run}}, "ok")["body"]["state"], "running");
  ASSERT_TRUE(wait_until([&] { return last_step(second) > paused_at + 5; }, 30000));

  // Stop: the final run_state comes after the last telemetry.
  EXPECT_EQ(second.request({{"type", "stop"}, {"run", run}}, "ok")["body"]["state"], "stopping");
  ASSERT_TRUE(wait_until(
      [&] {
        return !second.states().empty() && second.states().back()["body"]["state"] == "stopped";
      },
      60000));
  QTest::qWait(200);
  const std::vector<int64_t> after = seqs(second);
  for (size_t i = 1; i < after.size(); ++i)
    ASSERT_EQ(after[i], after[i - 1] + 1) << "gap or duplicate";
  for (size_t i = 1; i < before.size(); ++i) ASSERT_EQ(before[i], before[i - 1] + 1);
  ASSERT_EQ(before.front(), 1);
  for (const json& m : second.telemetry()) streamed.push_back(m);

  // The streamed rows equal what run.h5 holds, step by step and series by series.
  std::map<std::string, std::map<int64_t, std::vector<float>>> rows;
  for (const json& m : streamed) {
    for (const json& s : m["body"]["steps"]) {
      const int64_t step = s["step"].get<int64_t>();
      for (const auto& [series, values] : s["rows"].items()) {
        std::vector<float> v;
        for (const json& x : values) v.push_back(x.is_null() ? NAN : x.get<float>());
        rows[series][step] = v;
      }
    }
  }
  const RunReader reader = RunReader::open(dir / "runs" / run / "run.h5");
  size_t compared = 0;
  for (const SeriesSpec& spec : reader.series()) {
    const SeriesData d = reader.read(spec.name);
    const auto& got = rows[spec.name];
    ASSERT_EQ(got.size(), d.steps.size()) << spec.name << ": rows streamed vs in run.h5";
    for (size_t i = 0; i < d.steps.size(); ++i) {
      const auto it = got.find(d.steps[i]);
      ASSERT_NE(it, got.end()) << spec.name << " step " << d.steps[i] << " was not streamed";
      ASSERT_EQ(int(it->second.size()), d.width) << spec.name;
      for (int k = 0; k < d.width; ++k) {
        const float want = d.values[i * size_t(d.width) + size_t(k)];
        const float have = it->second[size_t(k)];
        ASSERT_TRUE(want == have || (std::isnan(want) && std::isnan(have)))
            << spec.name << " step " << d.steps[i] << "[" << k << "]: " << have << " vs " << want;
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 100u);
}

// A run started with "ranks": 2 trains data parallel (rank 0 in the server,
// rank 1 a child process) and gives the single-process loss curve; it cannot
// pause; a ranks value out of range is a field error (issue 6: dlab serve
// accepts a number of local ranks).
TEST(ServeE2E, TwoRanksReproduceTheSingleProcessRun) {
  const std::filesystem::path dir = test_dir("ranks");
  ServerProcess server((dir / "runs").string(), kToken);
  ASSERT_FALSE(server.url().isEmpty());
  Client c;
  ASSERT_TRUE(c.open(server.url()));
  ASSERT_TRUE(c.hello(kToken));
  EXPECT_EQ(c.request({{"type", "server_info"}}, "server_info")["body"]["limits"]["max_ranks"], 64);

  const json bad = c.request({{"type", "start"}, {"body", {{"preset", "tiny"}, {"ranks", 0}}}}, "");
  EXPECT_EQ(bad["body"]["code"], "bad_field") << bad.dump();
  EXPECT_NE(bad["body"]["message"].get<std::string>().find("body.ranks=0"), std::string::npos);

  auto run_with = [&](int ranks) {
    const json started = c.request(
        {{"type", "start"},
         {"body",
          {{"preset", "tiny"},
           {"ranks", ranks},
           {"set", {"run.name=r" + std::to_string(ranks), "train.steps=20", "train.threads=1"}}}}},
        "started", 60000);
    EXPECT_EQ(started["body"]["ranks"], ranks) << started.dump();
    const std::string run = started["run"].get<std::string>();
    c.request({{"type", "subscribe"}, {"run", run}, {"body", {{"from_seq", 1}}}}, "subscribed");
    if (ranks > 1) {
      const json pause = c.request({{"type", "pause"}, {"run", run}}, "");
      EXPECT_EQ(pause["body"]["code"], "conflict") << pause.dump();
    }
    EXPECT_TRUE(wait_until(
        [&] {
          for (const json& s : c.states()) {
            if (s["run"] == run && s["body"]["state"] == "finished") return true;
          }
          return false;
        },
        120000))
        << run << " did not finish";
    return RunReader::open(dir / "runs" / run / "run.h5").read("loss");
  };
  const SeriesData one = run_with(1);
  const SeriesData two = run_with(2);
  ASSERT_EQ(one.steps.size(), 20u);
  ASSERT_EQ(two.steps, one.steps);
  for (size_t i = 0; i < one.values.size(); ++i) {
    EXPECT_NEAR(two.values[i], one.values[i], 1e-5 * std::abs(one.values[i]))
        << "step " << one.steps[i];
  }
  // The children's config file is gone with the run.
  for (const auto& e : std::filesystem::directory_iterator(dir / "runs"))
    EXPECT_EQ(e.path().filename().string().find(".ranks.toml"), std::string::npos);
}

// Listening on the network without a token is refused before binding.
TEST(ServeStartup, NonLoopbackWithoutTokenIsRefused) {
  QProcess p;
  p.start(DEPTHLAB_DLAB_BINARY, {"serve", "--listen", "0.0.0.0:0"});
  ASSERT_TRUE(p.waitForFinished(60000));
  EXPECT_EQ(p.exitCode(), 2);
  EXPECT_TRUE(p.readAllStandardError().contains("needs a token"));
  EXPECT_TRUE(p.readAllStandardOutput().isEmpty()) << "printed a listening line";
}

// wss:// with --tls-cert/--tls-key (a self-signed certificate made here).
TEST(ServeStartup, TlsServesWss) {
  const std::filesystem::path dir = test_dir("tls");
  const QString key = QString::fromStdString((dir / "key.pem").string());
  const QString cert = QString::fromStdString((dir / "cert.pem").string());
  QProcess openssl;
  openssl.start("openssl", {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
                            cert, "-days", "1", "-subj", "/CN=127.0.0.1"});
  if (!openssl.waitForFinished(60000) || openssl.exitCode() != 0) {
    GTEST_SKIP() << "openssl could not make a test certificate";
  }
  ServerProcess server((dir / "runs").string(), kToken, {"--tls-cert", cert, "--tls-key", key});
  ASSERT_TRUE(server.url().startsWith("wss://127.0.0.1:")) << server.url().toStdString();
  Client c;
  QObject::connect(&c.socket(), &QWebSocket::sslErrors,
                   [&](const QList<QSslError>&) { c.socket().ignoreSslErrors(); });
  ASSERT_TRUE(c.open(server.url()));
  EXPECT_TRUE(c.hello(kToken));
  EXPECT_FALSE(c.request({{"type", "ping"}}, "pong").is_null());
}

// ---- must-show 2: bad input, each with its documented response -------------

class ServeErrors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(test_dir("errors"));
    server_ = new ServerProcess((*dir_ / "runs").string(), kToken);
    ASSERT_FALSE(server_->url().isEmpty());
    // An observer with a live run: every error case below must leave it unaffected.
    observer_ = new Client();
    ASSERT_TRUE(observer_->open(server_->url()));
    ASSERT_TRUE(observer_->hello(kToken));
    const json started = observer_->request(start_request("watched"), "started");
    ASSERT_FALSE(started.is_null());
    ASSERT_FALSE(
        observer_->request({{"type", "subscribe"}, {"run", "watched"}}, "subscribed").is_null());
  }
  static void TearDownTestSuite() {
    delete observer_;
    delete server_;
  }
  void TearDown() override {
    // The server is up and the observer's stream is complete and answering.
    ASSERT_TRUE(server_->running());
    ASSERT_FALSE(observer_->closed());
    const size_t n = observer_->telemetry().size();
    ASSERT_TRUE(wait_until([&] { return observer_->telemetry().size() > n; }, 20000))
        << "the observer's telemetry stopped";
    const std::vector<int64_t> s = seqs(*observer_);
    for (size_t i = 1; i < s.size(); ++i) ASSERT_EQ(s[i], s[i - 1] + 1);
    ASSERT_FALSE(observer_->request({{"type", "ping"}}, "pong").is_null());
  }

  // A fresh authenticated client.
  std::unique_ptr<Client> client() {
    auto c = std::make_unique<Client>();
    EXPECT_TRUE(c->open(server_->url()));
    EXPECT_TRUE(c->hello(kToken));
    return c;
  }
  // A client that sends `first` as its first message and expects the close.
  void expect_closed_silently(const std::string& first, const std::string& reason_prefix) {
    Client c;
    ASSERT_TRUE(c.open(server_->url()));
    c.send_raw(QString::fromStdString(first));
    ASSERT_TRUE(wait_until([&] { return c.closed(); }, 10000)) << "not closed";
    EXPECT_EQ(c.close_code(), 1008);
    EXPECT_EQ(c.close_reason().rfind(reason_prefix, 0), 0u) << c.close_reason();
    EXPECT_EQ(c.received_before_close(), 0) << "something was sent before the close";
  }
  json expect_error(Client& c, const std::string& text, const std::string& code) {
    c.send_raw(QString::fromStdString(text));
    const json e = c.await("error");
    EXPECT_EQ(e["body"]["code"], code) << e.dump();
    EXPECT_FALSE(e["body"]["message"].get<std::string>().empty());
    return e;
  }

  static std::filesystem::path* dir_;
  static ServerProcess* server_;
  static Client* observer_;
};
std::filesystem::path* ServeErrors::dir_ = nullptr;
ServerProcess* ServeErrors::server_ = nullptr;
Client* ServeErrors::observer_ = nullptr;

TEST_F(ServeErrors, WrongTokenClosesWithReason) {
  expect_closed_silently(R"({"v":1,"type":"hello","body":{"token":"nope"}})", "auth_failed");
}

TEST_F(ServeErrors, MissingTokenClosesWithReason) {
  expect_closed_silently(R"({"v":1,"type":"hello"})", "auth_failed");
}

TEST_F(ServeErrors, FirstMessageNotHelloClosesWithReason) {
  expect_closed_silently(R"({"v":1,"type":"list_runs"})", "auth_required");
  expect_closed_silently("{not json", "auth_required");
}

TEST_F(ServeErrors, MalformedJsonUnknownTypeBadFields) {
  auto c = client();
  expect_error(*c, "{\"v\":1,\"type\":", "bad_json");
  expect_error(*c, R"({"v":1,"type":"fly"})", "unknown_type");
  expect_error(*c, R"({"v":2,"type":"ping"})", "unsupported_version");
  expect_error(*c, R"([1,2])", "bad_envelope");
  expect_error(*c, R"({"v":1,"type":"subscribe"})", "bad_envelope");
  expect_error(*c, R"({"v":1,"type":"subscribe","run":"watched","id":3,"body":{"from_seq":"x"}})",
               "bad_field");
  expect_error(*c, R"({"v":1,"type":"stop","run":"nosuch","id":4})", "not_found");
  expect_error(*c, R"({"v":1,"type":"evaluate","run":"watched","body":{"plan":[{"op":"melt"}]}})",
               "bad_field");
  const json e = expect_error(
      *c, R"({"v":1,"type":"start","id":5,"body":{"preset":"tiny","set":["model.n_heads=3"]}})",
      "invalid_config");
  // One entry per problem, each naming its field (n_heads=3 breaks two rules).
  std::set<std::string> fields;
  for (const json& f : e["body"]["fields"]) fields.insert(f["field"].get<std::string>());
  EXPECT_EQ(fields, (std::set<std::string>{"model.d_model", "model.n_heads"})) << e.dump();
  EXPECT_EQ(e["id"], 5);
  // Still usable after all of that.
  EXPECT_FALSE(c->request({{"type", "ping"}}, "pong").is_null());
}

// Devices (docs/gpu.md): server_info lists the CPU and every GPU the driver
// sees with whether it is usable; a start naming a device this server cannot
// use is an invalid_config error on run.device (the launcher shows it under
// the field), and nothing starts.
TEST_F(ServeErrors, DevicesAreListedAndAnUnusableOneIsAFieldError) {
  auto c = client();
  const json info = c->request({{"type", "server_info"}}, "server_info")["body"];
  ASSERT_TRUE(info["devices"].is_array()) << info.dump();
  EXPECT_EQ(info["devices"][0]["name"], "cpu");
  EXPECT_EQ(info["devices"][0]["usable"], true);
  bool cuda_usable = false;
  for (const json& d : info["devices"]) {
    if (d["kind"] == "cuda") {
      EXPECT_TRUE(d["model"].is_string() && d["memory_bytes"].is_number()) << d.dump();
      cuda_usable = cuda_usable || d["usable"].get<bool>();
    }
  }
  if (cuda_usable) GTEST_SKIP() << "a usable GPU is visible; the refusal is for machines without";
  EXPECT_FALSE(info["cuda_problem"].get<std::string>().empty()) << info.dump();
  for (const char* device : {"cuda", "cuda:2"}) {
    const json e = expect_error(
        *c,
        json{{"v", 1},
             {"type", "start"},
             {"id", 9},
             {"body", {{"preset", "tiny"}, {"set", {std::string("run.device=") + device}}}}}
            .dump(),
        "invalid_config");
    ASSERT_EQ(e["body"]["fields"].size(), 1u) << e.dump();
    EXPECT_EQ(e["body"]["fields"][0]["field"], "run.device") << e.dump();
    EXPECT_NE(e["body"]["fields"][0]["message"].get<std::string>().find("cannot be used"),
              std::string::npos)
        << e.dump();
  }
  const json runs = c->request({{"type", "list_runs"}}, "runs")["body"]["runs"];
  for (const json& r : runs)  // the preset's run name: none was claimed
    EXPECT_NE(r["name"].get<std::string>().rfind("tiny", 0), 0u) << runs.dump();
}

TEST_F(ServeErrors, OversizeMessageClosesWith1009) {
  auto c = client();
  c->send_raw(QString(int(2 << 20), QChar('x')));
  ASSERT_TRUE(wait_until([&] { return c->closed(); }, 20000));
  EXPECT_EQ(c->close_code(), 1009);
}

TEST_F(ServeErrors, FrameCutInHalfOnlyEndsThatConnection) {
  QTcpSocket tcp;
  tcp.connectToHost("127.0.0.1", server_->port());
  ASSERT_TRUE(tcp.waitForConnected(5000));
  tcp.write(
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  QByteArray response;
  ASSERT_TRUE(wait_until(
      [&] {
        response += tcp.readAll();
        return response.contains("\r\n\r\n");
      },
      5000));
  ASSERT_TRUE(response.startsWith("HTTP/1.1 101")) << response.toStdString();
  // A masked text frame announcing 100 payload bytes, of which 50 are sent.
  QByteArray frame;
  frame.append(char(0x81)).append(char(0x80 | 100)).append("\x01\x02\x03\x04", 4);
  frame.append(QByteArray(50, 'a'));
  tcp.write(frame);
  tcp.flush();
  QTest::qWait(200);
  tcp.abort();
}

TEST_F(ServeErrors, FloodIsRateLimitedAndRecovers) {
  auto c = client();
  for (int i = 0; i < 1000; ++i) c->send({{"v", 1}, {"type", "ping"}, {"id", 100000 + i}});
  int pongs = 0, limited = 0;
  wait_until(
      [&] {
        for (const json& m : c->control()) {
          if (m["type"] == "pong") ++pongs;
          if (m["type"] == "error" && m["body"]["code"] == "rate_limited") ++limited;
        }
        c->control().clear();
        return pongs + limited >= 1000;
      },
      30000);
  EXPECT_EQ(pongs + limited, 1000);
  EXPECT_GE(pongs, 100);
  EXPECT_GE(limited, 1);
  QTest::qWait(1500);  // the bucket refills
  EXPECT_FALSE(c->request({{"type", "ping"}}, "pong").is_null());
}

TEST_F(ServeErrors, TooManyPendingAnalysesAreRefused) {
  auto c = client();
  ASSERT_TRUE(wait_until(
      [&] {
        const json r = c->request({{"type", "list_runs"}}, "runs");
        return !r["body"]["runs"].empty() && !r["body"]["runs"][0]["checkpoints"].empty();
      },
      60000));
  for (int i = 0; i < 8; ++i) {
    c->send({{"v", 1},
             {"type", "evaluate"},
             {"id", 500 + i},
             {"run", "watched"},
             {"body", {{"plan", {{{"op", "skip"}, {"position", 0}}}}, {"samples", 4}}}});
  }
  int done = 0, limited = 0;
  wait_until(
      [&] {
        for (const json& m : c->control()) {
          if (m["type"] == "evaluation") ++done;
          if (m["type"] == "error" && m["body"]["code"] == "busy")
            ++limited;  // limits.max_pending_jobs
        }
        c->control().clear();
        return done + limited >= 8;
      },
      120000);
  EXPECT_EQ(done, 4);
  EXPECT_EQ(limited, 4);
}

}  // namespace
}  // namespace dlab::test

int main(int argc, char** argv) {
  QCoreApplication app(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
