#include "serve_test_client.h"

#include <QCoreApplication>
#include <QProcessEnvironment>
#include <QTest>
#include <QUrl>

namespace dlab::test {

bool wait_until(const std::function<bool()>& pred, int timeout_ms) {
  return QTest::qWaitFor(pred, timeout_ms);
}

ServerProcess::ServerProcess(const std::string& runs_dir, const std::string& token,
                             const QStringList& extra_args) {
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  env.insert("DLAB_TEST_TOKEN", QString::fromStdString(token));
  process_.setProcessEnvironment(env);
  process_.setProcessChannelMode(QProcess::SeparateChannels);
  process_.setReadChannel(QProcess::StandardOutput);
  const QStringList args = QStringList{"serve",
                                       "--listen",
                                       "127.0.0.1:0",
                                       "--token-env",
                                       "DLAB_TEST_TOKEN",
                                       "--runs",
                                       QString::fromStdString(runs_dir)} +
                           extra_args;
  process_.start(DLAB_BINARY, args);
  // The documented listening line: "dlab serve: listening on ws://HOST:PORT".
  const QString prefix = "dlab serve: listening on ";
  wait_until(
      [&] {
        while (process_.canReadLine()) {
          const QString line = QString::fromUtf8(process_.readLine()).trimmed();
          if (line.startsWith(prefix)) url_ = line.mid(prefix.size());
        }
        return !url_.isEmpty() || process_.state() == QProcess::NotRunning;
      },
      60000);
  port_ = quint16(QUrl(url_).port());
}

ServerProcess::~ServerProcess() {
  if (process_.state() != QProcess::NotRunning) {
    process_.terminate();
    if (!process_.waitForFinished(30000)) process_.kill();
  }
}

Client::Client() {
  QObject::connect(&socket_, &QWebSocket::textMessageReceived, [this](const QString& text) {
    on_message(json::parse(text.toStdString(), nullptr, /*allow_exceptions=*/false));
  });
  QObject::connect(&socket_, &QWebSocket::binaryMessageReceived, [this](const QByteArray& b) {
    const std::string bytes(b.constData(), size_t(b.size()));
    on_message(json::from_cbor(bytes, true, /*allow_exceptions=*/false));
  });
  QObject::connect(&socket_, &QWebSocket::disconnected, [this] {
    closed_ = true;
    close_code_ = int(socket_.closeCode());
    close_reason_ = socket_.closeReason().toStdString();
  });
}

void Client::on_message(json j) {
  ++received_;
  const std::string type = j.is_object() ? j.value("type", "") : "";
  if (type == "telemetry") {
    telemetry_.push_back(std::move(j));
  } else {
    if (type == "run_state") states_.push_back(j);
    control_.push_back(std::move(j));
  }
}

bool Client::open(const QString& url) {
  socket_.open(QUrl(url));
  return wait_until([&] { return socket_.state() == QAbstractSocket::ConnectedState || closed_; },
                    20000) &&
         !closed_;
}

void Client::send(const json& message) {
  socket_.sendTextMessage(QString::fromStdString(message.dump()));
}

bool Client::hello(const std::string& token, const std::string& telemetry) {
  const json r = request(
      {{"type", "hello"}, {"body", {{"token", token}, {"telemetry", telemetry}}}}, "server_info");
  return !r.is_null();
}

json Client::await(const std::string& type, int64_t id, int timeout_ms) {
  json found;
  wait_until(
      [&] {
        for (size_t i = 0; i < control_.size(); ++i) {
          const json& m = control_[i];
          if ((type.empty() || m.value("type", "") == type) &&
              (id < 0 || m.value("id", int64_t(-1)) == id)) {
            found = m;
            control_.erase(control_.begin() + long(i));
            return true;
          }
        }
        return closed_;
      },
      timeout_ms);
  return found;
}

json Client::request(json message, const std::string& reply_type, int timeout_ms) {
  const int64_t id = next_id_++;
  message["v"] = 1;
  message["id"] = id;
  send(message);
  return await(reply_type, id, timeout_ms);
}

}  // namespace dlab::test
