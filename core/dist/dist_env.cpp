#include "dist/dist_env.h"

#include <cstdlib>

#include "common/error.h"

namespace dlab {
namespace {

// A whole decimal integer in [lo, hi], or an Error naming the variable.
int env_int(const std::string& name, const std::string& value, long lo, long hi,
            const std::string& allowed) {
  char* end = nullptr;
  const long v = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || v < lo || v > hi) {
    throw Error(name + "=" + value + " is not " + allowed);
  }
  return int(v);
}

}  // namespace

DistEnv dist_env_read(const std::function<std::optional<std::string>(const std::string&)>& getenv) {
  DistEnv env;
  const auto rank = getenv("RANK");
  const auto world = getenv("WORLD_SIZE");
  if (!rank && !world) return env;  // a plain single process
  if (!rank || !world) {
    throw Error(std::string(rank ? "RANK" : "WORLD_SIZE") + " is set but " +
                (rank ? "WORLD_SIZE" : "RANK") +
                " is not; a distributed run needs both (dlab launch sets them)");
  }
  env.world_size = env_int("WORLD_SIZE", *world, 1, 65536, "an integer from 1 to 65536");
  env.rank = env_int("RANK", *rank, 0, env.world_size - 1,
                     "an integer from 0 to WORLD_SIZE-1 = " + std::to_string(env.world_size - 1));
  env.local_rank = env.rank;
  if (const auto local = getenv("LOCAL_RANK")) {
    env.local_rank = env_int("LOCAL_RANK", *local, 0, 65535, "an integer from 0 to 65535");
  }
  if (!env.distributed()) return env;
  const auto addr = getenv("MASTER_ADDR");
  const auto port = getenv("MASTER_PORT");
  if (!addr || addr->empty()) {
    throw Error("MASTER_ADDR is not set; a run with WORLD_SIZE=" + std::to_string(env.world_size) +
                " needs the address of rank 0 (e.g. 127.0.0.1)");
  }
  if (!port) {
    throw Error("MASTER_PORT is not set; a run with WORLD_SIZE=" + std::to_string(env.world_size) +
                " needs rank 0's rendezvous port (1-65535)");
  }
  env.master_addr = *addr;
  env.master_port = env_int("MASTER_PORT", *port, 1, 65535, "a port from 1 to 65535");
  return env;
}

DistEnv dist_env_from_process() {
  return dist_env_read([](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  });
}

}  // namespace dlab
