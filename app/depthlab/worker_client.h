// The GUI's connection to one `dlab serve` worker (docs/protocol.md): hello
// with the token, requests matched to their replies by id, telemetry of the
// subscribed runs, automatic reconnect that resumes every subscription from the
// last sequence number received (no gap, no duplicate).
//
// Threading contract: a WorkerClient lives on the GUI thread and never blocks.
// Its QWebSocket lives on a private QThread, where every frame is decoded (JSON
// text, CBOR telemetry) into TelemetryBatch values; they reach the GUI thread
// through queued calls. Handlers and signals therefore always run on the GUI
// thread, and the GUI thread never waits on the network.
#pragma once

#include <QCborMap>
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

namespace dlab::gui {

// The rows of one series in one telemetry message, grouped so that the model
// gets one appendRows() per series per message.
struct TelemetrySeries {
  QString name;
  int width = 0;               // values per row (1 for scalars, L for per-layer series)
  std::vector<int64_t> steps;  // [n]
  std::vector<float> values;   // [n * width], row-major; JSON null -> NaN
};

struct TelemetryBatch {
  QString run;
  int64_t seq = 0;
  std::vector<TelemetrySeries> series;  // in order of first appearance
  QJsonObject progress;                 // empty when the message had none
};

// Decodes the body of a `telemetry` message. Returns false (and says why) when
// the body does not follow docs/protocol.md; a series whose row width changes
// within the message is an error too.
bool telemetry_decode(const QCborMap& body, TelemetryBatch& out, QString* error);

// The entry of `run` in a `runs` reply (list_runs): {"name", "checkpoints",
// "state", ...}; empty when the reply is an error or does not list the run.
QJsonObject runs_entry(const QJsonObject& reply, const QString& run);

class WorkerClient : public QObject {
  Q_OBJECT
 public:
  enum class State { Disconnected, Connecting, Connected, Reconnecting };
  // Gets every message that carries the request's id: analysis_progress
  // messages, then the final reply (or an `error`). When the connection drops
  // first, the handler gets {"type":"error","body":{"code":"disconnected",...}}.
  using ReplyHandler = std::function<void(const QJsonObject& message)>;

  explicit WorkerClient(QObject* parent = nullptr);
  ~WorkerClient() override;

  // Connects (closing any previous connection) and keeps reconnecting after a
  // drop, with a growing delay (0.5 s .. 5 s), until disconnectFrom() or a
  // refused token.
  void connectTo(const QUrl& url, const QString& token);
  void disconnectFrom();

  State state() const { return state_; }
  QString stateText() const;
  const QUrl& url() const { return url_; }
  // The last server_info body (empty before the first hello succeeded).
  const QJsonObject& serverInfo() const { return server_info_; }

  // Sends a request; returns its id, or -1 (and calls handler with an error)
  // when not connected. `handler` is dropped when `context` is destroyed.
  int64_t request(const QString& type, const QString& run, const QJsonObject& body,
                  QObject* context, ReplyHandler handler);

  // Streams a run's telemetry and state; after a reconnect the subscription is
  // renewed from (last seq received) + 1. Idempotent.
  void subscribe(const QString& run);
  void unsubscribe(const QString& run);
  bool subscribed(const QString& run) const { return subscriptions_.count(run) > 0; }
  int64_t lastSeq(const QString& run) const;

 signals:
  void stateChanged(dlab::gui::WorkerClient::State state, const QString& detail);
  void connected(const QJsonObject& server_info);
  void telemetry(const dlab::gui::TelemetryBatch& batch);
  void runState(const QString& run, const QJsonObject& body);
  // telemetry_gap / telemetry_dropped, as a sentence for the status bar.
  void streamNotice(const QString& run, const QString& text);

 private:
  class Endpoint;
  struct Pending {
    QPointer<QObject> context;
    bool has_context = false;
    ReplyHandler handler;
  };

  void setState(State s, const QString& detail);  // empty detail: stateText()
  void openSocket();
  void scheduleReconnect(const QString& why);
  void onMessage(quint64 generation, const QJsonObject& message);
  void onTelemetry(quint64 generation, const TelemetryBatch& batch);
  void onClosed(quint64 generation, int code, const QString& reason);
  void sendNow(const QJsonObject& envelope);
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
  QJsonObject server_info_;
  std::map<int64_t, Pending> pending_;
  std::map<QString, int64_t> subscriptions_;  // run -> last seq received (0: none)
};

}  // namespace dlab::gui

Q_DECLARE_METATYPE(dlab::gui::TelemetryBatch)
