// Whether a config fits this machine, checked before anything is allocated:
// the memory a run or an analysis will need against what the process may use,
// and the thread count against the cores. config_validate (pure, the same on
// every machine) bounds each field; this adds what depends on the machine.
// No torch.
#pragma once

#include <cstdint>
#include <string>

#include "common/config.h"

namespace dlab {

// Sizes in bytes, computed in checked 64-bit arithmetic from the config alone.
struct ResourceEstimate {
  int64_t parameters = 0;        // every parameter, all experts included
  int64_t weight_bytes = 0;      // weights, gradients, AdamW moments, working copies
  int64_t activation_bytes = 0;  // what one step keeps for its backward pass
  int64_t fixed_bytes = 0;       // the process itself, buffers, the LM head's chunk
  int64_t total() const { return weight_bytes + activation_bytes + fixed_bytes; }
};

enum class Workload { Training, Analysis };

// dlab::Error naming the fields when a size overflows 64 bits (the field limits
// of config_validate make that impossible for a valid config).
ResourceEstimate resource_estimate(const Config& config, Workload workload);

// Bytes this process may still allocate: the smallest of MemAvailable, the
// address-space and data limits (RLIMIT_AS, RLIMIT_DATA) less what is mapped,
// and the cgroup's memory.max less its usage.
int64_t memory_available_bytes();

// Online CPUs of this machine (sysconf), at least 1.
int cpu_count_online();

// Throws dlab::Error when the estimate exceeds what is available (naming the
// fields that drive it and how much is there) or train.threads exceeds
// 4 x the CPUs.
void config_check_resources(const Config& config, Workload workload);

// "1.5 GiB", "730 MiB"
std::string format_bytes(int64_t bytes);

}  // namespace dlab
