#include "data/batching.h"

#include <string>

#include "common/error.h"
#include "data/hash.h"

namespace dlab {

namespace {

// Domain constants keep the training and the random-evaluation streams apart
// even with the same seed.
constexpr uint64_t kTrainDomain = 0x747261696e000001ull;
constexpr uint64_t kEvalDomain = 0x6576616c00000002ull;

void check_args(const char* who, size_t n_tokens, int batch_size, int seq_len) {
  if (batch_size < 1) {
    throw Error(std::string(who) + ": train.batch_size=" + std::to_string(batch_size) +
                " must be at least 1");
  }
  if (seq_len < 1) {
    throw Error(std::string(who) + ": data.seq_len=" + std::to_string(seq_len) +
                " must be at least 1");
  }
  if (int64_t(n_tokens) < int64_t(seq_len) + 1) {
    throw Error(std::string(who) + ": the split has " + std::to_string(n_tokens) +
                " tokens; data.seq_len=" + std::to_string(seq_len) + " needs at least " +
                std::to_string(int64_t(seq_len) + 1));
  }
}

uint64_t mix3(uint64_t domain, uint64_t seed, int64_t a, int64_t b) {
  return splitmix64(splitmix64(splitmix64(seed ^ domain) + uint64_t(a)) + uint64_t(b));
}

// Fills row `row` of (inputs, targets) with the window starting at `offset`.
void fill_row(const std::vector<uint16_t>& tokens, int64_t offset, int seq_len, int64_t* in,
              int64_t* tg) {
  const uint16_t* src = tokens.data() + offset;
  for (int t = 0; t < seq_len; ++t) {
    in[t] = src[t];
    tg[t] = src[t + 1];
  }
}

Batch make_batch(int64_t rows, int seq_len) {
  Batch b;
  b.inputs = torch::empty({rows, seq_len}, torch::kInt64);   // (B, T)
  b.targets = torch::empty({rows, seq_len}, torch::kInt64);  // (B, T)
  return b;
}

}  // namespace

int64_t batch_row_offset(size_t n_tokens, int64_t step, int64_t row, int seq_len, uint64_t seed) {
  // n - T possible starts: 0 .. n-T-1, so the window of T+1 tokens fits.
  const uint64_t starts = uint64_t(n_tokens) - uint64_t(seq_len);
  return int64_t(mix3(kTrainDomain, seed, step, row) % starts);
}

Batch batch_sample(const std::vector<uint16_t>& tokens, int64_t step, int batch_size, int seq_len,
                   uint64_t seed, int rank, int world_size) {
  check_args("batch_sample", tokens.size(), batch_size, seq_len);
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    throw Error("batch_sample: rank " + std::to_string(rank) + " is outside [0, world size " +
                std::to_string(world_size) + ")");
  }
  if (batch_size < world_size) {
    throw Error("train.batch_size=" + std::to_string(batch_size) + " is smaller than the " +
                std::to_string(world_size) + " ranks; every rank needs at least one sequence");
  }
  if (step < 0) throw Error("batch_sample: step " + std::to_string(step) + " is negative");
  const int64_t row_begin = int64_t(rank) * batch_size / world_size;
  const int64_t row_end = int64_t(rank + 1) * batch_size / world_size;
  Batch b = make_batch(row_end - row_begin, seq_len);
  int64_t* in = b.inputs.data_ptr<int64_t>();
  int64_t* tg = b.targets.data_ptr<int64_t>();
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t offset = batch_row_offset(tokens.size(), step, r, seq_len, seed);
    const int64_t local = r - row_begin;
    fill_row(tokens, offset, seq_len, in + local * seq_len, tg + local * seq_len);
  }
  return b;
}

int64_t eval_window_count(size_t n_tokens, int seq_len) {
  if (seq_len < 1 || int64_t(n_tokens) < int64_t(seq_len) + 1) return 0;
  return (int64_t(n_tokens) - 1) / seq_len;
}

Batch batch_eval(const std::vector<uint16_t>& tokens, int64_t first_window, int batch_size,
                 int seq_len) {
  check_args("batch_eval", tokens.size(), batch_size, seq_len);
  if (first_window < 0) {
    throw Error("batch_eval: first window " + std::to_string(first_window) + " is negative");
  }
  const int64_t windows = eval_window_count(tokens.size(), seq_len);
  Batch b = make_batch(batch_size, seq_len);
  int64_t* in = b.inputs.data_ptr<int64_t>();
  int64_t* tg = b.targets.data_ptr<int64_t>();
  for (int64_t i = 0; i < batch_size; ++i) {
    const int64_t w = (first_window + i) % windows;
    fill_row(tokens, w * seq_len, seq_len, in + i * seq_len, tg + i * seq_len);
  }
  return b;
}

Batch batch_eval_random(const std::vector<uint16_t>& tokens, int64_t index, int batch_size,
                        int seq_len, uint64_t seed) {
  check_args("batch_eval_random", tokens.size(), batch_size, seq_len);
  const uint64_t starts = uint64_t(tokens.size()) - uint64_t(seq_len);
  Batch b = make_batch(batch_size, seq_len);
  int64_t* in = b.inputs.data_ptr<int64_t>();
  int64_t* tg = b.targets.data_ptr<int64_t>();
  for (int64_t i = 0; i < batch_size; ++i) {
    const int64_t offset = int64_t(mix3(kEvalDomain, seed, index, i) % starts);
    fill_row(tokens, offset, seq_len, in + i * seq_len, tg + i * seq_len);
  }
  return b;
}

}  // namespace dlab
