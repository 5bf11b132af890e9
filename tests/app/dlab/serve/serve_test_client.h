// Test helpers for dlab serve: the server as a child process, and a QWebSocket
// client that sorts what arrives (control replies, telemetry, close reason).
#pragma once

#include <QProcess>
#include <QTcpSocket>
#include <QWebSocket>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dlab::test {

using json = nlohmann::json;

// Waits (running the event loop) until pred() or timeout_ms; returns pred().
bool wait_until(const std::function<bool()>& pred, int timeout_ms);

// `dlab serve --listen 127.0.0.1:0 --token-env DLAB_TEST_TOKEN --runs <runs_dir> <extra_args>`.
class ServerProcess {
 public:
  // address_space_bytes > 0: started under `prlimit --as=<bytes>` (the
  // allocation tests: a request must be refused, never kill the server).
  ServerProcess(const std::string& runs_dir, const std::string& token,
                const QStringList& extra_args = {}, int64_t address_space_bytes = 0);
  ~ServerProcess();  // SIGTERM, then wait (runs checkpoint)
  const QString& url() const { return url_; }
  quint16 port() const { return port_; }
  bool running() const { return process_.state() == QProcess::Running; }
  // SIGTERM and wait up to timeout_ms; true when it exited in that time.
  bool terminate_and_wait(int timeout_ms);
  // The server's resident memory (VmRSS of /proc/<pid>/status) in KiB, -1 if unknown.
  int64_t rss_kib() const;
  // What it wrote on stderr so far (for failure messages).
  std::string stderr_text();

 private:
  QProcess process_;
  QString url_;
  quint16 port_ = 0;
};

// A WebSocket client on a plain POSIX socket with a 4 KiB kernel receive
// buffer (set before connecting): while the test does not call recv(), the
// server's bytes pile up on its side within moments. (A QWebSocket always
// drains its socket, so it cannot play a client that stops reading.) Usable
// from any thread: no Qt.
class RawClient {
 public:
  ~RawClient();
  bool open(quint16 port);
  // A masked text frame, as a client must send. False once the connection is
  // gone (reset or closed by the server).
  bool send_text(const std::string& text);
  // Receives for up to ~200 ms and returns the text frames completed so far.
  std::vector<std::string> read_text_frames();

 private:
  bool send_bytes(const std::string& bytes);
  void receive();
  int fd_ = -1;
  std::string buffer_;
};

class Client {
 public:
  Client();
  bool open(const QString& url);
  void send(const json& message);
  void send_raw(const QString& text) { socket_.sendTextMessage(text); }
  // hello with `token`; true when server_info came back.
  bool hello(const std::string& token, const std::string& telemetry = "cbor");
  // The next control message matching type (any when "") and id (when >= 0), waiting up to
  // timeout_ms; null json when none came. Matching messages are consumed.
  json await(const std::string& type, int64_t id = -1, int timeout_ms = 20000);
  json request(json message, const std::string& reply_type, int timeout_ms = 20000);
  std::vector<json>& control() { return control_; }
  std::vector<json>& telemetry() { return telemetry_; }
  std::vector<json>& states() { return states_; }
  bool closed() const { return closed_; }
  int close_code() const { return close_code_; }
  const std::string& close_reason() const { return close_reason_; }
  int64_t received_before_close() const { return received_; }
  QWebSocket& socket() { return socket_; }
  void close() { socket_.close(); }

 private:
  void on_message(json j);
  QWebSocket socket_;
  std::vector<json> control_, telemetry_, states_;
  bool closed_ = false;
  int close_code_ = 0;
  std::string close_reason_;
  int64_t received_ = 0;
  int64_t next_id_ = 1;
};

}  // namespace dlab::test
