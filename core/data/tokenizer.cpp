#include "data/tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "common/error.h"
#include "data/spm_bridge.h"

namespace dlab {

namespace {

// Token ids are stored as uint16 in llm.c shards.
constexpr int kMaxVocab = 65536;
// SentencePiece's default max_sentence_length is 4192 bytes and longer training
// sentences are silently dropped; we cut lines well below the limit we set.
constexpr size_t kTrainChunkBytes = 4096;

void check_id(int32_t id, int vocab, const char* who) {
  if (id < 0 || id >= vocab) {
    throw Error(std::string(who) + ": token id " + std::to_string(id) + " is outside [0, " +
                std::to_string(vocab) + ")");
  }
}

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& serialized)
      : sp_(serialized), vocab_(sp_.piece_size()), eos_(sp_.eos_id()) {}

  std::vector<int32_t> encode(const std::string& text) const override { return sp_.encode(text); }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::vector<int32_t> kept;
    kept.reserve(ids.size());
    for (int32_t id : ids) {
      check_id(id, vocab_, "sentencepiece decode");
      if (id != eos_) kept.push_back(id);
    }
    return sp_.decode(kept);
  }

  int vocab_size() const override { return vocab_; }
  std::string kind() const override { return "sentencepiece"; }
  std::string model_bytes() const override { return sp_.serialize(); }
  int eos_id() const override { return eos_; }
  std::string piece(int32_t id) const override {
    check_id(id, vocab_, "sentencepiece piece");
    return sp_.id_to_piece(id);
  }

 private:
  SpmModel sp_;
  int vocab_;
  int eos_;
};

// Lines of a document, long lines cut at UTF-8 character boundaries.
void append_training_sentences(const std::string& doc, std::vector<std::string>& out) {
  size_t start = 0;
  while (start < doc.size()) {
    size_t end = doc.find('\n', start);
    if (end == std::string::npos) end = doc.size();
    size_t a = start;
    while (a < end) {
      size_t b = std::min(end, a + kTrainChunkBytes);
      // Do not cut inside a multi-byte character (continuation bytes 10xxxxxx).
      while (b < end && b > a + 1 && (static_cast<unsigned char>(doc[b]) & 0xC0) == 0x80) --b;
      if (b > a) out.emplace_back(doc, a, b - a);
      a = b;
    }
    start = end + 1;
  }
}

}  // namespace

std::vector<int32_t> ByteTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
  return ids;
}

std::string ByteTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string text;
  text.reserve(ids.size());
  for (int32_t id : ids) {
    check_id(id, 256, "byte decode");
    if (id != eos_id()) text.push_back(char(id));
  }
  return text;
}

std::string ByteTokenizer::piece(int32_t id) const {
  check_id(id, 256, "byte piece");
  if (id >= 0x21 && id < 0x7f) return std::string(1, char(id));
  char buf[8];
  std::snprintf(buf, sizeof(buf), "<0x%02X>", unsigned(id));
  return buf;
}

std::shared_ptr<Tokenizer> tokenizer_train_bpe(const std::vector<std::string>& texts,
                                               int vocab_size, size_t max_train_bytes,
                                               const std::function<void(double)>& progress) {
  if (vocab_size > kMaxVocab) {
    throw Error("model.vocab_size=" + std::to_string(vocab_size) +
                " is too large for a BPE tokenizer: token shards store uint16 ids, at most " +
                std::to_string(kMaxVocab));
  }
  // 256 byte pieces + unk/bos/eos + "\n" + at least a few characters.
  if (vocab_size < 300) {
    throw Error("model.vocab_size=" + std::to_string(vocab_size) +
                " is too small for data.tokenizer=bpe: byte fallback alone takes 256 pieces "
                "plus 4 special ones; use at least 300 (or data.tokenizer=byte with 256)");
  }
  if (progress) progress(0.0);

  size_t total = 0;
  for (const std::string& t : texts) total += t.size();
  if (total == 0) throw Error("cannot train a BPE tokenizer on an empty corpus");
  // Deterministic subsample: every stride-th document.
  const size_t stride = max_train_bytes > 0 ? (total + max_train_bytes - 1) / max_train_bytes : 1;
  std::vector<std::string> sentences;
  for (size_t i = 0; i < texts.size(); i += std::max<size_t>(1, stride)) {
    append_training_sentences(texts[i], sentences);
  }

  const std::vector<std::pair<std::string, std::string>> args = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(vocab_size)},
      // A tiny corpus supports fewer merges than asked; accept a smaller vocab.
      {"hard_vocab_limit", "false"},
      {"byte_fallback", "true"},
      // Exact round trips: no NFKC, keep every space, no implicit leading space.
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"add_dummy_prefix", "false"},
      {"allow_whitespace_only_pieces", "true"},
      {"user_defined_symbols", "\n"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
      {"max_sentence_length", std::to_string(2 * kTrainChunkBytes)},
      {"input_sentence_size", "0"},  // we subsampled already, deterministically
      {"num_threads", "2"},
      {"minloglevel", "2"},  // training logs are pages long; errors come back as status
  };
  std::string model;
  try {
    model = spm_train(args, sentences);
  } catch (const Error& e) {
    throw Error("training the BPE tokenizer (vocab_size=" + std::to_string(vocab_size) + ", " +
                std::to_string(sentences.size()) + " sentences) failed: " + e.what());
  }
  auto tok = std::make_shared<SentencePieceTokenizer>(model);
  if (progress) progress(1.0);
  return tok;
}

std::shared_ptr<Tokenizer> tokenizer_from_model(const std::string& kind, const std::string& bytes) {
  if (kind == "byte") return std::make_shared<ByteTokenizer>();
  if (kind == "sentencepiece") return std::make_shared<SentencePieceTokenizer>(bytes);
  throw Error("unknown tokenizer kind \"" + kind + "\"; expected byte or sentencepiece");
}

bool tokenizer_sentencepiece_available(std::string* why) { return spm_available(why); }

std::shared_ptr<Tokenizer> tokenizer_load_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open the SentencePiece model " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    return std::make_shared<SentencePieceTokenizer>(ss.str());
  } catch (const Error& e) {
    throw Error(path.string() + " is not a SentencePiece model: " + e.what());
  }
}

}  // namespace dlab
