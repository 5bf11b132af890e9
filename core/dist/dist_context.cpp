#include "dist/dist_context.h"

// c10d guards its Gloo / NCCL headers with these macros. Every LibTorch we build
// against (Debian's, pip's wheels) has Gloo; CMake sets DEPTHLAB_HAVE_NCCL for a
// CUDA LibTorch. Defined here rather than on the command line so that the shared
// precompiled torch header stays valid for this file.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#if defined(DEPTHLAB_HAVE_NCCL) && !defined(USE_C10D_NCCL)
#define USE_C10D_NCCL
#endif
#include <torch/version.h>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "common/error.h"

namespace dlab {
namespace {

using Millis = std::chrono::milliseconds;
constexpr Millis kHeartbeatPeriod{250};

Millis to_millis(double seconds) { return Millis(int64_t(seconds * 1000.0)); }

std::string bytes_to_string(const std::vector<uint8_t>& v) {
  return std::string(v.begin(), v.end());
}
std::vector<uint8_t> string_to_bytes(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

// `member`: this rank's own connection, counted by the rendezvous (rank 0's
// server waits until all world_size members have checked in); the heartbeat and
// diagnosis connections are extra clients that do not count.
c10::intrusive_ptr<c10d::TCPStore> store_connect(const DistEnv& env, bool member, Millis timeout) {
  const bool server = member && env.rank == 0;
  c10d::TCPStoreOptions o;
  o.port = uint16_t(env.master_port);
  o.isServer = server;
  o.numWorkers = member ? c10::optional<std::size_t>(env.world_size) : c10::nullopt;
  o.waitWorkers = member;
  o.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
}

// c10's messages carry a C++ stack trace; users need the first line.
std::string brief(const std::exception& e) {
  if (const auto* c10e = dynamic_cast<const c10::Error*>(&e)) return c10e->what_without_backtrace();
  const std::string w = e.what();
  return w.substr(0, w.find('\n'));
}

std::string backend_choose(const std::string& requested) {
  if (requested == "auto") return torch::cuda::is_available() ? "nccl" : "gloo";
  if (requested == "gloo" || requested == "nccl") return requested;
  throw Error("--dist-backend=" + requested + " is not one of auto, gloo, nccl");
}

}  // namespace

// LibTorch 2 split process groups into a front end and backends
// (ProcessGroupGloo / ProcessGroupNCCL derive from c10d::Backend there); in 1.x
// they are ProcessGroups. Both have the collectives used here.
#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif

struct DistContext::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;  // rank 0 hosts the server
  c10::intrusive_ptr<GroupBase> group;

  // heartbeat: its own store client (TCPStore clients are not thread-safe)
  std::thread heartbeat;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::atomic<int64_t> step{0};
};

DistContext::DistContext(const DistEnv& env, const DistOptions& options)
    : env_(env), options_(options), impl_(std::make_unique<Impl>()) {
  if (!(options.timeout_s > 0)) {
    throw Error("--dist-timeout=" + std::to_string(options.timeout_s) + " must be > 0 seconds");
  }
  if (!(options.bucket_mb > 0)) {
    throw Error("--bucket-mb=" + std::to_string(options.bucket_mb) + " must be > 0");
  }
  backend_ = backend_choose(options.backend);
  const Millis timeout = to_millis(options.timeout_s);
  try {
    impl_->store = store_connect(env, /*member=*/true, timeout);
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(env.rank) + " could not join the rendezvous at " +
                env.master_addr + ":" + std::to_string(env.master_port) + " within " +
                std::to_string(int(options.timeout_s)) + " s (" + brief(e) + ")");
  }
  try {
    group_create(timeout);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) +
                " could not join the rendezvous at " + env.master_addr + ":" +
                std::to_string(env.master_port) + ": not every rank connected within " +
                std::to_string(int(options.timeout_s)) + " s (" + brief(e) +
                "); start all WORLD_SIZE ranks with the same MASTER_ADDR and MASTER_PORT");
  }
  heartbeat_start(timeout);
}

void DistContext::group_create(std::chrono::milliseconds timeout) {
  const DistEnv& env = env_;
  if (backend_ == "gloo") {
#ifdef USE_C10D_GLOO
    auto o = c10d::ProcessGroupGloo::Options::create(timeout);
    // Bind the transport to the rendezvous address: loopback for local ranks,
    // the master's network for multi-machine runs.
    const bool local = env.master_addr == "127.0.0.1" || env.master_addr == "localhost";
    o->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                               : c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->group =
        c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env.rank, env.world_size, o);
#else
    throw Error("this LibTorch was built without Gloo (USE_C10D_GLOO); use --dist-backend=nccl");
#endif
  } else {
#ifdef USE_C10D_NCCL
    auto o = c10d::ProcessGroupNCCL::Options::create();
    o->timeout = timeout;
    impl_->group =
        c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, env.rank, env.world_size, o);
#else
    throw Error(
        "--dist-backend=nccl needs a CUDA LibTorch with NCCL; this one has none (use gloo)");
#endif
  }
}

// Heartbeat: "<beats> <step>" under hb/<rank>, every kHeartbeatPeriod.
void DistContext::heartbeat_start(std::chrono::milliseconds timeout) {
  const DistEnv& env = env_;
  auto hb_store = store_connect(env, /*member=*/false, timeout);
  impl_->heartbeat = std::thread([this, hb_store] {
    int64_t beats = 0;
    std::unique_lock<std::mutex> lock(impl_->mu);
    while (!impl_->stopping) {
      try {
        hb_store->set(
            "hb/" + std::to_string(env_.rank),
            string_to_bytes(std::to_string(++beats) + " " + std::to_string(impl_->step.load())));
      } catch (const std::exception&) {
        return;  // the store (rank 0) is gone; the training thread will find out
      }
      impl_->cv.wait_for(lock, kHeartbeatPeriod, [this] { return impl_->stopping; });
    }
  });
}

DistContext::~DistContext() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->heartbeat.joinable()) impl_->heartbeat.join();
}

void DistContext::set_step(int64_t step) { impl_->step.store(step); }

// Which rank stopped: a rank whose heartbeat does not advance over a second is
// dead or frozen; a store that cannot be reached means rank 0 (its host) is gone;
// with every heartbeat alive, the rank with the lowest step is stuck.
std::string DistContext::failure_diagnosis() const {
  std::map<int, std::string> first, second;
  try {
    auto s = store_connect(env_, /*member=*/false, Millis(2000));
    auto read_all = [&](std::map<int, std::string>& into) {
      for (int r = 0; r < env_.world_size; ++r) {
        if (r == env_.rank) continue;
        const std::string key = "hb/" + std::to_string(r);
        into[r] = s->check({key}) ? bytes_to_string(s->get(key)) : "";
      }
    };
    read_all(first);
    std::this_thread::sleep_for(4 * kHeartbeatPeriod + Millis(200));
    read_all(second);
  } catch (const std::exception&) {
    if (env_.rank != 0) return "rank 0 (it hosts the rendezvous store, which no longer answers)";
  }
  std::string dead;
  int64_t lowest_step = -1;
  int lowest_rank = -1;
  for (const auto& [r, v] : second) {
    if (v.empty() || v == first[r]) {
      dead += (dead.empty() ? "rank " : ", rank ") + std::to_string(r);
      continue;
    }
    const int64_t step = std::stoll(v.substr(v.find(' ') + 1));
    if (lowest_rank < 0 || step < lowest_step) {
      lowest_step = step;
      lowest_rank = r;
    }
  }
  if (!dead.empty()) return dead + " (no heartbeat: the process died or is frozen)";
  if (lowest_rank >= 0) {
    return "rank " + std::to_string(lowest_rank) + " (alive but stuck at step " +
           std::to_string(lowest_step) + ")";
  }
  return "an unknown rank";
}

template <class F>
void DistContext::guarded(const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    throw Error("distributed " + std::string(what) + " failed on rank " +
                std::to_string(env_.rank) + " of " + std::to_string(env_.world_size) + ": " +
                failure_diagnosis() + " stopped responding within the " +
                std::to_string(int(options_.timeout_s)) + " s timeout (" + brief(e) + ")");
  }
}

void DistContext::broadcast(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> flat_parts;
  for (const auto& t : tensors) flat_parts.push_back(t.detach().reshape({-1}).to(torch::kFloat32));
  std::vector<torch::Tensor> flat{torch::cat(flat_parts)};
  guarded("broadcast", [&] { impl_->group->broadcast(flat)->wait(); });
  int64_t offset = 0;
  for (const auto& t : tensors) {
    t.detach().copy_(flat[0].narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

void DistContext::sum(std::vector<double>& values) {
  if (values.empty()) return;
  std::vector<torch::Tensor> t{torch::tensor(values, torch::kFloat64)};
  guarded("all-reduce", [&] { impl_->group->allreduce(t)->wait(); });
  const double* p = t[0].data_ptr<double>();
  for (size_t i = 0; i < values.size(); ++i) values[i] = p[i];
}

ReduceTiming DistContext::reduce_gradients(const std::vector<torch::Tensor>& params,
                                           double weight) {
  torch::NoGradGuard no_grad;
  const auto t0 = std::chrono::steady_clock::now();
  ReduceTiming timing;
  const int64_t bucket_bytes = std::max<int64_t>(1, int64_t(options_.bucket_mb * 1024 * 1024));
  // Buckets in reverse registration order: the last layers' gradients are the
  // first ones backward finishes, so this order suits overlapping later.
  std::vector<std::vector<torch::Tensor>> buckets(1);
  int64_t filled = 0;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    const torch::Tensor& g = it->grad();
    if (!g.defined()) continue;
    const int64_t bytes = g.numel() * int64_t(g.element_size());
    if (filled > 0 && filled + bytes > bucket_bytes) {
      buckets.emplace_back();
      filled = 0;
    }
    buckets.back().push_back(g);
    filled += bytes;
    timing.bytes += bytes;
  }
  if (buckets.back().empty()) return timing;
  std::vector<std::vector<torch::Tensor>> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  guarded("gradient all-reduce", [&] {
    for (const auto& bucket : buckets) {
      std::vector<torch::Tensor> parts;
      for (const auto& g : bucket) parts.push_back(g.reshape({-1}));
      flats.push_back({torch::cat(parts).mul_(weight)});       // (numel of the bucket,)
      works.push_back(impl_->group->allreduce(flats.back()));  // in flight, not waited
    }
    for (auto& w : works) w->wait();
  });
  for (size_t b = 0; b < buckets.size(); ++b) {
    int64_t offset = 0;
    for (const auto& g : buckets[b]) {
      g.copy_(flats[b][0].narrow(0, offset, g.numel()).view(g.sizes()));
      offset += g.numel();
    }
  }
  timing.buckets = int(buckets.size());
  timing.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return timing;
}

std::string DistContext::share(const std::string& key, const std::string& value, double wait_s) {
  const std::string k = "share/" + key;
  if (is_root()) {
    impl_->store->set(k, string_to_bytes(value));
    return value;
  }
  try {
    impl_->store->wait({k}, to_millis(wait_s));
    return bytes_to_string(impl_->store->get(k));
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(rank()) + " waited " + std::to_string(int(wait_s)) +
                " s for rank 0 to publish '" + key + "' and gave up: " + failure_diagnosis() +
                " (" + brief(e) + ")");
  }
}

}  // namespace dlab
