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
#include <limits>
#include <map>
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
  int pairs = 0;            // ABBA blocks: 2 runs with a client, 2 without, per pair
  int64_t alt_steps = 600;  // the alternating run's length (0: none)
  int64_t block = 40;       // steps per subscribed / unsubscribed block
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
        for (const json& s : m["body"]["steps"]) {
          if (s["step"].get<int64_t>() >= latency_min_step) {
            latency_ms.push_back(now - s["t_ms"].get<double>());
          }
        }
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

  bool pending() const { return !inbox_.empty(); }

  std::vector<double> latency_ms;
  bool record_latency_ = false;
  int64_t latency_min_step = 0;  // replayed (old) steps are not latency samples

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
    c.latency_min_step = 0;
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

// One run; the client alternates `block` steps subscribed with `block` steps
// unsubscribed (load drift on a shared machine hits both alike). Per-step
// tokens_per_s of subscribed vs unsubscribed blocks, 3 steps trimmed at each
// boundary. Re-subscribing replays the unsubscribed block's telemetry, so its
// sending cost is charged to the subscribed block: the estimate is conservative.
struct AltFigures {
  double with = 0, without = 0;
  size_t n_with = 0, n_without = 0;
  int blocks = 0;
};

AltFigures bench_alternating(BenchClient& c, const BenchServeArgs& a) {
  json sets = json::array();
  sets.push_back("train.steps=" + std::to_string(a.alt_steps));
  sets.push_back("run.name=bench-alt");
  for (const std::string& s : a.sets) sets.push_back(s);
  const json started = c.reply(c.request("start", "", {{"preset", a.preset}, {"set", sets}}));
  const std::string run = started["run"].get<std::string>();
  std::map<int64_t, double> tps;  // step -> tokens_per_s
  std::vector<std::pair<int64_t, int64_t>> on, off;
  bool ended = false;
  int64_t last_seq = 0, last_step = -1;
  auto absorb = [&](const json& m) {
    if (m.value("run", "") != run) return;
    const std::string type = m.value("type", "");
    if (type == "telemetry") {
      last_seq = m["seq"].get<int64_t>();
      for (const json& st : m["body"]["steps"]) {
        const int64_t step = st["step"].get<int64_t>();
        last_step = std::max(last_step, step);
        const auto it = st["rows"].find("tokens_per_s");
        if (it != st["rows"].end() && !it->empty()) tps[step] = (*it)[0].get<double>();
      }
    } else if (type == "telemetry_dropped" || type == "telemetry_gap") {
      throw Error("the bench client lost telemetry (" + m.dump() + ")");
    } else if (type == "run_state") {
      const std::string st = m["body"]["state"].get<std::string>();
      if (st == "finished") ended = true;
      if (st != "running" && st != "paused" && st != "finished") {
        throw Error("run " + run + " ended " + m.dump());
      }
    }
  };
  c.record_latency_ = true;
  c.latency_min_step = 0;
  c.reply(c.request("subscribe", run, {{"from_seq", 1}}));
  int64_t on_start = 0;
  while (!ended) {
    while (!ended && last_step < on_start + a.block) absorb(c.next());
    if (ended) {
      on.push_back({on_start, last_step});
      break;
    }
    c.reply(c.request("unsubscribe", run, json::object()));
    while (c.pending()) absorb(c.next());
    const int64_t on_end = last_step;
    on.push_back({on_start, on_end});
    int64_t step_now = on_end;
    bool off_ended = false;
    for (;;) {
      const json runs = c.reply(c.request("list_runs", "", json::object()));
      for (const json& r : runs["body"]["runs"]) {
        if (r["name"] != run) continue;
        step_now = r.value("step", step_now);
        const std::string st = r["state"].get<std::string>();
        off_ended = st != "running" && st != "paused";
      }
      if (off_ended || step_now >= on_end + a.block) break;
      c.pump_until([t = Clock::now() + std::chrono::milliseconds(10)] { return Clock::now() > t; },
                   "poll");
    }
    off.push_back({on_end + 1, off_ended ? std::numeric_limits<int64_t>::max() : step_now});
    c.latency_min_step = off_ended ? std::numeric_limits<int64_t>::max() : step_now + 5;
    c.reply(c.request("subscribe", run, {{"from_seq", last_seq + 1}}));
    on_start = step_now + 1;
    if (off_ended) {
      while (!ended) absorb(c.next());
    }
  }
  c.record_latency_ = false;
  c.reply(c.request("unsubscribe", run, json::object()));
  std::vector<double> with, without;
  auto collect = [&](const std::vector<std::pair<int64_t, int64_t>>& ranges,
                     std::vector<double>& out) {
    for (const auto& [first, last] : ranges) {
      for (auto it = tps.lower_bound(first + 3); it != tps.end() && it->first <= last - 3; ++it) {
        if (it->first >= a.alt_steps / 10) out.push_back(it->second);  // past warm-up
      }
    }
  };
  collect(on, with);
  collect(off, without);
  if (with.size() < 10 || without.size() < 10) {
    throw Error("too few steps per group (" + std::to_string(with.size()) + ", " +
                std::to_string(without.size()) + "); raise --alternate-steps");
  }
  AltFigures f;
  f.with = quantile(with, 0.5);
  f.without = quantile(without, 0.5);
  f.n_with = with.size();
  f.n_without = without.size();
  f.blocks = int(on.size() + off.size());
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
  std::printf(
      "dlab bench serve: preset %s; alternating run of %lld steps (blocks of %lld); %d ABBA "
      "pair(s) of %lld-step runs; server %s\n",
      a.preset.c_str(), static_cast<long long>(a.alt_steps), static_cast<long long>(a.block),
      a.pairs, static_cast<long long>(a.steps), url.toStdString().c_str());
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
    if (a.alt_steps > 0) {
      const AltFigures f = bench_alternating(c, a);
      std::printf(
          "training throughput, one run, %d alternating blocks: subscribed %.0f tokens/s (%zu "
          "steps), unsubscribed %.0f tokens/s (%zu steps), ratio %.3f  (target >= 0.97)\n",
          f.blocks, f.with, f.n_with, f.without, f.n_without,
          f.without > 0 ? f.with / f.without : 0.0);
    }
    std::vector<double> with, without;
    for (const RunFigures& f : figures) (f.subscribed ? with : without).push_back(f.tokens_per_s);
    const double w = quantile(with, 0.5), wo = quantile(without, 0.5);
    std::printf(
        "\ntelemetry latency, finished step -> client (%zu steps): median %.2f ms, p99 %.2f ms, "
        "max %.2f ms  (target: median < 50 ms)\n",
        c.latency_ms.size(), quantile(c.latency_ms, 0.5), quantile(c.latency_ms, 0.99),
        quantile(c.latency_ms, 1.0));
    if (!figures.empty()) {
      std::printf(
          "training throughput, ABBA runs: 1 subscribed client %.0f tokens/s, none %.0f "
          "tokens/s, ratio %.3f (median of runs)\n",
          w, wo, wo > 0 ? w / wo : 0.0);
    }
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
      "none: within one run whose client alternates subscribed / unsubscribed blocks, and\n"
      "optionally over separate runs in ABBA order. Spawns `dlab serve` on 127.0.0.1.\n"
      "Example: dlab bench serve --alternate-steps 1200 --block 40 --pairs 1");
  app.add_option("--preset", a->preset, "preset to train")->capture_default_str();
  app.add_option("--steps", a->steps, "training steps per run")->capture_default_str();
  app.add_option("--alternate-steps", a->alt_steps,
                 "steps of the run whose client alternates subscribed/unsubscribed (0: skip)")
      ->capture_default_str();
  app.add_option("--block", a->block, "steps per alternating block")->capture_default_str();
  app.add_option("--pairs", a->pairs, "also ABBA blocks of separate runs (4 runs each)")
      ->capture_default_str();
  app.add_option("--set", a->sets, "config override key=value (repeatable)");
  app.add_option("--runs", a->runs_dir, "runs directory (default: a new one under /tmp)");
  return [a] {
    if (a->steps < 20) throw Error("--steps " + std::to_string(a->steps) + ": at least 20");
    if (a->pairs < 0) throw Error("--pairs " + std::to_string(a->pairs) + ": at least 0");
    if (a->block < 10) throw Error("--block " + std::to_string(a->block) + ": at least 10");
    if (a->alt_steps != 0 && a->alt_steps < 4 * a->block) {
      throw Error("--alternate-steps " + std::to_string(a->alt_steps) +
                  ": 0 or at least 4 blocks (4 x --block)");
    }
    return bench_serve_main(*a);
  };
}

}  // namespace dlab::cli
