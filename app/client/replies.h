// The typed form of the session protocol's requests and replies
// (docs/protocol.md): what a client sends and what it gets back, as structs.
// WorkerClient fills them from the wire; a panel reads `reply.value.base_loss`,
// never a JSON key. The `*_parse` functions take one whole message envelope
// and are pure (tested without a server).
#pragma once

#include <QJsonArray>
#include <QJsonObject>
#include <QString>
#include <QStringList>
#include <cmath>
#include <cstdint>
#include <vector>

namespace dlab::client {

// ---- errors ------------------------------------------------------------------------------

struct FieldProblem {
  QString field;  // dotted config key ("model.n_heads"), "" when the problem names none
  QString message;
};

// Why a request got no reply of its type: the server's `error` body, or a
// client-side failure ("disconnected": no connection, or it dropped first).
struct RequestError {
  QString code;  // docs/protocol.md "Errors" (bad_field, invalid_config, ...), or "disconnected"
  QString message;
  std::vector<FieldProblem> fields;  // invalid_config: one per problem
};

// A reply of type T, or the error that came instead.
template <class T>
struct Reply {
  T value;
  RequestError error;
  bool ok() const { return error.code.isEmpty(); }
};

// ---- server_info ----------------------------------------------------------------------------

struct Device {
  QString name;   // what run.device may name: "cpu", "cuda:0", ...
  QString kind;   // "cpu" or "cuda"
  QString model;  // GPU model ("" for the CPU)
  bool usable = false;
  QString problem;                // why not usable ("" when usable)
  int threads = 0;                // CPU threads (0: not said)
  double memory_bytes = -1;       // -1: not said
  double memory_free_bytes = -1;  // GPUs, where NVML answered; -1: not said
};

struct ServerInfo {
  QString server;    // "dlab 0.1.0"
  QString runs_dir;  // the worker's --runs, as it sees it
  QStringList presets;
  QStringList data_dirs;
  std::vector<Device> devices;
  QString cuda_problem;  // why no GPU is usable ("" when one is)
  bool empty() const { return server.isEmpty(); }
};

// ---- runs ------------------------------------------------------------------------------------

// The final states of a run (after its last telemetry).
bool run_state_ended(const QString& state);
// "running" or "paused": a run this worker is training now.
bool run_state_live(const QString& state);

struct RunEntry {
  QString name;
  QString state;      // "stored" (not started by this server process) or the live state
  int64_t step = -1;  // live runs only; -1: not said
  int ranks = 1;      // data-parallel ranks of a live run
  std::vector<int64_t> checkpoints;  // steps, oldest first
  // The run's summary.json (where it stood at its last checkpoint or its end),
  // when the worker has one: status as run.h5's ("finished", "stopped",
  // "diverged: ...", "running" for a run whose writer died), -1 / NaN: none.
  QString summary_status;
  int64_t summary_step = -1, summary_total_steps = 0;
  double summary_loss = NAN, summary_val_loss = NAN;
};

// The entry named `run`, or nullptr.
const RunEntry* run_find(const std::vector<RunEntry>& runs, const QString& run);

struct StartRequest {
  QJsonObject config;  // exactly one of config (the JSON form of a config file) ...
  QString preset;      // ... or a preset name
  QStringList sets;    // "key=value" overrides, applied in order
  int ranks = 1;
};

struct Started {
  QString run;  // the name to use for every later request about the run
  QString dir;
  int64_t total_steps = 0;
  int ranks = 1;
  QJsonObject config;  // the complete, validated config
};

// A sweep queued on the worker (sweep_queued, sweeps, sweep_state): one run
// per value of `key`, started one after another by the worker itself.
struct SweepMember {
  QString name;   // the planned run name (<run.name>-<key><value>)
  QString value;  // the key's value
  QString state;  // queued, running, paused, stopped, finished, diverged, failed, cancelled
  QString run;    // the run's name once started ("" before)
  QString dir;
  QString message;  // why it failed or ended so
};

struct Sweep {
  QString id;  // "sweep-<n>": what cancel_sweep names
  QString key;
  QString state;  // running, finished, cancelled
  int ranks = 1;
  std::vector<SweepMember> members;
};

enum class RunControl { Stop, Pause, Resume };
const char* run_control_type(RunControl c);

struct RunControlled {
  QString state;  // "stopping", "paused", "running"
};

// A run_state stream message.
struct RunState {
  QString state;
  int64_t step = 0;
  int64_t total_steps = 0;
  QString message;  // why it ended, when it did
};

// The trainer's latest progress, carried by telemetry when it changed.
struct Progress {
  int64_t step = -1;  // -1: the message had no progress
  int64_t total_steps = 0;
  double loss = NAN, val_loss = NAN, lr = NAN, tokens_per_s = NAN, elapsed_s = NAN, eta_s = NAN;
  bool empty() const { return step < 0; }
};

// ---- interventions and analyses ---------------------------------------------------------------

// One operation of a layer plan, applied in order.
struct LayerOp {
  enum class Kind { Skip, Swap, Linear };
  Kind kind = Kind::Skip;
  int position = 0;  // skip, linear
  int i = 0, j = 0;  // swap
  static LayerOp skip(int position) { return {Kind::Skip, position, 0, 0}; }
  static LayerOp linear(int position) { return {Kind::Linear, position, 0, 0}; }
  static LayerOp swap(int i, int j) { return {Kind::Swap, 0, i, j}; }
};
// "skip 3", "swap 1 4", "linear 2" (the words of the plan's ops).
QString layer_op_text(const LayerOp& op);

struct EvaluateRequest {
  std::vector<LayerOp> plan;     // empty: the intact model
  int64_t checkpoint_step = -1;  // -1: the newest
  int samples = 0;               // 0: the server's default
};

struct Evaluation {
  int64_t checkpoint_step = 0;
  int samples = 0;
  double loss = NAN, base_loss = NAN, delta_loss = NAN;
  std::vector<double> hidden_change;  // L+1: per residual state h_0..h_L
};

struct AnalyzeRequest {
  QStringList analyses;  // empty: all
  int64_t checkpoint_step = -1;
  int samples = 0;
};

struct AnalysisProgress {
  QString stage;
  double fraction = 0;
};

struct AnalysisResult {
  int64_t checkpoint_step = 0;
  int samples = 0;
  QString stored;      // the analysis file the worker merged the result into (its path)
  QJsonObject result;  // the JSON of `dlab analyze --json`
  QJsonObject arrays;  // the analysis file's content in store/analysis_codec.h's JSON
};

struct JacobianRequest {
  int position = 0;
  int64_t checkpoint_step = -1;
  int samples = 0;
};

struct Jacobian {
  int64_t checkpoint_step = 0;
  int samples = 0, position = 0, jacobian_samples = 0;
  int rows = 0, cols = 0;
  std::vector<float> values;  // rows x cols, row-major
};

// ---- parsing one reply envelope --------------------------------------------------------------
// Each returns the reply of its type, or the error the message carried (an
// `error` message, or another type: code "unexpected_reply").

Reply<ServerInfo> server_info_parse(const QJsonObject& message);
Reply<std::vector<RunEntry>> runs_parse(const QJsonObject& message);
Reply<Started> started_parse(const QJsonObject& message);
Reply<RunControlled> run_controlled_parse(const QJsonObject& message);
Reply<Evaluation> evaluation_parse(const QJsonObject& message);
Reply<AnalysisResult> analysis_result_parse(const QJsonObject& message);
Reply<Jacobian> jacobian_parse(const QJsonObject& message);
AnalysisProgress analysis_progress_parse(const QJsonObject& message);
RunState run_state_parse(const QJsonObject& body);
Sweep sweep_parse(const QJsonObject& body);  // a sweep object (sweep_state's body)
Reply<Sweep> sweep_queued_parse(const QJsonObject& message);
Reply<std::vector<Sweep>> sweeps_parse(const QJsonObject& message);
Reply<Sweep> sweep_cancelled_parse(const QJsonObject& message);  // ok {"state", "sweep"}
Progress progress_parse(const QJsonObject& progress);

// Request bodies.
QJsonObject start_body(const StartRequest& r);
QJsonObject continue_body(const QStringList& sets);
// start's body with "sweep": "key=v1,v2,...".
QJsonObject sweep_body(const StartRequest& r, const QString& sweep);
QJsonObject evaluate_body(const EvaluateRequest& r);
QJsonObject analyze_body(const AnalyzeRequest& r);
QJsonObject jacobian_body(const JacobianRequest& r);

}  // namespace dlab::client
