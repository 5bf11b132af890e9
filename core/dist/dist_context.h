// One rank's membership in a data-parallel group: rendezvous through c10d's
// TCPStore (hosted by rank 0), a c10d process group (ProcessGroupGloo on CPU,
// ProcessGroupNCCL on CUDA when LibTorch has it), and the collectives the
// trainer needs. A heartbeat thread publishes this rank's liveness and step in
// the store so that, when a collective fails or times out, the survivors can
// say which rank died or hung (see docs/distributed.md).
//
// Threading: every method except the heartbeat runs on the training thread; a
// failed collective throws dlab::Error with a message naming the rank.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dist/dist_env.h"

namespace dlab {

struct DistOptions {
  std::string backend = "auto";  // auto (nccl with CUDA, else gloo), gloo, nccl
  double timeout_s = 60;         // a collective or rendezvous waiting longer fails
  double bucket_mb = 25;         // gradient all-reduce bucket size
};

// Time spent in one gradient reduction.
struct ReduceTiming {
  double seconds = 0;
  int buckets = 0;
  int64_t bytes = 0;
};

class DistContext {
 public:
  // Joins the group described by `env` (blocks until every rank has joined, or
  // throws after timeout_s). Throws dlab::Error for a bad backend or options.
  DistContext(const DistEnv& env, const DistOptions& options);
  ~DistContext();
  DistContext(const DistContext&) = delete;
  DistContext& operator=(const DistContext&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  bool is_root() const { return env_.rank == 0; }
  const std::string& backend() const { return backend_; }
  const DistOptions& options() const { return options_; }

  // Rank 0's tensors, copied in place into every rank's (same shapes, same order).
  void broadcast(const std::vector<torch::Tensor>& tensors);
  // In-place all-reduce sum in float64.
  void sum(std::vector<double>& values);
  // Scales each rank's gradients by its `weight` (its share of the global batch's
  // tokens) and sums them across ranks in buckets of options().bucket_mb, all
  // buckets in flight at once; afterwards every rank holds the token-weighted
  // mean gradient. Parameters without a gradient are skipped on every rank alike.
  ReduceTiming reduce_gradients(const std::vector<torch::Tensor>& params, double weight);

  // Rank 0's `value` for `key`, on every rank (through the store, no timeout
  // beyond `wait_s`): used for the run directory name and "data is ready".
  std::string share(const std::string& key, const std::string& value, double wait_s);
  // Published with the heartbeat; names the laggard when a collective hangs.
  void set_step(int64_t step);

 private:
  struct Impl;
  void group_create(std::chrono::milliseconds timeout);
  void heartbeat_start(std::chrono::milliseconds timeout);
  template <class F>
  void guarded(const char* what, F&& f);
  std::string failure_diagnosis() const;

  DistEnv env_;
  DistOptions options_;
  std::string backend_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dlab
