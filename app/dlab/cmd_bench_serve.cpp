// dlab bench serve: what streaming telemetry costs, measured the way the GUI
// uses it: a child `dlab serve` on 127.0.0.1 and one WebSocket client in this
// process (docs/protocol.md, docs/performance.md).
//
//  1. Latency: for every streamed step, the client's receive time minus the
//     step's t_ms (stamped by the server when the step's rows were complete;
//     same machine, same clock). Median and p99 over all steps of the
//     subscribed runs.
//  2. Throughput: the same config trained with one subscribed client and with
//     none, in ABBA order (drift on a shared machine cancels); per run the
//     median of the trainer's own per-step tokens_per_s, read from the
//     telemetry (for unsubscribed runs: replayed after the run ended).
#include <QByteArray>
#include <QCoreApplication>
#include <QEventLoop>
#include <QProcess>
#include <QThread>
#include <QUrl>
#include <QWebSocket>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "common/error.h"
#include "protocol/protocol.h"

namespace dlab::cli {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct BenchServeArgs {
  std::string preset = "tiny";
  int64_t steps = 300;
  int pairs = 1;  // ABBA blocks: 2 runs with a client, 2 without, per pair
  std::vector<std::string> sets;
  std::string runs_dir;  // default: a fresh temporary directory
};

double unix_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5));
  return v[i];
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a.empty() ? "unknown" : a + " " + b + " " + c;
}

// One protocol client on a QWebSocket, driven synchronously by pumping the
// event loop. Telemetry latency is taken on arrival, before any queueing here.
class BenchClient {
 public:
  explicit BenchClient(const QString& url) {
    QObject::connect(&ws_, &QWebSocket::textMessageReceived, [this](const QString& t) {
      inbox_.push_back(json::parse(t.toStdString(), nullptr, /*allow_exceptions=*/false));
    });
    QObject::connect(&ws_, &QWebSocket::binaryMessageReceived, [this](const QByteArray& b) {
      const double now = unix_ms();
      json m = json::from_cbor(b.begin(), b.end(), /*strict=*/true, /*allow_exceptions=*/false);
      if (m.value("type", "") == "telemetry" && record_latency_) {
        for (const json& s : m["body"]["steps"])
          latency_ms.push_back(now - s["t_ms"].get<double>());
      }
      inbox_.push_back(std::move(m));
    });
    QObject::connect(&ws_, &QWebSocket::disconnected, [this] { closed_ = true; });
    ws_.open(QUrl(url));
    pump_until([this] { return ws_.state() == QAbstractSocket::ConnectedState; }, "connect");
  }

  int64_t request(const std::string& type, const std::string& run, json body) {
    protocol::Message m;
    m.type = type;
    m.id = next_id_++;
    m.run = run;
    m.body = std::move(body);
    ws_.sendTextMessage(QString::fromStdString(protocol::encode_json(m)));
    return m.id;
  }

  // The reply to request `id`; stream messages stay in the inbox.
  json reply(int64_t id) {
    json out;
    pump_until(
        [&] {
          for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
            if (it->value("id", int64_t(-1)) == id) {
              out = std::move(*it);
              inbox_.erase(it);
              return true;
            }
          }
          return false;
        },
        "a reply");
    if (out["type"] == "error") throw Error("dlab serve: " + out["body"].dump());
    return out;
  }

  // Next stream message (telemetry, run_state, ...).
  json next() {
    pump_until([&] { return !inbox_.empty(); }, "telemetry");
    json m = std::move(inbox_.front());
    inbox_.pop_front();
    return m;
  }

  void pump_until(const std::function<bool()>& done, const char* what) {
    const auto deadline = Clock::now() + std::chrono::minutes(10);
    while (!done()) {
      if (closed_) throw Error(std::string("dlab serve closed the connection waiting for ") + what);
      if (Clock::now() > deadline) throw Error(std::string("timed out waiting for ") + what);
      QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);
    }
  }

  std::vector<double> latency_ms;
  bool record_latency_ = false;

 private:
  QWebSocket ws_;
  std::deque<json> inbox_;
  int64_t next_id_ = 1;
  bool closed_ = false;
};

// Reads the stream of `run` until its final run_state; returns the per-step
// tokens_per_s rows (the trainer's own measurement).
std::vector<double> stream_to_end(BenchClient& c, const std::string& run) {
  std::vector<double> tps;
  for (;;) {
    const json m = c.next();
    if (m.value("run", "") != run) continue;
    const std::string type = m.value("type", "");
    if (type == "telemetry") {
      for (const json& s : m["body"]["steps"]) {
        const auto it = s["rows"].find("tokens_per_s");
        if (it != s["rows"].end() && !it->empty()) tps.push_back((*it)[0].get<double>());
      }
    } else if (type == "telemetry_dropped" || type == "telemetry_gap") {
      throw Error("the bench client lost telemetry (" + m.dump() + "); lower --steps");
    } else if (type == "run_state") {
      const std::string s = m["body"]["state"].get<std::string>();
      if (s == "finished") return tps;
      if (s != "running" && s != "paused") throw Error("run " + run + " ended " + m.dump());
    }
  }
}

struct RunFigures {
  bool subscribed = false;
  double tokens_per_s = 0;  // median over steps after the first 10% (warm-up)
};

RunFigures bench_one(BenchClient& c, const BenchServeArgs& a, bool subscribed, int index) {
  json sets = json::array();
  sets.push_back("train.steps=" + std::to_string(a.steps));
  sets.push_back("run.name=bench-" + std::to_string(index));
  for (const std::string& s : a.sets) sets.push_back(s);
  const json started = c.reply(c.request("start", "", {{"preset", a.preset}, {"set", sets}}));
  const std::string run = started["run"].get<std::string>();
  if (subscribed) {
    c.record_latency_ = true;
    c.reply(c.request("subscribe", run, {{"from_seq", 1}}));
  } else {
    // No subscriber while it trains: poll the run list (cheap) until it ends,
    // then replay its telemetry from the server's buffer for the figures.
    for (;;) {
      const json runs = c.reply(c.request("list_runs", "", json::object()));
      std::string state;
      for (const json& r : runs["body"]["runs"])
        if (r["name"] == run) state = r["state"].get<std::string>();
      if (state != "running" && state != "paused") break;
      c.pump_until([t = Clock::now() + std::chrono::milliseconds(500)] { return Clock::now() > t; },
                   "poll");
    }
    c.record_latency_ = false;
    c.reply(c.request("subscribe", run, {{"from_seq", 1}}));
  }
  std::vector<double> tps = stream_to_end(c, run);
  c.record_latency_ = false;
  c.reply(c.request("unsubscribe", run, json::object()));
  if (tps.size() < 10) throw Error("run " + run + " streamed too few steps; raise --steps");
  tps.erase(tps.begin(), tps.begin() + long(tps.size() / 10));
  RunFigures f;
  f.subscribed = subscribed;
  f.tokens_per_s = quantile(tps, 0.5);
  std::printf("  run %-8s %-14s median %.0f tokens/s over %zu steps\n", run.c_str(),
              subscribed ? "1 client" : "no client", f.tokens_per_s, tps.size());
  std::fflush(stdout);
  return f;
}

int bench_serve_main(const BenchServeArgs& a) {
  int argc = 1;
  char name[] = "dlab";
  char* argv[] = {name, nullptr};
  QCoreApplication app(argc, argv);

  std::string runs_dir = a.runs_dir;
  const bool own_dir = runs_dir.empty();  // a temporary directory, removed at the end
  if (own_dir) {
    char tmpl[] = "/tmp/dlab-bench-serve-XXXXXX";
    if (!mkdtemp(tmpl)) throw Error("cannot create a temporary directory in /tmp");
    runs_dir = tmpl;
  }
  const std::string load_before = load_average();
  QProcess server;
  server.setProgram(QCoreApplication::applicationFilePath());
  server.setArguments(
      {"serve", "--listen", "127.0.0.1:0", "--runs", QString::fromStdString(runs_dir)});
  server.setProcessChannelMode(QProcess::ForwardedErrorChannel);
  server.start();
  if (!server.waitForStarted(10000)) throw Error("cannot start dlab serve");
  QString url;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (url.isEmpty()) {
    if (Clock::now() > deadline || server.state() == QProcess::NotRunning) {
      throw Error("dlab serve printed no listening line");
    }
    server.waitForReadyRead(200);
    while (server.canReadLine()) {
      const QString line = QString::fromUtf8(server.readLine()).trimmed();
      const QString prefix = "dlab serve: listening on ";
      if (line.startsWith(prefix)) url = line.mid(prefix.size());
    }
  }
  std::printf("dlab bench serve: preset %s, %lld steps per run, %d ABBA pair(s), server %s\n",
              a.preset.c_str(), static_cast<long long>(a.steps), a.pairs,
              url.toStdString().c_str());
  std::printf("load average before: %s (cores: %d)\n", load_before.c_str(),
              QThread::idealThreadCount());
  std::fflush(stdout);

  std::vector<RunFigures> figures;
  {
    BenchClient c(url);
    c.request("hello", "", {{"telemetry", "cbor"}});
    c.reply(1);
    int index = 0;
    for (int p = 0; p < a.pairs; ++p) {
      // ABBA: without, with, with, without.
      for (bool sub : {false, true, true, false}) figures.push_back(bench_one(c, a, sub, index++));
    }
    std::vector<double> with, without;
    for (const RunFigures& f : figures) (f.subscribed ? with : without).push_back(f.tokens_per_s);
    const double w = quantile(with, 0.5), wo = quantile(without, 0.5);
    std::printf(
        "\ntelemetry latency, finished step -> client (%zu steps): median %.2f ms, p99 %.2f ms, "
        "max %.2f ms  (target: median < 50 ms)\n",
        c.latency_ms.size(), quantile(c.latency_ms, 0.5), quantile(c.latency_ms, 0.99),
        quantile(c.latency_ms, 1.0));
    std::printf(
        "training throughput: 1 subscribed client %.0f tokens/s, none %.0f tokens/s, "
        "ratio %.3f  (target >= 0.97)\n",
        w, wo, wo > 0 ? w / wo : 0.0);
  }
  std::printf("load average after: %s\n", load_average().c_str());
  server.terminate();
  if (!server.waitForFinished(60000)) server.kill();
  std::error_code ec;
  if (own_dir) std::filesystem::remove_all(runs_dir, ec);
  return 0;
}

}  // namespace

Command bench_serve_register(CLI::App& app) {
  auto a = std::make_shared<BenchServeArgs>();
  app.description(
      "Telemetry cost of dlab serve on loopback: latency from a finished training step to a\n"
      "WebSocket client (median, p99), and training throughput with one subscribed client vs\n"
      "none (same config, ABBA order). Spawns `dlab serve` on 127.0.0.1.\n"
      "Example: dlab bench serve --preset tiny --steps 300 --pairs 2");
  app.add_option("--preset", a->preset, "preset to train")->capture_default_str();
  app.add_option("--steps", a->steps, "training steps per run")->capture_default_str();
  app.add_option("--pairs", a->pairs, "ABBA blocks (4 runs each)")->capture_default_str();
  app.add_option("--set", a->sets, "config override key=value (repeatable)");
  app.add_option("--runs", a->runs_dir, "runs directory (default: a new one under /tmp)");
  return [a] {
    if (a->steps < 20) throw Error("--steps " + std::to_string(a->steps) + ": at least 20");
    if (a->pairs < 1) throw Error("--pairs " + std::to_string(a->pairs) + ": at least 1");
    return bench_serve_main(*a);
  };
}

}  // namespace dlab::cli
