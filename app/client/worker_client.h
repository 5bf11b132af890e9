// A client's connection to one `dlab serve` worker (docs/protocol.md): hello
// with the token, typed requests matched to their replies by id, telemetry of
// the subscribed runs, automatic reconnect that resumes every subscription
// from the last sequence number received (no gap, no duplicate). The GUI and
// `dlab bench serve` speak the protocol through it and nothing else.
//
// Threading contract: a WorkerClient lives on the thread that created it (the
// GUI thread) and never blocks. Its QWebSocket lives on a private QThread,
// where every frame is decoded (JSON text, CBOR telemetry) into TelemetryBatch
// values; they reach the owning thread through queued calls. Handlers and
// signals therefore always run on the owning thread, which never waits on the
// network. The header uses Q_SIGNALS, so that code built with QT_NO_KEYWORDS
// (dlab, next to torch) can include it.
#pragma once

#include <QJsonObject>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QThread>
#include <QTimer>
#include <QUrl>
#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "replies.h"
#include "telemetry_batch.h"

namespace dlab::client {

// A worker's TLS certificate that the system does not trust (self-signed, or
// from an authority this machine does not know), as the user is asked about it.
struct Certificate {
  QString host_port;  // "host:port" of the worker it was presented by
  QByteArray sha256;  // SHA-256 of the DER certificate: what trusting pins
  QString subject;    // its common name / subject
  QString expires;    // ISO date it stops being valid
  QString problems;   // why the TLS check refused it
};
// "AB:CD:...": 32 bytes as `openssl x509 -noout -fingerprint -sha256` prints them.
QString certificate_fingerprint_text(const QByteArray& sha256);

class WorkerClient : public QObject {
  Q_OBJECT
 public:
  enum class State { Disconnected, Connecting, Connected, Reconnecting };
  template <class T>
  using Handler = std::function<void(const Reply<T>& reply)>;

  explicit WorkerClient(QObject* parent = nullptr);
  ~WorkerClient() override;

  // Connects (closing any previous connection) and keeps reconnecting after a
  // drop, with a growing delay (0.5 s .. 5 s), until disconnectFrom() or a
  // refused token.
  void connectTo(const QUrl& url, const QString& token);
  void disconnectFrom();
  // Accepts the certificate whose SHA-256 is `sha256` for the worker at
  // "host:port" (wss://) though the system does not trust it: pinned, as ssh
  // pins host keys; any other certificate there is still refused.
  void trustCertificate(const QString& host_port, const QByteArray& sha256);

  State state() const { return state_; }
  QString stateText() const;
  const QUrl& url() const { return url_; }
  // The last server_info (empty() before the first hello succeeded).
  const ServerInfo& serverInfo() const { return server_info_; }

  // Requests. Each handler is called once, on the owning thread, with the
  // reply or the error that came instead ("disconnected" at once when not
  // connected, or when the connection drops first). A handler is dropped
  // unheard when its `context` is destroyed first (nullptr: no context).
  void listRuns(QObject* context, Handler<std::vector<RunEntry>> handler);
  void start(const StartRequest& request, QObject* context, Handler<Started> handler);
  // A run that has ended (or was never started by this worker) trains on from
  // its newest checkpoint with its own config and `sets` (e.g. a larger
  // "train.steps=N"); the reply is a Started, as for start.
  void continueRun(const QString& run, const QStringList& sets, QObject* context,
                   Handler<Started> handler);
  void control(RunControl what, const QString& run, QObject* context,
               Handler<RunControlled> handler);
  // A sweep queued on the worker (`sweep`: "key=v1,v2,..."): the worker starts
  // its runs one after another and keeps going when this client goes away.
  // Every client hears of its changes through sweepState().
  void startSweep(const StartRequest& request, const QString& sweep, QObject* context,
                  Handler<Sweep> handler);
  void listSweeps(QObject* context, Handler<std::vector<Sweep>> handler);
  // Queued runs are dropped and the training one stops (with a checkpoint).
  void cancelSweep(const QString& id, QObject* context, Handler<Sweep> handler);
  void evaluate(const QString& run, const EvaluateRequest& request, QObject* context,
                Handler<Evaluation> handler);
  // `progress` gets the analysis_progress messages (at most 10 per second)
  // before `handler` gets the result.
  void analyze(const QString& run, const AnalyzeRequest& request, QObject* context,
               std::function<void(const AnalysisProgress&)> progress,
               Handler<AnalysisResult> handler);
  void jacobian(const QString& run, const JacobianRequest& request, QObject* context,
                Handler<Jacobian> handler);

  // Streams a run's telemetry and state from message `from_seq` on
  // (kFromOldest: from the oldest message the worker still holds, without a
  // telemetry_gap for older ones: for a continued run whose earlier steps are
  // read from its run.h5); after a reconnect the subscription is renewed from
  // (last seq received) + 1. Idempotent while subscribed.
  static constexpr int64_t kFromOldest = 0;
  void subscribe(const QString& run, int64_t from_seq = 1);
  void unsubscribe(const QString& run);
  bool subscribed(const QString& run) const { return subscriptions_.count(run) > 0; }
  int64_t lastSeq(const QString& run) const;

 Q_SIGNALS:
  void stateChanged(dlab::client::WorkerClient::State state, const QString& detail);
  void connected(const dlab::client::ServerInfo& server_info);
  // An attempt to connect (the first or a reconnect) ended before the worker
  // answered: refused token, refused or unreachable address, TLS failure.
  void connectFailed(const QString& why);
  // A wss:// worker presented a certificate that is neither trusted by the
  // system nor pinned with trustCertificate(); the attempt then fails
  // (connectFailed) and is not retried.
  void untrustedCertificate(const dlab::client::Certificate& certificate);
  void telemetry(const dlab::client::TelemetryBatch& batch);
  void runState(const QString& run, const dlab::client::RunState& state);
  // A sweep on the worker changed (queued, a run started or ended, it ended).
  void sweepState(const dlab::client::Sweep& sweep);
  // telemetry_gap / telemetry_dropped, as a sentence for the status bar.
  void streamNotice(const QString& run, const QString& text);

 private:
  class Endpoint;
  // Gets every message that carries the request's id: analysis_progress
  // messages, then the final reply (or an `error`); when the connection drops
  // first, {"type":"error","body":{"code":"disconnected",...}}.
  using ReplyHandler = std::function<void(const QJsonObject& message)>;
  struct Pending {
    QPointer<QObject> context;
    bool has_context = false;
    ReplyHandler handler;
  };

  void request(const char* type, const QString& run, const QJsonObject& body, QObject* context,
               ReplyHandler handler);
  void setState(State s, const QString& detail);  // empty detail: stateText()
  void openSocket();
  void scheduleReconnect(const QString& why);
  void onMessage(quint64 generation, const QJsonObject& message);
  void onTelemetry(quint64 generation, const TelemetryBatch& batch);
  void onClosed(quint64 generation, int code, const QString& reason);
  void onUntrusted(quint64 generation, const Certificate& certificate);
  // A request envelope {"v", "type", "id" (the next one), "run"?, "body"}.
  QJsonObject envelope(const char* type, const QString& run, const QJsonObject& body);
  void sendNow(const QJsonObject& envelope);
  void sendSubscribe(const QString& run);  // from (last seq received) + 1
  void failPending(const QString& why);
  void resubscribe();

  QThread thread_;
  Endpoint* endpoint_ = nullptr;  // lives on thread_
  QTimer reconnect_timer_;
  QUrl url_;
  QString token_;
  State state_ = State::Disconnected;
  quint64 generation_ = 0;  // bumps on every connect: drops the events of older sockets
  int attempts_ = 0;
  int64_t next_id_ = 1;
  ServerInfo server_info_;
  std::map<int64_t, Pending> pending_;
  std::map<QString, int64_t> subscriptions_;  // run -> last seq received (0: none)
  std::map<QString, QByteArray> pinned_;      // "host:port" -> trusted certificate SHA-256
  quint64 untrusted_generation_ = 0;          // the attempt that met an untrusted certificate
};

}  // namespace dlab::client
