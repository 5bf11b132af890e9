// The torchrun / SLURM-wrapper environment contract: RANK, WORLD_SIZE,
// LOCAL_RANK, MASTER_ADDR, MASTER_PORT. No torch: `dlab launch` writes these
// variables for its children and `dlab train` reads them back.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace dlab {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;

  bool distributed() const { return world_size > 1; }
};

// Reads the contract through `getenv` (injectable for tests). With neither RANK nor
// WORLD_SIZE set this is a single process (world 1). Throws dlab::Error naming the
// variable, its value and what is allowed when the contract is incomplete or invalid.
DistEnv dist_env_read(const std::function<std::optional<std::string>(const std::string&)>& getenv);
DistEnv dist_env_from_process();

}  // namespace dlab
