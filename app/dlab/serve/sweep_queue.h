// Sweeps owned by the server (docs/protocol.md, "sweep"): one run per value of
// a key, started one after another (as `dlab train --sweep` does), each when
// the previous one has ended and the --max-runs / --max-ranks caps allow. A
// sweep does not belong to the client that asked for it: it goes on when that
// client disconnects, any client lists it, and any client can cancel it.
//
// Threading: the Qt event-loop thread only (SessionServer calls advance() on
// its telemetry tick); the runs themselves train on RunManager's threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/config.h"
#include "serve/run_manager.h"

namespace dlab::serve {

struct SweepMember {
  std::string value;             // the swept key's value, as given
  Config config;                 // its run.name is the planned name (<base>-<key><value>)
  std::string run;               // the run's name once started (a -2 suffix when taken), else ""
  std::string dir;               // its directory once started
  std::string state = "queued";  // queued, the run's state, cancelled, or failed (not started)
  std::string message;           // why it failed or ended so, when it did
};

struct Sweep {
  std::string id;   // "sweep-<n>", unique in this server process
  std::string key;  // the swept config key
  int ranks = 1;    // each member's data-parallel ranks
  int64_t serial = 0;
  bool cancelled = false;
  std::vector<SweepMember> members;
  std::string sent;  // the description last broadcast (sweep_state), to send changes only
  // running (a member queued or live), finished (each member ended) or cancelled.
  std::string state() const;
};

class SweepQueue {
 public:
  explicit SweepQueue(RunManager& runs) : runs_(runs) {}

  // At most this many runs in one sweep (more: the request is refused).
  static constexpr size_t kMaxMembers = 64;
  // Ended sweeps kept listable; older ones are forgotten (their runs stay).
  static constexpr size_t kKeptEndedSweeps = 16;

  // Queues the members (valid configs, in order); nothing starts until advance().
  Sweep& add(const std::string& key, std::vector<SweepMember> members, int ranks);
  // Brings each member's state up to date and starts the next member of every
  // sweep whose current member has ended, when can_start(ranks) says the caps
  // allow (else it waits for a later call). A member that cannot start
  // (dlab::Error) is marked failed and the next one is tried. Returns the
  // sweeps whose description changed since they were last returned.
  std::vector<Sweep*> advance(const std::function<bool(int ranks)>& can_start);
  // Queued members become cancelled; the live one is asked to stop (it
  // checkpoints). dlab::Error when the sweep has already ended.
  void cancel(Sweep& sweep);
  Sweep* find(const std::string& id);
  // Oldest first.
  std::vector<const Sweep*> list() const;

  // The sweep as sweep_queued, sweeps and sweep_state carry it.
  static nlohmann::json describe(const Sweep& sweep);

 private:
  void refresh(Sweep& sweep);
  void forget_old_ended();

  RunManager& runs_;
  int64_t next_serial_ = 1;
  std::map<std::string, std::unique_ptr<Sweep>> sweeps_;
};

}  // namespace dlab::serve
