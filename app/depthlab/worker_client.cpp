#include "worker_client.h"

#include <QCborArray>
#include <QCborValue>
#include <QJsonArray>
#include <QJsonDocument>
#include <QWebSocket>
#include <algorithm>
#include <cmath>
#include <limits>

namespace dlab::gui {

bool telemetry_decode(const QCborMap& body, TelemetryBatch& out, QString* error) {
  auto fail = [error](const QString& why) {
    if (error) *error = why;
    return false;
  };
  const QCborValue steps = body.value(QStringLiteral("steps"));
  if (!steps.isArray()) return fail(QStringLiteral("body.steps is not an array"));
  std::map<QString, size_t> index;  // series name -> position in out.series
  for (const QCborValue& s : steps.toArray()) {
    if (!s.isMap()) return fail(QStringLiteral("body.steps[] is not an object"));
    const QCborMap sm = s.toMap();
    const QCborValue step = sm.value(QStringLiteral("step"));
    if (!step.isInteger()) return fail(QStringLiteral("body.steps[].step is not an integer"));
    const QCborValue rows = sm.value(QStringLiteral("rows"));
    if (!rows.isMap()) return fail(QStringLiteral("body.steps[].rows is not an object"));
    const QCborMap rm = rows.toMap();
    for (auto it = rm.constBegin(); it != rm.constEnd(); ++it) {
      const QString name = it.key().toString();
      if (!it.value().isArray() || it.value().toArray().isEmpty()) {
        return fail(QStringLiteral("rows.%1 is not a non-empty array").arg(name));
      }
      const QCborArray values = it.value().toArray();
      auto [pos, inserted] = index.emplace(name, out.series.size());
      if (inserted) {
        TelemetrySeries fresh;
        fresh.name = name;
        fresh.width = int(values.size());
        out.series.push_back(std::move(fresh));
      }
      TelemetrySeries& ts = out.series[pos->second];
      if (ts.width != values.size()) {
        return fail(QStringLiteral("rows.%1 has %2 values at step %3, %4 before")
                        .arg(name)
                        .arg(values.size())
                        .arg(step.toInteger())
                        .arg(ts.width));
      }
      ts.steps.push_back(step.toInteger());
      for (const QCborValue& v : values) {
        if (v.isNull()) {
          ts.values.push_back(std::numeric_limits<float>::quiet_NaN());
        } else if (v.isDouble() || v.isInteger()) {
          ts.values.push_back(float(v.toDouble()));
        } else {
          return fail(QStringLiteral("rows.%1 holds a value that is not a number").arg(name));
        }
      }
    }
  }
  const QCborValue progress = body.value(QStringLiteral("progress"));
  if (progress.isMap()) out.progress = progress.toMap().toJsonObject();
  return true;
}

QJsonObject runs_entry(const QJsonObject& reply, const QString& run) {
  if (reply.value("type").toString() != "runs") return {};
  for (const QJsonValue& v : reply.value("body").toObject().value("runs").toArray()) {
    if (v.toObject().value("name").toString() == run) return v.toObject();
  }
  return {};
}

// ---- the socket side, on the client's private thread --------------------------------------

class WorkerClient::Endpoint : public QObject {
 public:
  explicit Endpoint(WorkerClient* owner) : owner_(owner) {}

  void open(quint64 generation, const QUrl& url, const QString& token) {
    dropSocket();
    generation_ = generation;
    token_ = token;
    closed_reported_ = false;
    socket_ = new QWebSocket(QString(), QWebSocketProtocol::VersionLatest, this);
    connect(socket_, &QWebSocket::connected, this, [this] {
      // The first message must be hello (docs/protocol.md, Authentication).
      QJsonObject body{{"token", token_}, {"telemetry", "cbor"}};
      QJsonObject hello{{"v", 1}, {"type", "hello"}, {"id", 0}, {"body", body}};
      socket_->sendTextMessage(
          QString::fromUtf8(QJsonDocument(hello).toJson(QJsonDocument::Compact)));
    });
    connect(socket_, &QWebSocket::textMessageReceived, this, &Endpoint::onText);
    connect(socket_, &QWebSocket::binaryMessageReceived, this, &Endpoint::onBinary);
    connect(socket_, &QWebSocket::disconnected, this, [this] { reportClosed(); });
    // A refused or unreachable address ends here, without disconnected().
    auto on_error = [this](QAbstractSocket::SocketError) {
      if (socket_ && socket_->state() == QAbstractSocket::UnconnectedState) reportClosed();
    };
#if QT_VERSION >= QT_VERSION_CHECK(6, 5, 0)
    connect(socket_, &QWebSocket::errorOccurred, this, on_error);
#else  // Debian 12's Qt 6.4 names the signal error()
    connect(socket_, QOverload<QAbstractSocket::SocketError>::of(&QWebSocket::error), this,
            on_error);
#endif
    socket_->open(url);
  }

  void send(quint64 generation, const QByteArray& text) {
    if (socket_ && generation == generation_) socket_->sendTextMessage(QString::fromUtf8(text));
  }

  void dropSocket() {
    if (!socket_) return;
    socket_->disconnect(this);
    socket_->abort();
    socket_->deleteLater();
    socket_ = nullptr;
  }

 private:
  template <class F>
  void post(F f) {
    WorkerClient* o = owner_;
    QMetaObject::invokeMethod(
        o, [o, f] { f(o); }, Qt::QueuedConnection);
  }

  void reportClosed() {
    if (closed_reported_ || !socket_) return;
    closed_reported_ = true;
    const quint64 g = generation_;
    const int code = int(socket_->closeCode());
    QString reason = socket_->closeReason();
    if (reason.isEmpty()) reason = socket_->errorString();
    post([g, code, reason](WorkerClient* o) { o->onClosed(g, code, reason); });
  }

  void onText(const QString& text) {
    QJsonParseError err;
    const QJsonDocument doc = QJsonDocument::fromJson(text.toUtf8(), &err);
    if (!doc.isObject()) {
      qWarning("depthlab: worker sent a message that is not a JSON object: %s",
               qPrintable(err.errorString()));
      return;
    }
    const QJsonObject m = doc.object();
    if (m.value("type").toString() == "telemetry") {
      handleTelemetry(QCborMap::fromJsonObject(m));
      return;
    }
    const quint64 g = generation_;
    post([g, m](WorkerClient* o) { o->onMessage(g, m); });
  }

  void onBinary(const QByteArray& data) {
    QCborParserError err;
    const QCborValue v = QCborValue::fromCbor(data, &err);
    if (err.error != QCborError::NoError || !v.isMap()) {
      qWarning("depthlab: worker sent a binary frame that is not a CBOR map");
      return;
    }
    const QCborMap m = v.toMap();
    if (m.value(QStringLiteral("type")).toString() == "telemetry") {
      handleTelemetry(m);
      return;
    }
    const QJsonObject j = m.toJsonObject();
    const quint64 g = generation_;
    post([g, j](WorkerClient* o) { o->onMessage(g, j); });
  }

  // Decoding happens here, off the GUI thread.
  void handleTelemetry(const QCborMap& m) {
    TelemetryBatch batch;
    batch.run = m.value(QStringLiteral("run")).toString();
    batch.seq = m.value(QStringLiteral("seq")).toInteger(-1);
    QString why;
    if (batch.run.isEmpty() || batch.seq < 1 ||
        !telemetry_decode(m.value(QStringLiteral("body")).toMap(), batch, &why)) {
      qWarning("depthlab: dropped a malformed telemetry message (run '%s', seq %lld): %s",
               qPrintable(batch.run), static_cast<long long>(batch.seq), qPrintable(why));
      return;
    }
    const quint64 g = generation_;
    post([g, batch = std::move(batch)](WorkerClient* o) { o->onTelemetry(g, batch); });
  }

  WorkerClient* owner_;
  QWebSocket* socket_ = nullptr;
  quint64 generation_ = 0;
  QString token_;
  bool closed_reported_ = false;
};

// ---- the GUI side -------------------------------------------------------------------------

WorkerClient::WorkerClient(QObject* parent) : QObject(parent) {
  qRegisterMetaType<dlab::gui::TelemetryBatch>();
  thread_.setObjectName("depthlab-worker-socket");
  endpoint_ = new Endpoint(this);
  endpoint_->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, endpoint_, &QObject::deleteLater);
  thread_.start();
  reconnect_timer_.setSingleShot(true);
  connect(&reconnect_timer_, &QTimer::timeout, this, &WorkerClient::openSocket);
}

WorkerClient::~WorkerClient() {
  Endpoint* e = endpoint_;
  QMetaObject::invokeMethod(
      e, [e] { e->dropSocket(); }, Qt::QueuedConnection);
  thread_.quit();
  thread_.wait();
}

QString WorkerClient::stateText() const {
  switch (state_) {
    case State::Disconnected:
      return tr("not connected");
    case State::Connecting:
      return tr("connecting to %1").arg(url_.toString());
    case State::Connected:
      return tr("connected to %1").arg(url_.toString());
    case State::Reconnecting:
      return tr("reconnecting to %1").arg(url_.toString());
  }
  return {};
}

void WorkerClient::setState(State s, const QString& detail) {
  state_ = s;
  emit stateChanged(s, detail.isEmpty() ? stateText() : detail);
}

void WorkerClient::connectTo(const QUrl& url, const QString& token) {
  url_ = url;
  token_ = token;
  attempts_ = 0;
  server_info_ = QJsonObject();
  reconnect_timer_.stop();
  failPending(tr("the connection was replaced"));
  openSocket();
}

void WorkerClient::disconnectFrom() {
  reconnect_timer_.stop();
  ++generation_;  // events of the old socket are ignored from now on
  Endpoint* e = endpoint_;
  QMetaObject::invokeMethod(
      e, [e] { e->dropSocket(); }, Qt::QueuedConnection);
  failPending(tr("disconnected"));
  setState(State::Disconnected, tr("disconnected"));
}

void WorkerClient::openSocket() {
  const quint64 g = ++generation_;
  setState(attempts_ == 0 ? State::Connecting : State::Reconnecting, {});
  Endpoint* e = endpoint_;
  const QUrl url = url_;
  const QString token = token_;
  QMetaObject::invokeMethod(
      e, [e, g, url, token] { e->open(g, url, token); }, Qt::QueuedConnection);
}

void WorkerClient::scheduleReconnect(const QString& why) {
  ++attempts_;
  const int delay_ms = std::min(5000, 500 << std::min(attempts_ - 1, 4));
  setState(State::Reconnecting,
           tr("%1; reconnecting in %2 s").arg(why).arg(delay_ms / 1000.0, 0, 'f', 1));
  reconnect_timer_.start(delay_ms);
}

void WorkerClient::onClosed(quint64 generation, int code, const QString& reason) {
  if (generation != generation_) return;
  failPending(tr("the connection to the worker dropped"));
  // 1008: the token was refused; retrying would only be refused again.
  if (code == 1008) {
    setState(State::Disconnected, tr("the worker refused the connection: %1").arg(reason));
    return;
  }
  scheduleReconnect(reason.isEmpty() ? tr("connection closed") : reason);
}

void WorkerClient::onMessage(quint64 generation, const QJsonObject& m) {
  if (generation != generation_) return;
  const QString type = m.value("type").toString();
  const QString run = m.value("run").toString();
  if (type == "server_info" && m.value("id").toInteger(-1) == 0 && state_ != State::Connected) {
    server_info_ = m.value("body").toObject();
    attempts_ = 0;
    setState(State::Connected, {});
    resubscribe();
    emit connected(server_info_);
    return;
  }
  if (type == "run_state") {
    emit runState(run, m.value("body").toObject());
    return;
  }
  if (type == "telemetry_gap" || type == "telemetry_dropped") {
    const QJsonObject b = m.value("body").toObject();
    const QString what = type == "telemetry_gap"
                             ? tr("older than the worker's replay buffer")
                             : tr("dropped because this client read too slowly");
    emit streamNotice(run, tr("run %1: telemetry %2..%3 %4 (run.h5 has every step)")
                               .arg(run)
                               .arg(b.value("from_seq").toInteger())
                               .arg(b.value("to_seq").toInteger())
                               .arg(what));
    // Resume after the hole: the next message continues the stream.
    auto it = subscriptions_.find(run);
    if (it != subscriptions_.end())
      it->second = std::max<int64_t>(it->second, b.value("to_seq").toInteger());
    return;
  }
  const int64_t id = m.value("id").toInteger(-1);
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // a reply nobody waits for (e.g. subscribe)
  Pending p = it->second;
  if (type != "analysis_progress") pending_.erase(it);
  if (p.has_context && !p.context) return;
  if (p.handler) p.handler(m);
}

void WorkerClient::onTelemetry(quint64 generation, const TelemetryBatch& batch) {
  if (generation != generation_) return;
  auto it = subscriptions_.find(batch.run);
  if (it == subscriptions_.end()) return;  // unsubscribed meanwhile
  // Only the next message of the stream: not a duplicate, and not one of an
  // older subscription to the same run still in flight (re-subscribing from 1
  // must not let message 50 of the old stream in before 1..49 of the replay).
  if (batch.seq != it->second + 1) return;
  it->second = batch.seq;
  emit telemetry(batch);
}

void WorkerClient::sendNow(const QJsonObject& envelope) {
  Endpoint* e = endpoint_;
  const quint64 g = generation_;
  const QByteArray text = QJsonDocument(envelope).toJson(QJsonDocument::Compact);
  QMetaObject::invokeMethod(
      e, [e, g, text] { e->send(g, text); }, Qt::QueuedConnection);
}

int64_t WorkerClient::request(const QString& type, const QString& run, const QJsonObject& body,
                              QObject* context, ReplyHandler handler) {
  if (state_ != State::Connected) {
    if (handler) {
      handler(QJsonObject{
          {"type", "error"},
          {"body", QJsonObject{{"code", "disconnected"},
                               {"message", tr("no worker connected (%1)").arg(stateText())}}}});
    }
    return -1;
  }
  const int64_t id = next_id_++;
  QJsonObject envelope{{"v", 1}, {"type", type}, {"id", qint64(id)}, {"body", body}};
  if (!run.isEmpty()) envelope.insert("run", run);
  Pending p;
  p.context = context;
  p.has_context = context != nullptr;
  p.handler = std::move(handler);
  pending_[id] = std::move(p);
  sendNow(envelope);
  return id;
}

void WorkerClient::failPending(const QString& why) {
  std::map<int64_t, Pending> failed;
  failed.swap(pending_);
  const QJsonObject error{{"type", "error"},
                          {"body", QJsonObject{{"code", "disconnected"}, {"message", why}}}};
  for (auto& [id, p] : failed) {
    if (p.has_context && !p.context) continue;
    QJsonObject e = error;
    e.insert("id", qint64(id));
    if (p.handler) p.handler(e);
  }
}

int64_t WorkerClient::lastSeq(const QString& run) const {
  auto it = subscriptions_.find(run);
  return it == subscriptions_.end() ? 0 : it->second;
}

void WorkerClient::subscribe(const QString& run) {
  if (subscriptions_.count(run)) return;
  subscriptions_[run] = 0;
  if (state_ != State::Connected) return;  // sent by resubscribe() once connected
  QJsonObject body{{"from_seq", 1}};
  sendNow(QJsonObject{
      {"v", 1}, {"type", "subscribe"}, {"id", qint64(next_id_++)}, {"run", run}, {"body", body}});
}

void WorkerClient::unsubscribe(const QString& run) {
  if (!subscriptions_.erase(run) || state_ != State::Connected) return;
  sendNow(QJsonObject{{"v", 1}, {"type", "unsubscribe"}, {"id", qint64(next_id_++)}, {"run", run}});
}

void WorkerClient::resubscribe() {
  for (const auto& [run, last] : subscriptions_) {
    // from_seq = last + 1: the stream continues with no gap and no duplicate.
    QJsonObject body{{"from_seq", qint64(last + 1)}};
    sendNow(QJsonObject{
        {"v", 1}, {"type", "subscribe"}, {"id", qint64(next_id_++)}, {"run", run}, {"body", body}});
  }
}

}  // namespace dlab::gui
