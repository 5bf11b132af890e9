#include "analysis/source.h"

#include <cstdio>
#include <fstream>
#include <random>

#include "common/config_json.h"
#include "common/config_resources.h"
#include "common/config_validate.h"
#include "common/error.h"
#include "data/corpus.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include "store/checkpoint_file.h"
#include "store/xxhash64.h"
#include "tensor_io/tensor_array.h"

namespace dlab {

namespace fs = std::filesystem;

fs::path analysis_checkpoint_resolve(const fs::path& target) {
  std::error_code ec;
  if (!fs::exists(target, ec)) throw Error(target.string() + " does not exist");
  if (!fs::is_directory(target, ec)) return target;
  const auto list = checkpoint_list(target);
  if (list.empty()) {
    throw Error(target.string() + " holds no checkpoint (looked for " +
                (target / "checkpoints" / "step-<N>.h5").string() + ")");
  }
  return list.back().second;
}

AnalysisModel analysis_model_load(const fs::path& checkpoint) {
  const CheckpointData data = checkpoint_read(checkpoint, /*with_optimizer=*/false);
  AnalysisModel m;
  m.config = config_from_json(data.config_json, checkpoint.string() + " (config)");
  // A config read from a file is checked like one from the command line, and
  // the model must fit this machine before it is built.
  try {
    config_check(m.config);
    config_check_resources(m.config, Workload::Analysis);
  } catch (const Error& e) {
    throw Error(checkpoint.string() + ": " + e.what());
  }
  m.step = data.step;
  m.checkpoint = checkpoint;
  m.tokenizer_kind = data.tokenizer_kind;
  m.tokenizer_model = data.tokenizer_model;
  {
    // The constructor initialises weights from the global generator; keep its
    // state so that analysing does not disturb a training loop in this process.
    std::lock_guard<std::mutex> init_lock(model_init_mutex());
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    const torch::Tensor state = gen.get_state();
    m.model = Transformer(m.config.model);
    gen.set_state(state);
  }
  std::vector<std::pair<std::string, torch::Tensor>> weights;
  for (const Array& a : data.state_dict) weights.emplace_back(a.name, tensor_from_array(a));
  try {
    m.model->load_state_dict_hf(weights);
  } catch (const Error& e) {
    throw Error(checkpoint.string() + ": " + e.what());
  }
  m.model->to(torch::kFloat32);
  m.model->eval();
  for (torch::Tensor& p : m.model->parameters()) p.set_requires_grad(false);
  return m;
}

namespace {

// The checkpoint's SentencePiece model as a file whose path and mtime stay the
// same across analyses (the token cache key includes both).
fs::path tokenizer_file_for(const AnalysisModel& m) {
  const fs::path dir = data_cache_dir(m.config.data) / "tokenizers";
  char name[40];
  std::snprintf(
      name, sizeof(name), "%016llx.model",
      static_cast<unsigned long long>(xxh64(m.tokenizer_model.data(), m.tokenizer_model.size())));
  const fs::path path = dir / name;
  std::error_code ec;
  if (fs::is_regular_file(path, ec) &&
      fs::file_size(path, ec) == uintmax_t(m.tokenizer_model.size())) {
    return path;
  }
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir.string() + ": cannot create (" + ec.message() + ")");
  fs::path tmp = path;
  tmp += ".tmp-" + std::to_string(std::random_device{}());
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(m.tokenizer_model.data(), std::streamsize(m.tokenizer_model.size()));
    if (!out) throw Error(tmp.string() + ": cannot write the checkpoint's tokenizer model");
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error(path.string() + ": cannot write the checkpoint's tokenizer model");
  }
  return path;
}

}  // namespace

EvalTokens eval_tokens_heldout(const AnalysisModel& m, const DataProgress& progress) {
  DataConfig data = m.config.data;
  if (m.tokenizer_kind == "sentencepiece") {
    data.tokenizer = tokenizer_file_for(m).string();
  } else if (m.tokenizer_kind == "byte") {
    data.tokenizer = "byte";
  } else if (m.tokenizer_kind != "none") {
    throw Error(m.checkpoint.string() + ": unknown tokenizer kind '" + m.tokenizer_kind + "'");
  }
  if (!(data.val_fraction > 0.0)) {
    throw Error(
        "the run of " + m.checkpoint.string() +
        " has no held-out split (data.val_fraction=0); give --tokens FILE.bin or --corpus PATH");
  }
  TokenData td = dataset_prepare(data, m.config.model.vocab_size, progress);
  EvalTokens out;
  char fraction[32];
  std::snprintf(fraction, sizeof(fraction), "%g", data.val_fraction);
  out.source = "held-out split of " + data.corpus + " (data.val_fraction=" + fraction + ", " +
               std::to_string(td.val.size()) + " tokens)";
  out.tokens = std::move(td.val);
  return out;
}

EvalTokens eval_tokens_corpus(const AnalysisModel& m, const std::string& corpus,
                              const DataProgress& progress) {
  if (m.tokenizer_kind == "none") {
    throw Error(
        "--corpus " + corpus + ": " + m.checkpoint.string() +
        " was trained on token shards and has no tokenizer to encode text; use --tokens FILE.bin");
  }
  const std::shared_ptr<Tokenizer> tok = tokenizer_from_model(m.tokenizer_kind, m.tokenizer_model);
  DataConfig data = m.config.data;
  data.corpus = corpus;
  const fs::path resolved = corpus_resolve(data);
  if (!corpus_shard_files(resolved).empty()) {
    throw Error("--corpus " + corpus +
                " is a set of token shards; use --tokens FILE.bin for those");
  }
  if (progress) progress("reading", 0.0);
  const std::vector<std::string> docs = corpus_load_texts(data);
  if (docs.empty()) throw Error("--corpus " + corpus + ": the corpus has no documents");
  EvalTokens out;
  out.tokens = dataset_encode(*tok, docs, [&](double f) {
    if (progress) progress("encoding", f);
  });
  for (uint16_t t : out.tokens) {
    if (int(t) >= m.config.model.vocab_size) {
      throw Error("--corpus " + corpus + ": token " + std::to_string(t) +
                  " is >= model.vocab_size=" + std::to_string(m.config.model.vocab_size));
    }
  }
  out.source = corpus + " (" + std::to_string(docs.size()) + " documents, " +
               std::to_string(out.tokens.size()) + " tokens, " + tok->kind() + " tokenizer)";
  return out;
}

EvalTokens eval_tokens_shard(const fs::path& bin, int vocab_size) {
  EvalTokens out;
  try {
    out.tokens = shard_read(bin);
  } catch (const Error& e) {
    throw Error(std::string("--tokens ") + bin.string() + ": " + e.what());
  }
  for (uint16_t t : out.tokens) {
    if (int(t) >= vocab_size) {
      throw Error("--tokens " + bin.string() + ": token " + std::to_string(t) +
                  " is >= model.vocab_size=" + std::to_string(vocab_size));
    }
  }
  out.source = bin.string() + " (llm.c shard, " + std::to_string(out.tokens.size()) + " tokens)";
  return out;
}

fs::path analysis_path_for(const fs::path& checkpoint, int64_t step) {
  const fs::path dir = checkpoint.parent_path();
  if (dir.filename() == "checkpoints") {
    return dir.parent_path() / "analysis" / ("step-" + std::to_string(step) + ".h5");
  }
  return dir / (checkpoint.stem().string() + ".analysis.h5");
}

}  // namespace dlab
