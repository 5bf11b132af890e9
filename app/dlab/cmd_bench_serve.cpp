// dlab bench serve: what streaming telemetry costs, measured the way the GUI
// uses it: a child `dlab serve` on 127.0.0.1 and the GUI's own client
// (dlab_client's WorkerClient) in this process (docs/protocol.md,
// docs/performance.md).
//
//  1. Latency: for every streamed step, the time the client delivers it on
//     this thread (decoded, as the GUI's charts get it) minus the step's
//     t_ms (stamped by the server when the step's rows were complete; same
//     machine, same clock). Median and p99 over all steps of the subscribed
//     runs.
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
#include <optional>
#include <string>
#include <vector>

#include "catalog/series_catalog.h"
#include "commands.h"
#include "common/error.h"
#include "protocol/message_types.h"
#include "worker_client.h"

namespace dlab::cli {
namespace {

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

// One WorkerClient (dlab_client, as the GUI uses it), driven
// synchronously by pumping the event loop. A telemetry step's latency is taken
// when the client delivers its batch on this thread, where the GUI's charts
// would get it.
class BenchClient {
 public:
  // A telemetry batch or a run_state of a subscribed run, in arrival order.
  struct Event {
    QString run;
    bool is_state = false;
    client::RunState state;
    client::TelemetryBatch batch;
  };

  explicit BenchClient(const QString& url) {
    QObject::connect(&client_, &client::WorkerClient::telemetry,
                     [this](const client::TelemetryBatch& b) {
                       const double now = unix_ms();
                       if (record_latency_) {
                         for (const client::StepStamp& s : b.stamps)
                           if (s.step >= latency_min_step) latency_ms.push_back(now - s.t_ms);
                       }
                       inbox_.push_back(Event{b.run, false, {}, b});
                     });
    QObject::connect(&client_, &client::WorkerClient::runState,
                     [this](const QString& run, const client::RunState& s) {
                       inbox_.push_back(Event{run, true, s, {}});
                     });
    // telemetry_gap / telemetry_dropped: the figures would miss steps.
    QObject::connect(&client_, &client::WorkerClient::streamNotice,
                     [this](const QString&, const QString& text) { lost_ = text.toStdString(); });
    QObject::connect(&client_, &client::WorkerClient::stateChanged,
                     [this](client::WorkerClient::State s, const QString& detail) {
                       if (s != client::WorkerClient::State::Connected && connected_once_)
                         dropped_ = detail.toStdString();
                       if (s == client::WorkerClient::State::Connected) connected_once_ = true;
                     });
    client_.connectTo(QUrl(url), /*token=*/QString());  // the bench's server has no token
    pump_until([this] { return connected_once_; }, "the connection");
  }

  client::Started start(const client::StartRequest& r) {
    return await<client::Started>([&](auto h) { client_.start(r, nullptr, h); });
  }
  std::vector<client::RunEntry> list_runs() {
    return await<std::vector<client::RunEntry>>([&](auto h) { client_.listRuns(nullptr, h); });
  }
  void subscribe(const std::string& run, int64_t from_seq) {
    client_.subscribe(QString::fromStdString(run), from_seq);
  }
  void unsubscribe(const std::string& run) { client_.unsubscribe(QString::fromStdString(run)); }

  // The next telemetry batch or run state.
  Event next() {
    pump_until([&] { return !inbox_.empty(); }, "telemetry");
    Event e = std::move(inbox_.front());
    inbox_.pop_front();
    return e;
  }
  bool pending() const { return !inbox_.empty(); }

  void pump_until(const std::function<bool()>& done, const char* what) {
    const auto deadline = Clock::now() + std::chrono::minutes(10);
    while (!done()) {
      if (!dropped_.empty())
        throw Error("dlab serve: the connection dropped waiting for " + std::string(what) + " (" +
                    dropped_ + ")");
      if (!lost_.empty()) throw Error("the bench client lost telemetry (" + lost_ + ")");
      if (Clock::now() > deadline) throw Error(std::string("timed out waiting for ") + what);
      QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);
    }
  }

  std::vector<double> latency_ms;
  bool record_latency_ = false;
  int64_t latency_min_step = 0;  // replayed (old) steps are not latency samples

 private:
  // Sends one request through `send` and waits for its reply; an error throws.
  template <class T, class Send>
  T await(Send send) {
    std::optional<client::Reply<T>> got;
    send([&](const client::Reply<T>& r) { got = r; });
    pump_until([&] { return got.has_value(); }, "a reply");
    if (!got->ok()) {
      throw Error("dlab serve: " + got->error.code.toStdString() + ": " +
                  got->error.message.toStdString());
    }
    return got->value;
  }

  client::WorkerClient client_;
  std::deque<Event> inbox_;
  bool connected_once_ = false;
  std::string dropped_, lost_;
};

// The tokens_per_s rows of one batch (the trainer's own measurement), by step.
void tokens_per_s_take(const client::TelemetryBatch& b, std::map<int64_t, double>& out) {
  for (const client::TelemetrySeries& s : b.series) {
    if (s.name != series::kTokensPerS || s.width != 1) continue;
    for (size_t i = 0; i < s.steps.size(); ++i) out[s.steps[i]] = s.values[i];
  }
}

// Reads the stream of `run` until its final run_state; returns the per-step
// tokens_per_s rows.
std::vector<double> stream_to_end(BenchClient& c, const std::string& run) {
  std::map<int64_t, double> tps;
  for (;;) {
    const BenchClient::Event e = c.next();
    if (e.run.toStdString() != run) continue;
    if (!e.is_state) {
      tokens_per_s_take(e.batch, tps);
      continue;
    }
    const QString& s = e.state.state;
    if (s == "finished") break;
    if (s != "running" && s != "paused")
      throw Error("run " + run + " ended " + s.toStdString() + ": " +
                  e.state.message.toStdString());
  }
  std::vector<double> out;
  for (const auto& [step, v] : tps) out.push_back(v);
  return out;
}

client::StartRequest start_request(const BenchServeArgs& a, int64_t steps,
                                   const std::string& name) {
  client::StartRequest r;
  r.preset = QString::fromStdString(a.preset);
  r.sets << QString("train.steps=%1").arg(steps) << QString::fromStdString("run.name=" + name);
  for (const std::string& s : a.sets) r.sets << QString::fromStdString(s);
  return r;
}

bool run_live(BenchClient& c, const std::string& run) {
  const std::vector<client::RunEntry> runs = c.list_runs();
  const client::RunEntry* r = client::run_find(runs, QString::fromStdString(run));
  return r && client::run_state_live(r->state);
}

struct RunFigures {
  bool subscribed = false;
  double tokens_per_s = 0;  // median over steps after the first 10% (warm-up)
};

RunFigures bench_one(BenchClient& c, const BenchServeArgs& a, bool subscribed, int index) {
  const std::string run =
      c.start(start_request(a, a.steps, "bench-" + std::to_string(index))).run.toStdString();
  if (subscribed) {
    c.record_latency_ = true;
    c.latency_min_step = 0;
    c.subscribe(run, /*from_seq=*/1);
  } else {
    // No subscriber while it trains: poll the run list (cheap) until it ends,
    // then replay its telemetry from the server's buffer for the figures.
    while (run_live(c, run)) {
      c.pump_until([t = Clock::now() + std::chrono::milliseconds(500)] { return Clock::now() > t; },
                   "poll");
    }
    c.record_latency_ = false;
    c.subscribe(run, /*from_seq=*/1);
  }
  std::vector<double> tps = stream_to_end(c, run);
  c.record_latency_ = false;
  c.unsubscribe(run);
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
  const std::string run = c.start(start_request(a, a.alt_steps, "bench-alt")).run.toStdString();
  std::map<int64_t, double> tps;  // step -> tokens_per_s
  std::vector<std::pair<int64_t, int64_t>> on, off;
  bool ended = false;
  int64_t last_seq = 0, last_step = -1;
  auto absorb = [&](const BenchClient::Event& e) {
    if (e.run.toStdString() != run) return;
    if (!e.is_state) {
      last_seq = e.batch.seq;
      for (const client::StepStamp& st : e.batch.stamps) last_step = std::max(last_step, st.step);
      tokens_per_s_take(e.batch, tps);
      return;
    }
    const QString& st = e.state.state;
    if (st == "finished") ended = true;
    if (st != "running" && st != "paused" && st != "finished") {
      throw Error("run " + run + " ended " + st.toStdString() + ": " +
                  e.state.message.toStdString());
    }
  };
  c.record_latency_ = true;
  c.latency_min_step = 0;
  c.subscribe(run, /*from_seq=*/1);
  int64_t on_start = 0;
  while (!ended) {
    while (!ended && last_step < on_start + a.block) absorb(c.next());
    if (ended) {
      on.push_back({on_start, last_step});
      break;
    }
    c.unsubscribe(run);
    while (c.pending()) absorb(c.next());
    const int64_t on_end = last_step;
    on.push_back({on_start, on_end});
    int64_t step_now = on_end;
    bool off_ended = false;
    for (;;) {
      const std::vector<client::RunEntry> runs = c.list_runs();
      if (const client::RunEntry* r = client::run_find(runs, QString::fromStdString(run))) {
        if (r->step >= 0) step_now = r->step;
        off_ended = r->state != "running" && r->state != "paused";
      }
      if (off_ended || step_now >= on_end + a.block) break;
      c.pump_until([t = Clock::now() + std::chrono::milliseconds(10)] { return Clock::now() > t; },
                   "poll");
    }
    off.push_back({on_end + 1, off_ended ? std::numeric_limits<int64_t>::max() : step_now});
    c.latency_min_step = off_ended ? std::numeric_limits<int64_t>::max() : step_now + 5;
    c.subscribe(run, last_seq + 1);
    on_start = step_now + 1;
    if (off_ended) {
      while (!ended) absorb(c.next());
    }
  }
  c.record_latency_ = false;
  c.unsubscribe(run);
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
      const std::string listening = protocol::listening_url(server.readLine().toStdString());
      if (!listening.empty()) url = QString::fromStdString(listening);
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
