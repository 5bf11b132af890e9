// libdlab_spm: SentencePiece behind the C interface of spm_plugin_api.h.
// Built as a MODULE and loaded only by spm_bridge.cpp (see there for why).
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <exception>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/spm_plugin_api.h"

#define DEPTHLAB_SPM_EXPORT extern "C" __attribute__((visibility("default")))

struct DlabSpm {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {

void report(dlab_spm_sink err, void* ctx, const std::string& msg) {
  if (err) err(ctx, msg.data(), msg.size());
}

class VectorIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorIterator(std::vector<std::string> v) : v_(std::move(v)) {}
  bool done() const override { return i_ >= v_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return v_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  std::vector<std::string> v_;
  size_t i_ = 0;
};

}  // namespace

DEPTHLAB_SPM_EXPORT int dlab_spm_api_version(void) { return DEPTHLAB_SPM_API_VERSION; }

DEPTHLAB_SPM_EXPORT DlabSpm* dlab_spm_load(const char* model, size_t size, dlab_spm_sink err,
                                           void* err_ctx) {
  try {
    auto* spm = new DlabSpm;
    const auto status = spm->sp.LoadFromSerializedProto(std::string(model, size));
    if (!status.ok()) {
      delete spm;
      report(err, err_ctx, status.ToString());
      return nullptr;
    }
    return spm;
  } catch (const std::exception& e) {
    report(err, err_ctx, e.what());
    return nullptr;
  }
}

DEPTHLAB_SPM_EXPORT void dlab_spm_free(DlabSpm* spm) { delete spm; }

DEPTHLAB_SPM_EXPORT int dlab_spm_piece_size(const DlabSpm* spm) { return spm->sp.GetPieceSize(); }

DEPTHLAB_SPM_EXPORT int dlab_spm_eos_id(const DlabSpm* spm) { return spm->sp.eos_id(); }

DEPTHLAB_SPM_EXPORT int dlab_spm_encode(const DlabSpm* spm, const char* text, size_t size,
                                        dlab_spm_sink out, void* out_ctx, dlab_spm_sink err,
                                        void* err_ctx) {
  try {
    std::vector<int> ids;
    const auto status = spm->sp.Encode(std::string(text, size), &ids);
    if (!status.ok()) {
      report(err, err_ctx, status.ToString());
      return 1;
    }
    std::vector<int32_t> ids32(ids.begin(), ids.end());
    out(out_ctx, reinterpret_cast<const char*>(ids32.data()), ids32.size() * sizeof(int32_t));
    return 0;
  } catch (const std::exception& e) {
    report(err, err_ctx, e.what());
    return 1;
  }
}

DEPTHLAB_SPM_EXPORT int dlab_spm_decode(const DlabSpm* spm, const int32_t* ids, size_t n,
                                        dlab_spm_sink out, void* out_ctx, dlab_spm_sink err,
                                        void* err_ctx) {
  try {
    const std::vector<int> v(ids, ids + n);
    std::string text;
    const auto status = spm->sp.Decode(v, &text);
    if (!status.ok()) {
      report(err, err_ctx, status.ToString());
      return 1;
    }
    out(out_ctx, text.data(), text.size());
    return 0;
  } catch (const std::exception& e) {
    report(err, err_ctx, e.what());
    return 1;
  }
}

DEPTHLAB_SPM_EXPORT int dlab_spm_id_to_piece(const DlabSpm* spm, int32_t id, dlab_spm_sink out,
                                             void* out_ctx) {
  try {
    const std::string piece = spm->sp.IdToPiece(id);
    out(out_ctx, piece.data(), piece.size());
    return 0;
  } catch (...) {
    return 1;
  }
}

DEPTHLAB_SPM_EXPORT int dlab_spm_serialize(const DlabSpm* spm, dlab_spm_sink out, void* out_ctx) {
  try {
    const std::string bytes = spm->sp.serialized_model_proto();
    out(out_ctx, bytes.data(), bytes.size());
    return 0;
  } catch (...) {
    return 1;
  }
}

DEPTHLAB_SPM_EXPORT int dlab_spm_train(const char* const* keys, const char* const* values,
                                       size_t n_args, const char* const* sentences,
                                       const size_t* sizes, size_t n_sentences,
                                       dlab_spm_sink model_out, void* out_ctx, dlab_spm_sink err,
                                       void* err_ctx) {
  try {
    std::unordered_map<std::string, std::string> args;
    for (size_t i = 0; i < n_args; ++i) args[keys[i]] = values[i];
    std::vector<std::string> v;
    v.reserve(n_sentences);
    for (size_t i = 0; i < n_sentences; ++i) v.emplace_back(sentences[i], sizes[i]);
    VectorIterator it(std::move(v));
    std::string model;
    const auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, &model);
    if (!status.ok()) {
      report(err, err_ctx, status.ToString());
      return 1;
    }
    model_out(out_ctx, model.data(), model.size());
    return 0;
  } catch (const std::exception& e) {
    report(err, err_ctx, e.what());
    return 1;
  }
}
