// Writes a small sample run for the h5py compatibility checks:
//   <out>/checkpoints/step-7.h5   a checkpoint of a 2-layer Llama-style model (GQA)
//   <out>/expected.json           its /state_dict names, shapes and element sums,
//                                 in the format tests/python/check_checkpoint_h5py.py reads
//   <out>/run.h5                  a run file with a scalar and a per-layer series
//   <out>/run_expected.json       what check_run_h5py.py must find in it
#include <cstdio>
#include <fstream>
#include <iostream>

#include "common/error.h"
#include "store/checkpoint_file.h"
#include "store/run_file.h"

namespace {

using dlab::Array;

// A deterministic fill (no RNG dependence): small values of both signs.
std::vector<float> fill(int64_t n, int seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t x = 2654435761u * uint32_t(seed + 1);
  for (auto& e : v) {
    x = x * 1664525u + 1013904223u;
    e = float(int32_t(x >> 8) % 2001 - 1000) / 8192.0f;
  }
  return v;
}

std::string shape_json(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: write_sample_checkpoint <out_dir>\n";
    return 2;
  }
  const std::filesystem::path out = argv[1];
  try {
    // L = 2, d = 16, H = 4 heads of 4, G = 2 KV heads, d_ff = 32, V = 50.
    const int64_t L = 2, d = 16, dh = 4, H = 4, G = 2, dff = 32, V = 50;
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
        {"model.embed_tokens.weight", {V, d}}};
    for (int64_t i = 0; i < L; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      shapes.push_back({p + "input_layernorm.weight", {d}});
      shapes.push_back({p + "self_attn.q_proj.weight", {H * dh, d}});
      shapes.push_back({p + "self_attn.k_proj.weight", {G * dh, d}});
      shapes.push_back({p + "self_attn.v_proj.weight", {G * dh, d}});
      shapes.push_back({p + "self_attn.o_proj.weight", {d, H * dh}});
      shapes.push_back({p + "post_attention_layernorm.weight", {d}});
      shapes.push_back({p + "mlp.gate_proj.weight", {dff, d}});
      shapes.push_back({p + "mlp.up_proj.weight", {dff, d}});
      shapes.push_back({p + "mlp.down_proj.weight", {d, dff}});
    }
    shapes.push_back({"model.norm.weight", {d}});
    shapes.push_back({"lm_head.weight", {V, d}});

    dlab::CheckpointData c;
    c.step = 7;
    c.config_json = R"({"model": {"n_layers": 2, "d_model": 16, "n_heads": 4, "n_kv_heads": 2}})";
    c.tokenizer_kind = "byte";
    c.metadata_json = R"({"loss": 3.9})";
    c.rng_state.assign(16, 1);
    c.counters = {{"step", 7}, {"tokens_seen", 7 * 64}};
    std::string json = "{\n  \"state_dict\": {\n";
    std::string sums = "  \"sums\": {\n";
    int seed = 0;
    for (const auto& [name, shape] : shapes) {
      int64_t n = 1;
      for (int64_t s : shape) n *= s;
      const std::vector<float> v = fill(n, seed++);
      c.state_dict.push_back(Array::from_f32(name, shape, v.data()));
      c.optimizer.push_back(Array::from_f32("exp_avg/" + name, shape, v.data()));
      double sum = 0;
      for (float e : v) sum += e;
      const char* sep = (&name == &shapes.back().first) ? "\n" : ",\n";
      json += "    \"" + name + "\": " + shape_json(shape) + sep;
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.9g", sum);
      sums += "    \"" + name + "\": " + buf + sep;
    }
    json += "  },\n" + sums + "  }\n}\n";
    dlab::checkpoint_write(out / "checkpoints" / "step-7.h5", c);
    std::ofstream(out / "expected.json") << json;

    dlab::RunWriter w =
        dlab::RunWriter::create(out / "run.h5", c.config_json,
                                {{"loss", 1, "training loss"}, {"resid_var", int(L), "per layer"}});
    for (int64_t step = 1; step <= 20; ++step) {
      w.append("loss", step, {4.0f - 0.1f * float(step)});
      w.append("resid_var", step, {float(step), 2.0f * float(step)});
    }
    w.set_status("finished");
    w.close();
    std::ofstream(out / "run_expected.json")
        << R"({"loss_steps": 20, "loss_first": 3.9, "loss_last": 2.0, "resid_var_width": 2})"
        << "\n";
  } catch (const dlab::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
