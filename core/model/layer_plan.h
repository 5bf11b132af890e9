// The layer plan: what runs at each POSITION 0..L-1 of the stack. Training
// uses the empty (intact) plan; the intervention analyses skip a block, swap
// two blocks, or replace a block by a fitted linear map — all through the same
// TransformerImpl::forward.
//
// Semantics (see docs/model.md):
//   Own      position i runs block i                      (the default)
//   Block j  position i runs block j's weights with position i's LayerNorm-scaling
//            factor s_i (and RoPE, which is the same at every position)
//   Linear   h_{i+1} = h_i W + b   (or h_i Wᵀ + b when `transposed`)
//   Skip     h_{i+1} = h_i
// Positions not stored in the plan (beyond size()) are Own, so a default-built
// plan is the intact model for any depth.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace dlab {

struct LinearMap {
  torch::Tensor weight;     // (d, d)
  torch::Tensor bias;       // (d); undefined = no bias
  bool transposed = false;  // false: y = x W + b; true: y = x Wᵀ + b (the paper script's quirk)
};

struct PlanEntry {
  enum class Kind { Own, Block, Linear, Skip };
  Kind kind = Kind::Own;
  int block = -1;                           // Kind::Block: whose weights run here
  std::shared_ptr<const LinearMap> linear;  // Kind::Linear
};

class LayerPlan {
 public:
  static LayerPlan intact(int n_layers);

  // Each setter overwrites the entry of the position(s) it names and grows the
  // plan as needed. use_block(p, p) is stored as Own.
  LayerPlan& skip(int position);
  LayerPlan& swap(int i, int j);  // position i runs block j, position j runs block i
  LayerPlan& use_block(int position, int block);
  LayerPlan& linear(int position, LinearMap map);

  const PlanEntry& at(int position) const;  // Own for positions beyond size()
  int size() const { return int(entries_.size()); }
  bool is_intact() const;
  // Smallest position whose entry is not Own; size() when intact (L for
  // LayerPlan::intact(L)). Hidden states h_0..h_{first_change()} equal the
  // intact model's, so a cached h_s can be fed to forward_from.
  int first_change() const;
  std::string describe() const;  // "skip 3, swap 1<->4, linear 5", or "intact"
  // dlab::Error naming the position when an index is outside [0, n_layers) or
  // a linear map is missing its weight.
  void check(int n_layers) const;

 private:
  PlanEntry& entry(int position);  // grows the plan
  std::vector<PlanEntry> entries_;
};

}  // namespace dlab
