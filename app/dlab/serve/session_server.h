// dlab serve's WebSocket server: authentication, request dispatch, telemetry
// fan-out with per-client backlogs, and the limits of docs/protocol.md.
//
// Everything here runs on the Qt event-loop thread; training runs on one thread
// per run (RunManager) and the long requests on the AnalysisWorker, whose
// replies come back through queued calls. No Q_OBJECT: lambdas only.
#pragma once

#include <QHostAddress>
#include <QObject>
#include <QString>
#include <QTimer>
#include <QWebSocket>
#include <QWebSocketServer>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "protocol/protocol.h"
#include "serve/analysis_worker.h"
#include "serve/client_paths.h"
#include "serve/run_manager.h"
#include "serve/sweep_queue.h"

namespace dlab::serve {

struct ServerOptions {
  QHostAddress address = QHostAddress::LocalHost;
  quint16 port = 0;
  std::string token;  // "" = none (loopback only)
  std::string tls_cert, tls_key;
  std::filesystem::path runs_dir = "runs";
  std::vector<std::filesystem::path> data_dirs;     // --data: folders clients may name
  size_t replay_capacity = 4096;                    // telemetry messages kept per run
  int64_t client_backlog_bytes = int64_t(8) << 20;  // unsent bytes before telemetry is dropped
  int64_t client_queue_bytes = int64_t(64) << 20;   // unsent bytes before the client is dropped
  int max_pending_jobs = 4;                         // evaluate/analyze/jacobian per client
  int max_runs = 4;                                 // live runs at a time
  int max_ranks = 64;                               // ranks of one run, and of the live runs
  int requests_per_second = 100;                    // per client (burst: 2x)
  int tick_ms = 33;                                 // telemetry aggregation period
};

// Constant-time comparison (no early exit on the first differing byte).
bool token_equal(const std::string& a, const std::string& b);

class SessionServer {
 public:
  explicit SessionServer(ServerOptions options);
  ~SessionServer();
  // Starts listening; dlab::Error when the address cannot be bound, or TLS
  // files cannot be read. Returns the URL (ws://host:port or wss://...).
  QString listen();

 private:
  struct Client {
    int64_t id = 0;
    QWebSocket* socket = nullptr;
    bool authenticated = false;
    bool cbor = true;
    int64_t backlog = 0;                            // bytes handed to the socket, not yet written
    std::map<std::string, int64_t> next_seq;        // subscribed run -> next telemetry seq to send
    std::map<std::string, std::string> sent_state;  // run -> last run_state sent
    int pending_jobs = 0;
    bool dropping = false;  // over client_queue_bytes: closed, nothing more is sent or read
    double tokens = 0;      // rate-limit bucket
    std::chrono::steady_clock::time_point refill, connected;
  };

  void on_connection();
  void on_message(Client& c, const std::string& bytes, bool binary);
  void dispatch(Client& c, const protocol::Message& m);
  void tick();
  void flush(Client& c, const std::string& run);
  void send(Client& c, const protocol::Message& m);
  // Ends a client that does not read what it is sent (see send()).
  void drop_slow_client(Client& c);
  void send_error(Client& c, protocol::ErrorCode code, const std::string& text, int64_t id);
  // Sends run_state when `state` differs from what the client last got (or force).
  void send_run_state(Client& c, LiveRun& run, RunState state, bool force);
  Client* client(int64_t id);

  // Request handlers.
  nlohmann::json server_info() const;
  nlohmann::json list_runs();
  // The config of a start or sweep request (config or preset, then set); its
  // parse errors go to `errors` as field entries.
  Config requested_config(const protocol::Message& m, nlohmann::json& errors) const;
  // body.ranks, checked against --max-ranks (RequestError bad_field).
  int requested_ranks(const protocol::Message& m) const;
  void start(Client& c, const protocol::Message& m);
  // Sweeps (serve/sweep_queue.h): queued on this server, not on the client.
  void sweep(Client& c, const protocol::Message& m);
  void cancel_sweep(Client& c, const protocol::Message& m);
  nlohmann::json list_sweeps() const;
  // Starts the sweeps' next runs where the caps allow and sends sweep_state
  // to every client for each sweep that changed.
  void advance_sweeps();
  void send_sweep_states(const std::vector<Sweep*>& changed);
  // Whether a run of `ranks` ranks fits the --max-runs / --max-ranks caps now.
  std::function<bool(int)> can_start_run() const;
  void continue_run(Client& c, const protocol::Message& m);
  // Every problem of a config a client asked to train, as field errors: its
  // validation, the device, the paths it names, whether it fits the machine.
  // On success its path keys hold the canonical paths that were checked.
  nlohmann::json config_problems(Config& config) const;
  // The replies of start and continue: invalid_config with its fields, started.
  void send_invalid_config(Client& c, const protocol::Message& m, const nlohmann::json& fields);
  void send_started(Client& c, const protocol::Message& m, const LiveRun& run);
  // RequestError busy when a run of `ranks` ranks would pass --max-runs or --max-ranks.
  void check_run_caps(int ranks) const;
  void subscribe(Client& c, const protocol::Message& m);
  void post_job(Client& c, const protocol::Message& m);
  // runs_dir/<m.run> after checking the name and that it holds a run.h5.
  std::filesystem::path stored_run_dir(const protocol::Message& m) const;
  std::filesystem::path checkpoint_for(const protocol::Message& m) const;

  ServerOptions options_;
  ClientPaths paths_;  // what a client's config may name (the runs and --data folders)
  QObject context_;    // receiver of the worker's queued replies (destroyed last)
  QWebSocketServer* server_ = nullptr;
  QTimer timer_;
  RunManager runs_;
  SweepQueue sweeps_{runs_};
  AnalysisWorker worker_;
  std::map<int64_t, std::unique_ptr<Client>> clients_;
  int64_t next_client_ = 1;
};

}  // namespace dlab::serve
