#include "serve/analysis_worker.h"

#include "analysis/source.h"
#include "kernels/threads.h"

namespace dlab::serve {

AnalysisWorker::AnalysisWorker() : thread_([this] { loop(); }) {}

AnalysisWorker::~AnalysisWorker() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
    jobs_.clear();
  }
  wake_.notify_all();
  thread_.join();
}

void AnalysisWorker::post(Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

size_t AnalysisWorker::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return jobs_.size();
}

void AnalysisWorker::loop() {
  // This thread's own intra-op threads (per thread, kernels/threads.h): one per
  // physical core; a training thread of the same server sets its own.
  kernels::threads_set(0);
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return quit_ || !jobs_.empty(); });
      if (quit_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job(*this);  // jobs catch their own errors and post their replies
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
    EvalTokens tokens = eval_tokens_heldout(m);
    EvalSet eval = eval_set_make(tokens.tokens, spec, tokens.source);
    analyzer_ = std::make_unique<Analyzer>(m.model, std::move(eval));
    analyzer_key_ = key;
    analyzer_step_ = m.step;
  }
  if (step) *step = analyzer_step_;
  return *analyzer_;
}

}  // namespace dlab::serve
