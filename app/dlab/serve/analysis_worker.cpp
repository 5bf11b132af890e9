#include "serve/analysis_worker.h"

#include "analysis/source.h"
#include "kernels/threads.h"

namespace dlab::serve {

AnalysisWorker::AnalysisWorker() : thread_([this] { loop(); }) {}

AnalysisWorker::~AnalysisWorker() {
  quit();
  thread_.join();
}

void AnalysisWorker::post(int64_t client, Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (quit_) return;
    queues_[client].push_back(std::move(job));
  }
  wake_.notify_one();
}

void AnalysisWorker::cancel_client(int64_t client) {
  std::lock_guard<std::mutex> lock(mutex_);
  queues_.erase(client);
  if (running_client_ == client) cancel_running_.store(true);
}

void AnalysisWorker::quit() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
    queues_.clear();
    cancel_running_.store(true);
  }
  wake_.notify_all();
}

size_t AnalysisWorker::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  for (const auto& [client, jobs] : queues_) n += jobs.size();
  return n;
}

void AnalysisWorker::check_cancelled() const {
  if (cancel_running_.load()) throw Cancelled();
}

AnalysisWorker::Job AnalysisWorker::take_next() {
  // The first client after the one served last (in id order), wrapping
  // around: each client with queued jobs gets one job per turn.
  auto it = queues_.upper_bound(last_client_);
  if (it == queues_.end()) it = queues_.begin();
  Job job = std::move(it->second.front());
  it->second.pop_front();
  last_client_ = running_client_ = it->first;
  if (it->second.empty()) queues_.erase(it);
  return job;
}

void AnalysisWorker::loop() {
  // This thread's own intra-op threads (per thread, kernels/threads.h): one per
  // physical core; a training thread of the same server sets its own.
  kernels::threads_set(0);
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return quit_ || !queues_.empty(); });
      if (quit_) return;
      cancel_running_.store(false);
      job = take_next();
    }
    job(*this);  // jobs catch their own errors (Cancelled too) and post their replies
    std::lock_guard<std::mutex> lock(mutex_);
    running_client_ = -1;
    // A cancelled job may have left the Analyzer half prepared (its cache
    // partly filled): the next job loads a fresh one.
    if (cancel_running_.load()) analyzer_.reset();
  }
}

Analyzer& AnalysisWorker::analyzer(const std::filesystem::path& checkpoint, int samples,
                                   int64_t* step) {
  const std::string key = checkpoint.string() + "#" + std::to_string(samples);
  if (!analyzer_ || key != analyzer_key_) {
    analyzer_.reset();
    AnalysisModel m = analysis_model_load(checkpoint);
    EvalSetSpec spec;
    spec.samples = samples;
    spec.seq_len = m.config.data.seq_len;
    // Tokenizing a corpus can take a while: it stops when the job is cancelled
    // (the token cache is written to a temporary directory and renamed, so an
    // interrupted preparation leaves nothing half written).
    EvalTokens tokens =
        eval_tokens_heldout(m, [this](const std::string&, double) { check_cancelled(); });
    EvalSet eval = eval_set_make(tokens.tokens, spec, tokens.source);
    analyzer_ = std::make_unique<Analyzer>(m.model, std::move(eval));
    analyzer_key_ = key;
    analyzer_step_ = m.step;
  }
  if (step) *step = analyzer_step_;
  return *analyzer_;
}

}  // namespace dlab::serve
