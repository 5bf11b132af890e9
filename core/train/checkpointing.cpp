#include "train/checkpointing.h"

#include <cstring>

#include "common/error.h"
#include "tensor_io/tensor_array.h"

namespace dlab {

std::filesystem::path checkpoint_path(const std::filesystem::path& run_dir, int64_t step) {
  return run_dir / "checkpoints" / ("step-" + std::to_string(step) + ".h5");
}

std::filesystem::path checkpoint_save(const std::filesystem::path& run_dir,
                                      const TrainingState& state, Transformer& model,
                                      const AdamW& optimizer) {
  CheckpointData data;
  data.step = state.step;
  data.config_json = state.config_json;
  data.tokenizer_kind = state.tokenizer_kind;
  data.tokenizer_model = state.tokenizer_model;
  data.metadata_json = state.metadata_json;
  for (const auto& [name, t] : model->state_dict_hf()) {
    data.state_dict.push_back(array_from_tensor(name, t));
  }
  for (const auto& [name, t] : optimizer.state()) {
    data.optimizer.push_back(array_from_tensor(name, t));
  }
  const torch::Tensor rng = at::detail::getDefaultCPUGenerator().get_state();
  data.rng_state.assign(rng.data_ptr<uint8_t>(), rng.data_ptr<uint8_t>() + rng.numel());
  data.counters["step"] = state.step;
  data.counters["adam_t"] = optimizer.steps_taken();
  data.counters["tokens_seen"] = state.tokens_seen;
  // The data cursor: batches are a pure function of (seed, step), see
  // data/batching.h, so the step is the whole cursor.
  data.counters["data_cursor"] = state.step;

  std::filesystem::create_directories(run_dir / "checkpoints");
  const std::filesystem::path path = checkpoint_path(run_dir, state.step);
  checkpoint_write(path, data);
  return path;
}

TrainingState checkpoint_restore(const std::filesystem::path& path, Transformer& model,
                                 AdamW* optimizer) {
  const CheckpointData data = checkpoint_read(path, /*with_optimizer=*/optimizer != nullptr);
  std::vector<std::pair<std::string, torch::Tensor>> weights;
  for (const Array& a : data.state_dict) weights.emplace_back(a.name, tensor_from_array(a));
  model->load_state_dict_hf(weights);
  auto counter = [&](const std::string& key) -> int64_t {
    auto it = data.counters.find(key);
    if (it == data.counters.end()) {
      throw Error(path.string() + ": checkpoint has no counter '" + key + "'");
    }
    return it->second;
  };
  if (optimizer) {
    std::vector<std::pair<std::string, torch::Tensor>> state;
    for (const Array& a : data.optimizer) state.emplace_back(a.name, tensor_from_array(a));
    optimizer->load_state(state, counter("adam_t"));
  }
  if (!data.rng_state.empty()) {
    torch::Tensor rng = torch::empty({int64_t(data.rng_state.size())}, torch::kUInt8);
    std::memcpy(rng.data_ptr(), data.rng_state.data(), data.rng_state.size());
    at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle to the global one
    generator.set_state(rng);
  }
  TrainingState state;
  state.step = data.step;
  state.tokens_seen = counter("tokens_seen");
  state.config_json = data.config_json;
  state.tokenizer_kind = data.tokenizer_kind;
  state.tokenizer_model = data.tokenizer_model;
  state.metadata_json = data.metadata_json;
  return state;
}

}  // namespace dlab
