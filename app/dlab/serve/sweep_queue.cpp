#include "serve/sweep_queue.h"

#include <algorithm>

#include "common/error.h"

namespace dlab::serve {

namespace {

bool member_ended(const SweepMember& m) {
  return m.state == "stopped" || m.state == "finished" || m.state == "diverged" ||
         m.state == "failed" || m.state == "cancelled";
}

bool member_live(const SweepMember& m) { return m.state == "running" || m.state == "paused"; }

}  // namespace

std::string Sweep::state() const {
  const bool all_ended = std::all_of(members.begin(), members.end(), member_ended);
  if (!all_ended) return "running";
  return cancelled ? "cancelled" : "finished";
}

Sweep& SweepQueue::add(const std::string& key, std::vector<SweepMember> members, int ranks) {
  auto sweep = std::make_unique<Sweep>();
  sweep->serial = next_serial_++;
  sweep->id = "sweep-" + std::to_string(sweep->serial);
  sweep->key = key;
  sweep->ranks = ranks;
  sweep->members = std::move(members);
  Sweep& s = *sweep;
  sweeps_[s.id] = std::move(sweep);
  forget_old_ended();
  return s;
}

void SweepQueue::refresh(Sweep& sweep) {
  for (SweepMember& m : sweep.members) {
    if (m.run.empty() || member_ended(m)) continue;
    // A run the manager has forgotten (it keeps the newest ended ones) keeps
    // the state it was last seen in.
    if (LiveRun* run = runs_.find(m.run)) {
      m.state = run_state_name(run->state());
      if (run->ended.load()) m.message = run->state_message();
    }
  }
}

std::vector<Sweep*> SweepQueue::advance(const std::function<bool(int)>& can_start) {
  std::vector<Sweep*> changed;
  for (auto& [id, sweep] : sweeps_) {
    Sweep& s = *sweep;
    refresh(s);
    const bool waiting = std::any_of(s.members.begin(), s.members.end(), member_live);
    for (SweepMember& m : s.members) {
      if (waiting || s.cancelled) break;
      if (m.state != "queued") continue;
      if (!can_start(s.ranks)) break;  // the caps are reached: a later tick tries again
      try {
        LiveRun& run = runs_.start(m.config, s.ranks);
        m.run = run.name;
        m.dir = run.dir.string();
        m.state = run_state_name(run.state());
        break;  // one member at a time
      } catch (const Error& e) {
        m.state = "failed";  // not started; the next member is tried
        m.message = e.what();
      }
    }
    std::string now = describe(s).dump();
    if (now != s.sent) {
      s.sent = std::move(now);
      changed.push_back(&s);
    }
  }
  return changed;
}

void SweepQueue::cancel(Sweep& sweep) {
  refresh(sweep);
  if (sweep.state() != "running") {
    throw Error("sweep \"" + sweep.id + "\" has already ended (" + sweep.state() + ")");
  }
  sweep.cancelled = true;
  for (SweepMember& m : sweep.members) {
    if (m.state == "queued") m.state = "cancelled";
    if (member_live(m)) {
      if (LiveRun* run = runs_.find(m.run)) run->stop.store(true);
    }
  }
}

Sweep* SweepQueue::find(const std::string& id) {
  const auto it = sweeps_.find(id);
  return it == sweeps_.end() ? nullptr : it->second.get();
}

std::vector<const Sweep*> SweepQueue::list() const {
  std::vector<const Sweep*> out;
  for (const auto& [id, s] : sweeps_) out.push_back(s.get());
  std::sort(out.begin(), out.end(),
            [](const Sweep* a, const Sweep* b) { return a->serial < b->serial; });
  return out;
}

nlohmann::json SweepQueue::describe(const Sweep& s) {
  nlohmann::json members = nlohmann::json::array();
  for (const SweepMember& m : s.members) {
    nlohmann::json j = {{"name", m.config.run.name}, {"value", m.value}, {"state", m.state}};
    if (!m.run.empty()) {
      j["run"] = m.run;
      j["dir"] = m.dir;
    }
    if (!m.message.empty()) j["message"] = m.message;
    members.push_back(std::move(j));
  }
  return {{"sweep", s.id},
          {"key", s.key},
          {"ranks", s.ranks},
          {"state", s.state()},
          {"members", members}};
}

void SweepQueue::forget_old_ended() {
  std::vector<const Sweep*> ended;
  for (const Sweep* s : list())
    if (s->state() != "running") ended.push_back(s);
  for (size_t i = 0; i + kKeptEndedSweeps < ended.size(); ++i) sweeps_.erase(ended[i]->id);
}

}  // namespace dlab::serve
