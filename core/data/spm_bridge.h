// SentencePiece through the private plugin libdlab_spm (spm_plugin_api.h says
// why it cannot be linked directly next to LibTorch). The plugin is found at
// $DEPTHLAB_SPM_PLUGIN, else in the build tree, else next to the executable or
// in <prefix>/lib/depthlab/ for an installed build.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

struct DlabSpm;

namespace dlab {

// True when SentencePiece can be used in this process; otherwise *why says
// what is missing (plugin not found, or a sanitizer build, which forbids the
// RTLD_DEEPBIND the plugin needs).
bool spm_available(std::string* why = nullptr);

// A SentencePiece model loaded in the plugin. Methods are thread-safe (const).
class SpmModel {
 public:
  explicit SpmModel(const std::string& serialized);  // throws dlab::Error
  ~SpmModel();
  SpmModel(const SpmModel&) = delete;
  SpmModel& operator=(const SpmModel&) = delete;

  std::vector<int32_t> encode(const std::string& text) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  int piece_size() const;
  int eos_id() const;
  std::string id_to_piece(int32_t id) const;
  std::string serialize() const;

 private:
  DlabSpm* handle_ = nullptr;
};

// SentencePieceTrainer::Train(args, sentences) -> the serialized model.
std::string spm_train(const std::vector<std::pair<std::string, std::string>>& args,
                      const std::vector<std::string>& sentences);

}  // namespace dlab
