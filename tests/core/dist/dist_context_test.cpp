// The collectives on real c10d Gloo ranks, as threads of this process talking
// over 127.0.0.1 (the trainer-level equivalence runs ranks as processes:
// tests/e2e/dist_test.sh).
#include "dist/dist_context.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "common/error.h"

namespace dlab {
namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Runs body(context) on `world` rank threads; rethrows the first failure.
void ranks_run(int world, const DistOptions& options,
               const std::function<void(DistContext&)>& body) {
  const int port = free_port();
  std::vector<std::thread> threads;
  std::vector<std::string> errors(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        DistEnv env;
        env.rank = r;
        env.local_rank = r;
        env.world_size = world;
        env.master_addr = "127.0.0.1";
        env.master_port = port;
        DistContext ctx(env, options);
        body(ctx);
      } catch (const std::exception& e) {
        errors[size_t(r)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) EXPECT_EQ(errors[size_t(r)], "") << "rank " << r;
}

TEST(DistContext, SumAndBroadcastAndShare) {
  ranks_run(3, DistOptions{}, [](DistContext& ctx) {
    std::vector<double> v{double(ctx.rank()), 1.0, 0.1 * ctx.rank()};
    ctx.sum(v);
    EXPECT_DOUBLE_EQ(v[0], 3.0);  // 0 + 1 + 2
    EXPECT_DOUBLE_EQ(v[1], 3.0);
    EXPECT_NEAR(v[2], 0.3, 1e-15);
    const torch::Tensor a = torch::full({2, 3}, float(ctx.rank() + 1));
    const torch::Tensor b = torch::arange(5, torch::kFloat32) * float(ctx.rank() + 1);
    ctx.broadcast({a, b});
    EXPECT_TRUE(torch::equal(a, torch::full({2, 3}, 1.0f)));
    EXPECT_TRUE(torch::equal(b, torch::arange(5, torch::kFloat32)));
    EXPECT_EQ(ctx.share("name", ctx.is_root() ? "runs/x-2" : "ignored", 10), "runs/x-2");
  });
}

// Every bucket size gives the token-weighted sum of the ranks' gradients; a
// parameter without a gradient is left alone.
TEST(DistContext, BucketedGradientReductionIsTheWeightedSum) {
  for (double bucket_mb : {25.0, 0.0001}) {  // one bucket; one per parameter
    DistOptions options;
    options.bucket_mb = bucket_mb;
    ranks_run(2, options, [&](DistContext& ctx) {
      const double weight = ctx.rank() == 0 ? 0.25 : 0.75;  // e.g. 2 and 6 of 8 rows
      std::vector<torch::Tensor> params;
      for (int64_t n : {7, 300, 1}) {
        torch::Tensor p = torch::zeros({n}, torch::requires_grad());
        p.mutable_grad() = torch::arange(n, torch::kFloat32) + float(10 * ctx.rank());
        params.push_back(p);
      }
      params.push_back(torch::zeros({4}, torch::requires_grad()));  // no gradient
      const ReduceTiming t = ctx.reduce_gradients(params, weight);
      EXPECT_EQ(t.buckets, bucket_mb > 1 ? 1 : 3);
      EXPECT_EQ(t.bytes, (7 + 300 + 1) * 4);
      for (size_t i = 0; i < 3; ++i) {
        const int64_t n = params[i].numel();
        // 0.25 * (k + 0) + 0.75 * (k + 10) = k + 7.5
        const torch::Tensor want = torch::arange(n, torch::kFloat32) + 7.5f;
        EXPECT_TRUE(torch::allclose(params[i].grad(), want, 0, 1e-6)) << "param " << i;
      }
      EXPECT_FALSE(params[3].grad().defined());
    });
  }
}

// A rank that leaves makes the other's next collective fail with a message
// naming it, well within the timeout.
TEST(DistContext, ALostRankIsNamed) {
  DistOptions options;
  options.timeout_s = 20;
  std::string message;
  ranks_run(2, options, [&](DistContext& ctx) {
    std::vector<double> v{1.0};
    ctx.sum(v);                   // both present
    if (ctx.rank() == 1) return;  // leaves: its context (group, heartbeat) is destroyed
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto t0 = std::chrono::steady_clock::now();
    try {
      ctx.sum(v);
    } catch (const Error& e) {
      message = e.what();
    }
    const double took =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(took, options.timeout_s);
  });
  EXPECT_NE(message.find("failed on rank 0 of 2: rank 1 (no heartbeat"), std::string::npos)
      << message;
}

TEST(DistContext, BadOptionsAreRefused) {
  DistEnv env;
  env.world_size = 2;
  DistOptions options;
  options.backend = "mpi";
  EXPECT_THROW(DistContext(env, options), Error);
  options.backend = "gloo";
  options.timeout_s = 0;
  EXPECT_THROW(DistContext(env, options), Error);
  options.timeout_s = 5;
  options.bucket_mb = -1;
  EXPECT_THROW(DistContext(env, options), Error);
}

}  // namespace
}  // namespace dlab
