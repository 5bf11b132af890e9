#include "worker_client.h"

#include <QCborValue>
#include <QCryptographicHash>
#include <QJsonDocument>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslError>
#include <QWebSocket>
#include <algorithm>

#include "protocol/message_types.h"

namespace dlab::client {

namespace msg = protocol::type;

// ---- the socket side, on the client's private thread --------------------------------------

class WorkerClient::Endpoint : public QObject {
 public:
  explicit Endpoint(WorkerClient* owner) : owner_(owner) {}

  void open(quint64 generation, const QUrl& url, const QString& token, const QByteArray& pinned) {
    dropSocket();
    generation_ = generation;
    token_ = token;
    closed_reported_ = false;
    socket_ = new QWebSocket(QString(), QWebSocketProtocol::VersionLatest, this);
    // A certificate the system does not trust: accepted only when it is the
    // one the user pinned for this address, else the user is asked.
    connect(socket_, &QWebSocket::sslErrors, this, [this, url, pinned](const QList<QSslError>& e) {
      QSslCertificate peer = socket_->sslConfiguration().peerCertificate();
      for (const QSslError& err : e)
        if (peer.isNull() && !err.certificate().isNull()) peer = err.certificate();
      const QByteArray sha256 = peer.digest(QCryptographicHash::Sha256);
      if (!pinned.isEmpty() && !peer.isNull() && sha256 == pinned) {
        socket_->ignoreSslErrors();
        return;
      }
      Certificate c;
      c.host_port = QString("%1:%2").arg(url.host()).arg(url.port());
      c.sha256 = sha256;
      c.subject = peer.subjectDisplayName();
      c.expires = peer.expiryDate().date().toString(Qt::ISODate);
      QStringList problems;
      for (const QSslError& err : e) problems << err.errorString();
      c.problems = problems.join("; ");
      const quint64 g = generation_;
      post([g, c](WorkerClient* o) { o->onUntrusted(g, c); });
    });
    connect(socket_, &QWebSocket::connected, this, [this] {
      // The first message must be hello (docs/protocol.md, Authentication).
      QJsonObject body{{"token", token_}, {"telemetry", "cbor"}};
      QJsonObject hello{
          {"v", protocol::kVersion}, {"type", msg::kHello}, {"id", 0}, {"body", body}};
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
    if (m.value("type").toString() == msg::kTelemetry) {
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
    if (m.value(QStringLiteral("type")).toString() == msg::kTelemetry) {
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

// ---- the owning thread's side
// -------------------------------------------------------------------------

WorkerClient::WorkerClient(QObject* parent) : QObject(parent) {
  qRegisterMetaType<dlab::client::TelemetryBatch>();
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
  Q_EMIT stateChanged(s, detail.isEmpty() ? stateText() : detail);
}

void WorkerClient::connectTo(const QUrl& url, const QString& token) {
  url_ = url;
  token_ = token;
  attempts_ = 0;
  server_info_ = ServerInfo();
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
  const auto pin = pinned_.find(QString("%1:%2").arg(url.host()).arg(url.port()));
  const QByteArray pinned = pin == pinned_.end() ? QByteArray() : pin->second;
  QMetaObject::invokeMethod(
      e, [e, g, url, token, pinned] { e->open(g, url, token, pinned); }, Qt::QueuedConnection);
}

void WorkerClient::scheduleReconnect(const QString& why) {
  ++attempts_;
  const int delay_ms = std::min(5000, 500 << std::min(attempts_ - 1, 4));
  setState(State::Reconnecting,
           tr("%1; reconnecting in %2 s").arg(why).arg(delay_ms / 1000.0, 0, 'f', 1));
  reconnect_timer_.start(delay_ms);
}

void WorkerClient::trustCertificate(const QString& host_port, const QByteArray& sha256) {
  pinned_[host_port] = sha256;
}

QString certificate_fingerprint_text(const QByteArray& sha256) {
  return QString::fromLatin1(sha256.toHex(':').toUpper());
}

void WorkerClient::onUntrusted(quint64 generation, const Certificate& certificate) {
  if (generation != generation_) return;
  untrusted_generation_ = generation;
  Q_EMIT untrustedCertificate(certificate);
}

void WorkerClient::onClosed(quint64 generation, int code, const QString& reason) {
  if (generation != generation_) return;
  failPending(tr("the connection to the worker dropped"));
  const bool was_connected = state_ == State::Connected;
  // Its certificate is not trusted: retrying would meet the same one.
  if (untrusted_generation_ == generation) {
    const QString why = tr("the worker's TLS certificate is not trusted (%1)").arg(reason);
    setState(State::Disconnected, why);
    if (!was_connected) Q_EMIT connectFailed(why);
    return;
  }
  // 1008: the token was refused; retrying would only be refused again.
  if (code == 1008) {
    const QString why = tr("the worker refused the connection: %1").arg(reason);
    setState(State::Disconnected, why);
    if (!was_connected) Q_EMIT connectFailed(why);
    return;
  }
  const QString why = reason.isEmpty() ? tr("connection closed") : reason;
  scheduleReconnect(why);
  if (!was_connected) Q_EMIT connectFailed(why);
}

void WorkerClient::onMessage(quint64 generation, const QJsonObject& m) {
  if (generation != generation_) return;
  const QString type = m.value("type").toString();
  const QString run = m.value("run").toString();
  if (type == msg::kServerInfo && m.value("id").toInteger(-1) == 0 && state_ != State::Connected) {
    server_info_ = server_info_parse(m).value;
    attempts_ = 0;
    setState(State::Connected, {});
    resubscribe();
    Q_EMIT connected(server_info_);
    return;
  }
  if (type == msg::kRunState) {
    Q_EMIT runState(run, run_state_parse(m.value("body").toObject()));
    return;
  }
  if (type == msg::kSweepState) {
    Q_EMIT sweepState(sweep_parse(m.value("body").toObject()));
    return;
  }
  if (type == msg::kTelemetryGap || type == msg::kTelemetryDropped) {
    const QJsonObject b = m.value("body").toObject();
    const QString what = type == msg::kTelemetryGap
                             ? tr("older than the worker's replay buffer")
                             : tr("dropped because this client read too slowly");
    Q_EMIT streamNotice(run, tr("run %1: telemetry %2..%3 %4 (run.h5 has every step)")
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
  if (type == msg::kSubscribed) {  // a subscription from the oldest held learns where it starts
    auto sub = subscriptions_.find(run);
    if (sub != subscriptions_.end() && sub->second < 0)
      sub->second = m.value("body").toObject().value("from_seq").toInteger(1) - 1;
  }
  const int64_t id = m.value("id").toInteger(-1);
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // a reply nobody waits for (e.g. subscribe)
  Pending p = it->second;
  if (type != msg::kAnalysisProgress) pending_.erase(it);
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
  Q_EMIT telemetry(batch);
}

void WorkerClient::sendNow(const QJsonObject& envelope) {
  Endpoint* e = endpoint_;
  const quint64 g = generation_;
  const QByteArray text = QJsonDocument(envelope).toJson(QJsonDocument::Compact);
  QMetaObject::invokeMethod(
      e, [e, g, text] { e->send(g, text); }, Qt::QueuedConnection);
}

void WorkerClient::request(const char* type, const QString& run, const QJsonObject& body,
                           QObject* context, ReplyHandler handler) {
  if (state_ != State::Connected) {
    handler(QJsonObject{
        {"type", msg::kError},
        {"body", QJsonObject{{"code", "disconnected"},
                             {"message", tr("no worker connected (%1)").arg(stateText())}}}});
    return;
  }
  const int64_t id = next_id_;
  const QJsonObject message = envelope(type, run, body);
  Pending p;
  p.context = context;
  p.has_context = context != nullptr;
  p.handler = std::move(handler);
  pending_[id] = std::move(p);
  sendNow(message);
}

QJsonObject WorkerClient::envelope(const char* type, const QString& run, const QJsonObject& body) {
  QJsonObject e{
      {"v", protocol::kVersion}, {"type", type}, {"id", qint64(next_id_++)}, {"body", body}};
  if (!run.isEmpty()) e.insert("run", run);
  return e;
}

void WorkerClient::listRuns(QObject* context, Handler<std::vector<RunEntry>> handler) {
  request(msg::kListRuns, {}, {}, context, [handler](const QJsonObject& m) {
    if (handler) handler(runs_parse(m));
  });
}

void WorkerClient::start(const StartRequest& r, QObject* context, Handler<Started> handler) {
  request(msg::kStart, {}, start_body(r), context, [handler](const QJsonObject& m) {
    if (handler) handler(started_parse(m));
  });
}

void WorkerClient::continueRun(const QString& run, const QStringList& sets, QObject* context,
                               Handler<Started> handler) {
  request(msg::kContinue, run, continue_body(sets), context, [handler](const QJsonObject& m) {
    if (handler) handler(started_parse(m));
  });
}

void WorkerClient::control(RunControl what, const QString& run, QObject* context,
                           Handler<RunControlled> handler) {
  request(run_control_type(what), run, {}, context, [handler](const QJsonObject& m) {
    if (handler) handler(run_controlled_parse(m));
  });
}

void WorkerClient::startSweep(const StartRequest& r, const QString& sweep, QObject* context,
                              Handler<Sweep> handler) {
  request(msg::kSweep, {}, sweep_body(r, sweep), context, [handler](const QJsonObject& m) {
    if (handler) handler(sweep_queued_parse(m));
  });
}

void WorkerClient::listSweeps(QObject* context, Handler<std::vector<Sweep>> handler) {
  request(msg::kListSweeps, {}, {}, context, [handler](const QJsonObject& m) {
    if (handler) handler(sweeps_parse(m));
  });
}

void WorkerClient::cancelSweep(const QString& id, QObject* context, Handler<Sweep> handler) {
  request(msg::kCancelSweep, {}, QJsonObject{{"sweep", id}}, context,
          [handler](const QJsonObject& m) {
            if (handler) handler(sweep_cancelled_parse(m));
          });
}

void WorkerClient::evaluate(const QString& run, const EvaluateRequest& r, QObject* context,
                            Handler<Evaluation> handler) {
  request(msg::kEvaluate, run, evaluate_body(r), context, [handler](const QJsonObject& m) {
    if (handler) handler(evaluation_parse(m));
  });
}

void WorkerClient::analyze(const QString& run, const AnalyzeRequest& r, QObject* context,
                           std::function<void(const AnalysisProgress&)> progress,
                           Handler<AnalysisResult> handler) {
  request(msg::kAnalyze, run, analyze_body(r), context, [progress, handler](const QJsonObject& m) {
    if (m.value("type").toString() == msg::kAnalysisProgress) {
      if (progress) progress(analysis_progress_parse(m));
      return;
    }
    if (handler) handler(analysis_result_parse(m));
  });
}

void WorkerClient::jacobian(const QString& run, const JacobianRequest& r, QObject* context,
                            Handler<Jacobian> handler) {
  request(msg::kJacobian, run, jacobian_body(r), context, [handler](const QJsonObject& m) {
    if (handler) handler(jacobian_parse(m));
  });
}

void WorkerClient::failPending(const QString& why) {
  std::map<int64_t, Pending> failed;
  failed.swap(pending_);
  const QJsonObject error{{"type", msg::kError},
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
  return it == subscriptions_.end() ? 0 : std::max<int64_t>(0, it->second);
}

void WorkerClient::subscribe(const QString& run, int64_t from_seq) {
  if (subscriptions_.count(run)) return;
  // -1: from the oldest message held; the subscribed reply says which that is.
  subscriptions_[run] = from_seq == kFromOldest ? -1 : std::max<int64_t>(1, from_seq) - 1;
  if (state_ == State::Connected) sendSubscribe(run);  // else resubscribe() once connected
}

void WorkerClient::unsubscribe(const QString& run) {
  if (!subscriptions_.erase(run) || state_ != State::Connected) return;
  sendNow(envelope(msg::kUnsubscribe, run, {}));
}

void WorkerClient::sendSubscribe(const QString& run) {
  // from_seq = (last seq received) + 1: the stream continues with no gap and no duplicate.
  const int64_t last = subscriptions_.at(run);
  const QJsonObject body =
      last < 0 ? QJsonObject{} : QJsonObject{{"from_seq", qint64(last + 1)}};
  sendNow(envelope(msg::kSubscribe, run, body));
}

void WorkerClient::resubscribe() {
  for (const auto& entry : subscriptions_) sendSubscribe(entry.first);
}

}  // namespace dlab::client
