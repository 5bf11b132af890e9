// Starting local ranks as processes: a free rendezvous port on 127.0.0.1, and
// fork + exec of a rank with the torchrun environment contract (RANK,
// LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT). Used by `dlab launch`
// (every rank a child) and `dlab serve` (rank 0 in-process, ranks 1..N-1
// children). Torch-free.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "dist/dist_env.h"

namespace dlab {

// A port the kernel says is free on 127.0.0.1 (rank 0 binds it right after).
// Throws dlab::Error when no socket can be bound.
int dist_free_port();

struct RankProcessOptions {
  bool new_process_group = false;  // setpgid(0, 0): a terminal's Ctrl-C is not delivered twice
  bool die_with_parent = false;    // SIGTERM when the parent dies (Linux PR_SET_PDEATHSIG)
};

// Starts `executable args...` as rank env.rank of env.world_size. Everything
// the child needs (argv, environment) is built before fork(), so the child only
// makes async-signal-safe calls until execve(): safe in a threaded parent.
// Returns the child's pid; throws dlab::Error when fork() fails. A failed exec
// makes the child exit with code 127 after saying so on stderr.
pid_t rank_process_spawn(const std::string& executable, const std::string& argv0,
                         const std::vector<std::string>& args, const DistEnv& env,
                         const RankProcessOptions& options = {});

}  // namespace dlab
