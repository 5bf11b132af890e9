#include "model/layer_plan.h"

#include "common/error.h"

namespace dlab {

LayerPlan LayerPlan::intact(int n_layers) {
  if (n_layers < 0) {
    throw Error("LayerPlan::intact: n_layers is " + std::to_string(n_layers) + ", must be >= 0");
  }
  LayerPlan plan;
  plan.entries_.resize(size_t(n_layers));
  return plan;
}

PlanEntry& LayerPlan::entry(int position) {
  if (position < 0) {
    throw Error("layer plan: position " + std::to_string(position) + " is negative");
  }
  if (position >= size()) entries_.resize(size_t(position) + 1);
  return entries_[size_t(position)];
}

LayerPlan& LayerPlan::skip(int position) {
  entry(position) = PlanEntry{PlanEntry::Kind::Skip, -1, nullptr};
  return *this;
}

LayerPlan& LayerPlan::use_block(int position, int block) {
  if (block < 0) {
    throw Error("layer plan: position " + std::to_string(position) + " asks for block " +
                std::to_string(block) + ", which is negative");
  }
  entry(position) =
      block == position ? PlanEntry{} : PlanEntry{PlanEntry::Kind::Block, block, nullptr};
  return *this;
}

LayerPlan& LayerPlan::swap(int i, int j) {
  use_block(i, j);
  use_block(j, i);
  return *this;
}

LayerPlan& LayerPlan::linear(int position, LinearMap map) {
  entry(position) =
      PlanEntry{PlanEntry::Kind::Linear, -1, std::make_shared<const LinearMap>(std::move(map))};
  return *this;
}

const PlanEntry& LayerPlan::at(int position) const {
  static const PlanEntry kOwn{};
  if (position < 0 || position >= size()) return kOwn;
  return entries_[size_t(position)];
}

bool LayerPlan::is_intact() const { return first_change() == size(); }

int LayerPlan::first_change() const {
  for (int i = 0; i < size(); ++i) {
    if (entries_[size_t(i)].kind != PlanEntry::Kind::Own) return i;
  }
  return size();
}

std::string LayerPlan::describe() const {
  std::string out;
  auto add = [&](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
  for (int i = 0; i < size(); ++i) {
    const PlanEntry& e = entries_[size_t(i)];
    switch (e.kind) {
      case PlanEntry::Kind::Own:
        break;
      case PlanEntry::Kind::Skip:
        add("skip " + std::to_string(i));
        break;
      case PlanEntry::Kind::Linear:
        add(std::string(e.linear && e.linear->transposed ? "linear^T " : "linear ") +
            std::to_string(i));
        break;
      case PlanEntry::Kind::Block: {
        const PlanEntry& other = at(e.block);
        const bool mutual = other.kind == PlanEntry::Kind::Block && other.block == i;
        if (!mutual) {
          add("block " + std::to_string(e.block) + " at " + std::to_string(i));
        } else if (i < e.block) {
          add("swap " + std::to_string(i) + "<->" + std::to_string(e.block));
        }
        break;
      }
    }
  }
  return out.empty() ? "intact" : out;
}

void LayerPlan::check(int n_layers) const {
  for (int i = 0; i < size(); ++i) {
    const PlanEntry& e = entries_[size_t(i)];
    if (e.kind == PlanEntry::Kind::Own) continue;
    const std::string where = "layer plan position " + std::to_string(i);
    if (i >= n_layers) {
      throw Error(where + " is out of range: the model has " + std::to_string(n_layers) +
                  " layers (positions 0.." + std::to_string(n_layers - 1) + ")");
    }
    if (e.kind == PlanEntry::Kind::Block && (e.block < 0 || e.block >= n_layers)) {
      throw Error(where + " runs block " + std::to_string(e.block) + ", but the model has " +
                  std::to_string(n_layers) + " blocks (0.." + std::to_string(n_layers - 1) + ")");
    }
    if (e.kind == PlanEntry::Kind::Linear && (!e.linear || !e.linear->weight.defined())) {
      throw Error(where + " is a linear replacement without a weight matrix");
    }
  }
}

}  // namespace dlab
