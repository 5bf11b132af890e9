// Batches of token windows as int64 tensors (B, T), stateless and deterministic.
//
// Contract (docs/data.md): the training batch of a step depends only on
// (tokens, seed, step, batch_size, seq_len). Row r of the GLOBAL batch of
// `step` is the window starting at splitmix-hash(seed, step, r) % (n - T); rank
// k of `world` ranks takes rows [k*B/world, (k+1)*B/world). So a resumed run
// needs no data cursor (the step is the cursor), and any number of ranks
// together see exactly the rows one rank would.
#pragma once

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dlab {

struct Batch {
  torch::Tensor inputs;   // (B, T) int64: tokens[o .. o+T-1]
  torch::Tensor targets;  // (B, T) int64: tokens[o+1 .. o+T] (inputs shifted by one)
};

// The start offset of row `row` of the global batch of `step`, in [0, n - T).
int64_t batch_row_offset(size_t n_tokens, int64_t step, int64_t row, int seq_len, uint64_t seed);

// This rank's rows of the global training batch of `step` (B = global batch).
Batch batch_sample(const std::vector<uint16_t>& tokens, int64_t step, int batch_size, int seq_len,
                   uint64_t seed, int rank = 0, int world_size = 1);

// Evaluation windows: window w covers inputs tokens[w*T .. w*T+T-1] and targets
// tokens[w*T+1 .. w*T+T], so windows never overlap and every token after the
// first is predicted exactly once. Row i is window (first_window + i) modulo
// eval_window_count (it wraps around when the split has fewer windows).
Batch batch_eval(const std::vector<uint16_t>& tokens, int64_t first_window, int batch_size,
                 int seq_len);

// batch_size windows at seeded random offsets; `index` numbers the batch.
// Independent of the training stream for the same seed.
Batch batch_eval_random(const std::vector<uint16_t>& tokens, int64_t index, int batch_size,
                        int seq_len, uint64_t seed);

// Number of non-overlapping evaluation windows: (n - 1) / T, 0 if n < T + 1.
int64_t eval_window_count(size_t n_tokens, int seq_len);

}  // namespace dlab
