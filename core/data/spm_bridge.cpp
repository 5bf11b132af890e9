#include "data/spm_bridge.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/error.h"
#include "common/install_paths.h"
#include "data/spm_plugin_api.h"

namespace dlab {

namespace fs = std::filesystem;

namespace {

// ASan and TSan abort on dlopen(RTLD_DEEPBIND), and without it SentencePiece
// would bind to LibTorch's libprotobuf (an incompatible version) and crash.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DEPTHLAB_SPM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DEPTHLAB_SPM_SANITIZED 1
#endif
#endif

struct Api {
  std::string error;  // non-empty when the plugin could not be loaded
  std::string path;
  dlab_spm_load_fn load = nullptr;
  dlab_spm_free_fn free = nullptr;
  dlab_spm_piece_size_fn piece_size = nullptr;
  dlab_spm_eos_id_fn eos_id = nullptr;
  dlab_spm_encode_fn encode = nullptr;
  dlab_spm_decode_fn decode = nullptr;
  dlab_spm_id_to_piece_fn id_to_piece = nullptr;
  dlab_spm_serialize_fn serialize = nullptr;
  dlab_spm_train_fn train = nullptr;
};

std::vector<fs::path> candidate_paths() {
  std::vector<fs::path> paths;
  if (const char* env = std::getenv("DEPTHLAB_SPM_PLUGIN"); env && *env) paths.emplace_back(env);
  // The installed plugin before the build tree's, so an installed program
  // never loads a stale plugin left at the build path.
  if (const fs::path exe = executable_dir(); !exe.empty()) {
    paths.push_back(exe / "libdlab_spm.so");
    paths.push_back(installed_lib_dir() / "libdlab_spm.so");
  }
#ifdef DEPTHLAB_SPM_BUILD_PATH
  paths.emplace_back(DEPTHLAB_SPM_BUILD_PATH);
#endif
  return paths;
}

template <typename F>
bool bind(void* lib, const char* name, F* fn, std::string* error) {
  *fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!*fn) *error = std::string("the SentencePiece plugin lacks ") + name;
  return *fn != nullptr;
}

Api load_api() {
  Api api;
#ifdef DEPTHLAB_SPM_SANITIZED
  api.error =
      "SentencePiece is unavailable in sanitizer builds (its plugin needs dlopen with "
      "RTLD_DEEPBIND, which ASan/TSan forbid); use data.tokenizer=byte";
  return api;
#else
  std::string tried;
  for (const fs::path& p : candidate_paths()) {
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
      tried += (tried.empty() ? "" : ", ") + p.string();
      continue;
    }
    // RTLD_LOCAL keeps its bundled protobuf out of the global scope (where
    // LibTorch's libprotobuf would bind to it); RTLD_DEEPBIND makes it bind to
    // its own copy before LibTorch's.
    void* lib = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!lib) {
      const char* e = dlerror();
      api.error = "cannot load the SentencePiece plugin " + p.string() + ": " + (e ? e : "?");
      return api;
    }
    api.path = p.string();
    dlab_spm_api_version_fn version = nullptr;
    if (!bind(lib, "dlab_spm_api_version", &version, &api.error)) return api;
    if (version() != DEPTHLAB_SPM_API_VERSION) {
      api.error = "the SentencePiece plugin " + p.string() + " has API version " +
                  std::to_string(version()) + "; this build expects " +
                  std::to_string(DEPTHLAB_SPM_API_VERSION);
      return api;
    }
    const bool ok = bind(lib, "dlab_spm_load", &api.load, &api.error) &&
                    bind(lib, "dlab_spm_free", &api.free, &api.error) &&
                    bind(lib, "dlab_spm_piece_size", &api.piece_size, &api.error) &&
                    bind(lib, "dlab_spm_eos_id", &api.eos_id, &api.error) &&
                    bind(lib, "dlab_spm_encode", &api.encode, &api.error) &&
                    bind(lib, "dlab_spm_decode", &api.decode, &api.error) &&
                    bind(lib, "dlab_spm_id_to_piece", &api.id_to_piece, &api.error) &&
                    bind(lib, "dlab_spm_serialize", &api.serialize, &api.error) &&
                    bind(lib, "dlab_spm_train", &api.train, &api.error);
    if (ok) api.error.clear();
    return api;  // the library stays loaded for the life of the process
  }
  api.error = "the SentencePiece plugin libdlab_spm.so was not found (tried: " + tried +
              "); set DEPTHLAB_SPM_PLUGIN to its path";
  return api;
#endif
}

const Api& api() {
  static const Api instance = load_api();
  return instance;
}

const Api& checked_api() {
  const Api& a = api();
  if (!a.error.empty()) throw Error(a.error);
  return a;
}

// Sinks: the plugin hands bytes back through these.
void append_to_string(void* ctx, const char* data, size_t size) {
  static_cast<std::string*>(ctx)->append(data, size);
}

}  // namespace

bool spm_available(std::string* why) {
  const Api& a = api();
  if (why) *why = a.error;
  return a.error.empty();
}

SpmModel::SpmModel(const std::string& serialized) {
  const Api& a = checked_api();
  std::string err;
  handle_ = a.load(serialized.data(), serialized.size(), append_to_string, &err);
  if (!handle_) {
    throw Error("cannot load the SentencePiece model (" + std::to_string(serialized.size()) +
                " bytes): " + err);
  }
}

SpmModel::~SpmModel() {
  if (handle_) api().free(handle_);
}

std::vector<int32_t> SpmModel::encode(const std::string& text) const {
  std::string bytes, err;
  if (api().encode(handle_, text.data(), text.size(), append_to_string, &bytes, append_to_string,
                   &err) != 0) {
    throw Error("SentencePiece encode failed: " + err);
  }
  std::vector<int32_t> ids(bytes.size() / sizeof(int32_t));
  std::memcpy(ids.data(), bytes.data(), ids.size() * sizeof(int32_t));
  return ids;
}

std::string SpmModel::decode(const std::vector<int32_t>& ids) const {
  std::string text, err;
  if (api().decode(handle_, ids.data(), ids.size(), append_to_string, &text, append_to_string,
                   &err) != 0) {
    throw Error("SentencePiece decode failed: " + err);
  }
  return text;
}

int SpmModel::piece_size() const { return api().piece_size(handle_); }

int SpmModel::eos_id() const { return api().eos_id(handle_); }

std::string SpmModel::id_to_piece(int32_t id) const {
  std::string piece;
  api().id_to_piece(handle_, id, append_to_string, &piece);
  return piece;
}

std::string SpmModel::serialize() const {
  std::string bytes;
  if (api().serialize(handle_, append_to_string, &bytes) != 0) {
    throw Error("cannot serialize the SentencePiece model");
  }
  return bytes;
}

std::string spm_train(const std::vector<std::pair<std::string, std::string>>& args,
                      const std::vector<std::string>& sentences) {
  const Api& a = checked_api();
  std::vector<const char*> keys, values, texts;
  std::vector<size_t> sizes;
  for (const auto& kv : args) {
    keys.push_back(kv.first.c_str());
    values.push_back(kv.second.c_str());
  }
  for (const std::string& s : sentences) {
    texts.push_back(s.data());
    sizes.push_back(s.size());
  }
  std::string model, err;
  if (a.train(keys.data(), values.data(), keys.size(), texts.data(), sizes.data(), texts.size(),
              append_to_string, &model, append_to_string, &err) != 0) {
    throw Error(err);
  }
  return model;
}

}  // namespace dlab
