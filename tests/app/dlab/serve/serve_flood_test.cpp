// dlab serve under a flood (issue 13, failure 7): a client that sends
// requests and never reads its replies is dropped once its unsent replies
// pass --client-queue-mib, so the server's memory stays bounded; analysis
// requests are served round robin between clients, so a client that keeps its
// queue full delays another's request by at most the analysis running when it
// arrives; and a client's pending analyses are capped with a `busy` reply.
#include <gtest/gtest.h>

#include <QCoreApplication>
#include <QTest>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "serve_test_client.h"
#include "test_dir.h"

namespace dlab::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kToken = "flood-token";

fs::path test_dir(const std::string& name) { return test_dir_fresh("serve", "flood_" + name); }

// A finished run of width 64 (its Jacobian replies are ~50 KB of JSON each)
// with a checkpoint at its last step.
std::string finished_wide_run(Client& c) {
  const json started =
      c.request({{"type", "start"},
                 {"body",
                  {{"preset", "tiny"},
                   {"set",
                    {"run.name=wide", "train.steps=6", "train.checkpoint_every=6",
                     "train.eval_every=6", "model.d_model=64", "model.d_ff=128"}}}}},
                "", 60000);
  EXPECT_EQ(started.value("type", ""), "started") << started.dump();
  if (started.value("type", "") != "started") return "";
  const std::string run = started.value("run", "");
  c.request({{"type", "subscribe"}, {"run", run}}, "subscribed");
  EXPECT_TRUE(wait_until(
      [&] { return !c.states().empty() && c.states().back()["body"]["state"] == "finished"; },
      120000));
  return run;
}

json jacobian(const std::string& run, int64_t id) {
  return {{"v", 1},
          {"type", "jacobian"},
          {"id", id},
          {"run", run},
          {"body", {{"position", 0}, {"samples", 4}}}};
}

TEST(ServeFlood, AClientThatNeverReadsIsDroppedAndMemoryStaysBounded) {
  const fs::path dir = test_dir("noread");
  ServerProcess server((dir / "runs").string(), kToken,
                       {"--client-backlog-mib", "0.25", "--client-queue-mib", "1"});
  ASSERT_FALSE(server.url().isEmpty());
  Client good;
  ASSERT_TRUE(good.open(server.url()));
  ASSERT_TRUE(good.hello(kToken));
  const std::string run = finished_wide_run(good);
  ASSERT_FALSE(run.empty());
  ASSERT_EQ(good.request(jacobian(run, 0), "", 60000).value("type", ""), "jacobian");
  QTest::qWait(300);
  const int64_t rss0 = server.rss_kib();
  ASSERT_GT(rss0, 0);

  // The flooder: Jacobians (4 pending, the rest answered busy) and pings as
  // fast as it can send them, reading nothing. Its own thread: no Qt there.
  RawClient flooder;
  ASSERT_TRUE(flooder.open(server.port()));
  ASSERT_TRUE(
      flooder.send_text(R"({"v":1,"type":"hello","id":1,"body":{"token":")" + kToken + R"("}})"));
  std::atomic<bool> dropped{false}, quit{false};
  std::atomic<int64_t> sent{0};
  std::thread flood([&] {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    for (int64_t i = 2; !quit.load() && Clock::now() < deadline; ++i) {
      bool ok = flooder.send_text(jacobian(run, i).dump());
      for (int k = 0; ok && k < 20; ++k) ok = flooder.send_text(R"({"v":1,"type":"ping"})");
      if (!ok) {
        dropped.store(true);
        return;
      }
      sent.fetch_add(21);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });

  // Meanwhile the well-behaved client is answered promptly, and the server's
  // memory stays bounded.
  int64_t rss_max = rss0;
  double worst_s = 0;
  int answered = 0;
  const auto t0 = Clock::now();
  for (int64_t id = 100; !dropped.load() && Clock::now() - t0 < std::chrono::seconds(60); ++id) {
    const auto t = Clock::now();
    const json r = good.request(jacobian(run, id), "", 20000);
    EXPECT_EQ(r.value("type", ""), "jacobian") << r.dump();
    worst_s = std::max(worst_s, std::chrono::duration<double>(Clock::now() - t).count());
    ++answered;
    rss_max = std::max(rss_max, server.rss_kib());
  }
  quit.store(true);
  flood.join();
  std::cerr << "flooder: " << sent.load() << " messages in "
            << std::chrono::duration<double>(Clock::now() - t0).count() << " s, dropped "
            << dropped.load() << "; RSS " << rss0 << " -> max " << rss_max
            << " KiB; the other client's slowest reply " << worst_s << " s (" << answered
            << " replies)\n";
  EXPECT_TRUE(dropped.load()) << "the client that never reads was not dropped";
  EXPECT_LT(rss_max - rss0, 32 * 1024) << "the server's memory grew by more than 32 MiB";
  EXPECT_LT(worst_s, 10.0) << "the other client waited";
  EXPECT_TRUE(server.running());
  EXPECT_FALSE(good.request({{"type", "ping"}}, "pong").is_null());
  EXPECT_NE(server.stderr_text().find("dropped"), std::string::npos);
}

TEST(ServeFlood, AnalysesAreServedRoundRobinAndCappedPerClient) {
  const fs::path dir = test_dir("fair");
  ServerProcess server((dir / "runs").string(), kToken);
  ASSERT_FALSE(server.url().isEmpty());
  Client a, b;
  ASSERT_TRUE(a.open(server.url()));
  ASSERT_TRUE(a.hello(kToken));
  ASSERT_TRUE(b.open(server.url()));
  ASSERT_TRUE(b.hello(kToken));
  const std::string run = finished_wide_run(a);
  ASSERT_FALSE(run.empty());

  // a fills its queue: the fifth is refused as busy, naming the limit.
  int64_t next_id = 1000;
  for (int i = 0; i < 5; ++i) a.send(jacobian(run, next_id++));
  const json busy = a.await("error", 1004, 60000);
  EXPECT_EQ(busy["body"].value("code", ""), "busy") << busy.dump();
  EXPECT_NE(busy["body"].value("message", "").find("max_pending_jobs"), std::string::npos);

  // a keeps 4 pending; b asks now and then. Between b's request and its
  // reply, at most the Jacobian that was running (plus one delivered as b
  // sent) completes for a — first come first served would run a's 3 queued
  // ones first.
  int64_t a_done = 0, worst = 0;
  int rounds = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(90);
  while (rounds < 3 && Clock::now() < deadline) {
    int64_t a_at_send = -1;
    int64_t b_id = -1;
    wait_until(
        [&] {
          for (size_t i = 0; i < a.control().size();) {
            const json& m = a.control()[i];
            if (m.value("type", "") == "jacobian") {
              ++a_done;
              a.control().erase(a.control().begin() + long(i));
              a.send(jacobian(run, next_id++));  // back to 4 pending
              if (b_id < 0 && a_done >= 4 * (rounds + 1)) {
                a_at_send = a_done;
                b_id = 5000 + rounds;
                b.send(jacobian(run, b_id));
              }
            } else {
              ++i;
            }
          }
          if (b_id < 0) return false;
          for (const json& m : b.control()) {
            if (m.value("id", int64_t(-1)) == b_id) return true;
          }
          return false;
        },
        60000);
    ASSERT_GE(b_id, 0) << "a's Jacobians did not come back";
    const json reply = b.await("", b_id, 1000);
    ASSERT_EQ(reply.value("type", ""), "jacobian") << reply.dump();
    worst = std::max(worst, a_done - a_at_send);
    std::cerr << "round " << rounds << ": " << (a_done - a_at_send)
              << " of a's Jacobians completed while b waited\n";
    ++rounds;
  }
  EXPECT_EQ(rounds, 3);
  EXPECT_LE(worst, 2) << "b's request waited behind a's queue";
}

}  // namespace
}  // namespace dlab::test
