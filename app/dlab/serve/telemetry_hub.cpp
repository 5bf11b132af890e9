#include "serve/telemetry_hub.h"

namespace dlab::serve {

namespace {
double unix_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

TelemetryHub::TelemetryHub(std::string run, size_t replay_capacity)
    : run_(std::move(run)), capacity_(replay_capacity) {}

void TelemetryHub::on_row(const std::string& series, int64_t step,
                          const std::vector<float>& values) {
  std::lock_guard<std::mutex> lock(mutex_);
  current_.step = step;
  current_.rows[series] = values;
}

void TelemetryHub::on_step_end(int64_t step) {
  std::lock_guard<std::mutex> lock(mutex_);
  current_.step = step;
  current_.t_ms = unix_ms();
  ready_.push_back(std::move(current_));
  current_ = Step{};
}

void TelemetryHub::on_progress(const TrainProgress& p) {
  std::lock_guard<std::mutex> lock(mutex_);
  progress_ = {{"step", p.step},
               {"total_steps", p.total_steps},
               {"loss", p.loss},
               {"val_loss", p.val_loss},
               {"lr", p.lr},
               {"tokens_per_s", p.tokens_per_s},
               {"elapsed_s", p.elapsed_s},
               {"eta_s", p.eta_s}};
  progress_new_ = true;
}

std::shared_ptr<const TelemetryFrame> TelemetryHub::drain() {
  std::vector<Step> steps;
  nlohmann::json progress;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ready_.empty()) return nullptr;
    steps.swap(ready_);
    if (progress_new_) progress = progress_;
    progress_new_ = false;
  }
  protocol::Message m;
  m.type = protocol::type::kTelemetry;
  m.run = run_;
  m.seq = next_seq_++;
  nlohmann::json list = nlohmann::json::array();
  for (Step& s : steps) {
    list.push_back({{"step", s.step}, {"t_ms", s.t_ms}, {"rows", std::move(s.rows)}});
  }
  m.body = {{"steps", std::move(list)}};
  if (!progress.is_null()) m.body["progress"] = std::move(progress);
  auto frame = std::make_shared<TelemetryFrame>();
  frame->seq = m.seq;
  frame->json = protocol::encode_json(m);
  frame->cbor = protocol::encode_cbor(m);
  replay_.push_back(frame);
  while (replay_.size() > capacity_) replay_.pop_front();
  return frame;
}

std::vector<std::shared_ptr<const TelemetryFrame>> TelemetryHub::frames_from(
    int64_t from_seq) const {
  std::vector<std::shared_ptr<const TelemetryFrame>> out;
  if (replay_.empty()) return out;
  const int64_t first = replay_.front()->seq;
  const int64_t skip = std::max<int64_t>(0, from_seq - first);
  for (size_t i = size_t(skip); i < replay_.size(); ++i) out.push_back(replay_[i]);
  return out;
}

int64_t TelemetryHub::oldest_seq() const {
  return replay_.empty() ? next_seq_ : replay_.front()->seq;
}

}  // namespace dlab::serve
