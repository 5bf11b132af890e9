#include "serve_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QCoreApplication>
#include <QProcessEnvironment>
#include <QTest>
#include <QUrl>
#include <fstream>

#include "protocol/message_types.h"

namespace dlab::test {

bool wait_until(const std::function<bool()>& pred, int timeout_ms) {
  return QTest::qWaitFor(pred, timeout_ms);
}

ServerProcess::ServerProcess(const std::string& runs_dir, const std::string& token,
                             const QStringList& extra_args, int64_t address_space_bytes) {
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
  if (address_space_bytes > 0) {
    // prlimit sets the limit on itself and then execs dlab: same pid.
    process_.start("prlimit", QStringList{"--as=" + QString::number(address_space_bytes), "--",
                                          DEPTHLAB_DLAB_BINARY} +
                                  args);
  } else {
    process_.start(DEPTHLAB_DLAB_BINARY, args);
  }
  // The documented listening line: "dlab serve: listening on ws://HOST:PORT".
  wait_until(
      [&] {
        while (process_.canReadLine()) {
          const std::string url = protocol::listening_url(process_.readLine().toStdString());
          if (!url.empty()) url_ = QString::fromStdString(url);
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

bool ServerProcess::terminate_and_wait(int timeout_ms) {
  if (process_.state() == QProcess::NotRunning) return true;
  process_.terminate();
  return process_.waitForFinished(timeout_ms);
}

int64_t ServerProcess::rss_kib() const {
  std::ifstream in("/proc/" + std::to_string(process_.processId()) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

std::string ServerProcess::stderr_text() {
  return QString::fromUtf8(process_.readAllStandardError()).toStdString();
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawClient::open(quint16 port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  const int rcvbuf = 4096;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return false;
  timeval tv{0, 200 * 1000};  // recv() waits at most 200 ms
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  send_bytes(
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  for (int i = 0; i < 25 && buffer_.find("\r\n\r\n") == std::string::npos; ++i) receive();
  const size_t end = buffer_.find("\r\n\r\n");
  if (end == std::string::npos || buffer_.rfind("HTTP/1.1 101", 0) != 0) return false;
  buffer_.erase(0, end + 4);
  return true;
}

bool RawClient::send_text(const std::string& text) {
  std::string f;
  f += char(0x81);
  if (text.size() < 126) {
    f += char(0x80 | text.size());
  } else {
    f += char(0x80 | 126);
    f += char((text.size() >> 8) & 0xff);
    f += char(text.size() & 0xff);
  }
  const char mask[4] = {0x12, 0x34, 0x56, 0x78};
  f.append(mask, 4);
  for (size_t i = 0; i < text.size(); ++i) f += char(text[i] ^ mask[i % 4]);
  return send_bytes(f);
}

std::vector<std::string> RawClient::read_text_frames() {
  receive();
  std::vector<std::string> texts;
  for (;;) {
    if (buffer_.size() < 2) break;
    const auto b0 = uint8_t(buffer_[0]), b1 = uint8_t(buffer_[1]);
    uint64_t len = b1 & 0x7f;
    size_t header = 2;
    if (len == 126) {
      if (buffer_.size() < 4) break;
      len = (uint64_t(uint8_t(buffer_[2])) << 8) | uint8_t(buffer_[3]);
      header = 4;
    } else if (len == 127) {
      if (buffer_.size() < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | uint8_t(buffer_[2 + size_t(i)]);
      header = 10;
    }
    if (buffer_.size() < header + len) break;
    if ((b0 & 0x0f) == 0x1) texts.push_back(buffer_.substr(header, size_t(len)));
    buffer_.erase(0, header + size_t(len));
  }
  return texts;
}

bool RawClient::send_bytes(const std::string& bytes) {
  for (size_t sent = 0; sent < bytes.size();) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += size_t(n);
  }
  return true;
}

void RawClient::receive() {
  char chunk[65536];
  const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
  if (n > 0) buffer_.append(chunk, size_t(n));
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
