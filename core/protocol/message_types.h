// Every message type of the session protocol, its version and the listening
// line, spelled once (docs/protocol.md). The server, the client library and the decoder use
// these names; nothing else spells a message type. Header only, no
// dependencies: Qt code includes it as well as the server.
#pragma once

#include <string>

namespace dlab::protocol::type {

// ---- client -> server requests -----------------------------------------------------------
inline constexpr char kHello[] = "hello";
inline constexpr char kPing[] = "ping";
inline constexpr char kServerInfo[] = "server_info";  // also the reply to hello
inline constexpr char kListRuns[] = "list_runs";
inline constexpr char kStart[] = "start";
inline constexpr char kContinue[] = "continue";  // a run that has ended trains on (resume)
inline constexpr char kSweep[] = "sweep";        // one run per value, queued on the server
inline constexpr char kListSweeps[] = "list_sweeps";
inline constexpr char kCancelSweep[] = "cancel_sweep";
inline constexpr char kStop[] = "stop";
inline constexpr char kPause[] = "pause";
inline constexpr char kResume[] = "resume";
inline constexpr char kSubscribe[] = "subscribe";
inline constexpr char kUnsubscribe[] = "unsubscribe";
inline constexpr char kEvaluate[] = "evaluate";
inline constexpr char kAnalyze[] = "analyze";
inline constexpr char kJacobian[] = "jacobian";  // also the reply's type

// ---- server -> client replies ------------------------------------------------------------
inline constexpr char kPong[] = "pong";
inline constexpr char kRuns[] = "runs";
inline constexpr char kStarted[] = "started";  // start, continue
inline constexpr char kOk[] = "ok";            // stop, pause, resume, unsubscribe, cancel_sweep
inline constexpr char kSweepQueued[] = "sweep_queued";
inline constexpr char kSweeps[] = "sweeps";
inline constexpr char kSubscribed[] = "subscribed";
inline constexpr char kEvaluation[] = "evaluation";
inline constexpr char kAnalysisProgress[] = "analysis_progress";
inline constexpr char kAnalysisResult[] = "analysis_result";
inline constexpr char kError[] = "error";

// ---- server -> client stream -------------------------------------------------------------
inline constexpr char kTelemetry[] = "telemetry";
inline constexpr char kTelemetryGap[] = "telemetry_gap";
inline constexpr char kTelemetryDropped[] = "telemetry_dropped";
inline constexpr char kRunState[] = "run_state";
inline constexpr char kSweepState[] = "sweep_state";  // to every client, when a sweep changes

}  // namespace dlab::protocol::type

namespace dlab::protocol {

// The protocol version every envelope carries as "v".
inline constexpr int kVersion = 1;

// `dlab serve` prints this, then its ws:// or wss:// URL, as one line on stdout
// once it listens (docs/protocol.md, "Starting the server").
inline constexpr char kListeningPrefix[] = "dlab serve: listening on ";

// The URL of a listening line (surrounding white space ignored); "" when
// `line` is another line.
inline std::string listening_url(const std::string& line) {
  const size_t first = line.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const size_t last = line.find_last_not_of(" \t\r\n");
  const std::string trimmed = line.substr(first, last - first + 1);
  const std::string prefix = kListeningPrefix;
  if (trimmed.compare(0, prefix.size(), prefix) != 0) return "";
  return trimmed.substr(prefix.size());
}

}  // namespace dlab::protocol
