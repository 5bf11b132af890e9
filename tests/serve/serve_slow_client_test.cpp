// A slow client never blocks training (issue 4): a client that stops reading
// has its oldest telemetry dropped once its unsent bytes pass
// --client-backlog-mib, is told so with telemetry_dropped, and training and the
// other clients go on; run.h5 still has every step.
//
// The slow client speaks WebSocket by hand over a POSIX socket, so that it can
// really stop reading (a QWebSocket always drains its socket).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QCoreApplication>
#include <QTest>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "serve_test_client.h"
#include "store/run_file.h"

namespace dlab::test {
namespace {

const std::string kToken = "slow-client-token";

// A WebSocket client on a plain POSIX socket with a 4 KiB kernel receive
// buffer (set before connecting): while the test does not call recv(), the
// server's bytes pile up on its side within moments.
class RawClient {
 public:
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool open(quint16 port) {
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

  // A masked text frame, as a client must send.
  void send_text(const std::string& text) {
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
    send_bytes(f);
  }

  // Receives for up to ~200 ms and returns the text frames completed so far.
  std::vector<std::string> read_text_frames() {
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

 private:
  void send_bytes(const std::string& bytes) {
    for (size_t sent = 0; sent < bytes.size();) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += size_t(n);
    }
  }
  void receive() {
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0) buffer_.append(chunk, size_t(n));
  }

  int fd_ = -1;
  std::string buffer_;
};

std::filesystem::path test_dir() {
  const char* base = std::getenv("DEPTHLAB_TEST_TMP");
  const std::filesystem::path dir =
      std::filesystem::path(base ? base : "/tmp") /
      ("serve_slow_" + std::to_string(QCoreApplication::applicationPid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(ServeSlowClient, ItsTelemetryIsDroppedAndTrainingGoesOn) {
  const std::filesystem::path dir = test_dir();
  ServerProcess server((dir / "runs").string(), kToken, {"--client-backlog-mib", "0.05"});
  ASSERT_FALSE(server.url().isEmpty());

  Client observer;  // reads everything, all along
  ASSERT_TRUE(observer.open(server.url()));
  ASSERT_TRUE(observer.hello(kToken));
  const json started = observer.request(
      {{"type", "start"},
       {"body",
        {{"preset", "tiny"},
         // 16 blocks (wide per-layer rows) and small fast steps: a dense stream.
         {"set",
          {"run.name=slow", "model.n_layers=16", "train.batch_size=2", "data.seq_len=16",
           "train.steps=100000", "train.checkpoint_every=100000"}}}}},
      "started");
  ASSERT_FALSE(started.is_null());
  observer.request({{"type", "subscribe"}, {"run", "slow"}, {"body", {{"from_seq", 1}}}},
                   "subscribed");

  RawClient slow;
  ASSERT_TRUE(slow.open(server.port()));
  slow.send_text(R"({"v":1,"type":"hello","id":1,"body":{"token":")" + kToken +
                 R"(","telemetry":"json"}})");
  slow.send_text(R"({"v":1,"type":"subscribe","id":2,"run":"slow","body":{"from_seq":1}})");

  // The slow client reads nothing while the run trains on.
  auto observer_step = [&] {
    const auto& t = observer.telemetry();
    return t.empty() ? int64_t(-1) : t.back()["body"]["steps"].back()["step"].get<int64_t>();
  };
  ASSERT_TRUE(wait_until([&] { return observer_step() >= 20; }, 60000));
  // Long enough for the stream to overflow the kernel's socket buffers (the
  // server's send buffer grows to a few MB on loopback) and then the backlog.
  size_t counted = 0, counted_bytes = 0;
  auto observer_bytes = [&] {
    const auto& t = observer.telemetry();
    for (; counted < t.size(); ++counted) counted_bytes += t[counted].dump().size();
    return counted_bytes;
  };
  const int64_t step_a = observer_step();
  const size_t bytes_a = observer_bytes();
  wait_until([&] { return observer_bytes() > bytes_a + (size_t(5) << 20); }, 40000);
  const int64_t step_b = observer_step();
  std::cerr << "stall: " << (observer_bytes() - bytes_a) << " bytes, steps " << step_a << ".."
            << step_b << "\n";
  EXPECT_GT(step_b, step_a + 10) << "training (or the other client) slowed down";

  // Now it reads: somewhere in its stream it was told what it lost.
  bool told = false;
  size_t frames = 0;
  std::string last;
  ASSERT_TRUE(wait_until(
      [&] {
        for (const std::string& t : slow.read_text_frames()) {
          ++frames;
          last = t.substr(0, 200);
          if (t.find("\"telemetry_dropped\"") != std::string::npos) told = true;
        }
        return told;
      },
      20000))
      << "no telemetry_dropped message in " << frames << " frames; last: " << last
      << "; observer messages: " << observer.telemetry().size();

  observer.request({{"type", "stop"}, {"run", "slow"}}, "ok");
  ASSERT_TRUE(wait_until(
      [&] {
        return !observer.states().empty() && observer.states().back()["body"]["state"] == "stopped";
      },
      60000));
  // run.h5 has every step, whatever the slow client missed.
  const SeriesData loss = RunReader::open(dir / "runs" / "slow" / "run.h5").read("loss");
  ASSERT_GT(loss.steps.size(), 20u);
  for (size_t i = 0; i < loss.steps.size(); ++i) ASSERT_EQ(loss.steps[i], int64_t(i) + 1);
}

}  // namespace
}  // namespace dlab::test
