// Tokenizers: raw bytes (V = 256) or a SentencePiece BPE model with byte
// fallback (any text round-trips; unseen characters become byte pieces).
//
// In a token stream, every document is preceded by the tokenizer's EOS id (the
// llm.c convention: the end-of-text token delimits documents). decode() drops
// EOS, so decode(encode(text)) == text for any text without NUL bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dlab {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<int32_t> encode(const std::string& text) const = 0;
  // Ids outside [0, vocab_size) throw dlab::Error; EOS is dropped.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  virtual int vocab_size() const = 0;
  virtual std::string kind() const = 0;         // "byte" | "sentencepiece"
  virtual std::string model_bytes() const = 0;  // serialized model; "" for byte
  virtual int eos_id() const = 0;               // document separator; -1 = none
  // A printable form of one token for labels in the GUI ("▁cat", "<0x0A>").
  virtual std::string piece(int32_t id) const = 0;
};

// ids = bytes, V = 256. EOS is byte 0 (NUL), which plain text never contains.
class ByteTokenizer : public Tokenizer {
 public:
  std::vector<int32_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int vocab_size() const override { return 256; }
  std::string kind() const override { return "byte"; }
  std::string model_bytes() const override { return ""; }
  int eos_id() const override { return 0; }
  std::string piece(int32_t id) const override;
};

// Trains a SentencePiece BPE model on `texts` with vocab_size pieces (at most;
// a corpus too small for that many merges yields fewer — vocab_size() tells).
// Settings: byte_fallback, identity normalisation (no NFKC, whitespace kept),
// no dummy prefix, "\n" a piece of its own, unk=0 bos=1 eos=2. Big corpora are
// subsampled deterministically to about max_train_bytes of text. Throws
// dlab::Error if vocab_size is outside [300, 65536] or training fails.
std::shared_ptr<Tokenizer> tokenizer_train_bpe(
    const std::vector<std::string>& texts, int vocab_size, size_t max_train_bytes = 8000000,
    const std::function<void(double fraction)>& progress = {});

// From kind() + model_bytes() (e.g. what a checkpoint stores). kind "byte"
// ignores the bytes; "sentencepiece" parses them. Unknown kind -> dlab::Error.
std::shared_ptr<Tokenizer> tokenizer_from_model(const std::string& kind, const std::string& bytes);

// Whether SentencePiece (bpe, .model files) works in this process; if not,
// *why says why (its plugin libdlab_spm.so is missing, or a sanitizer build).
bool tokenizer_sentencepiece_available(std::string* why = nullptr);

// A SentencePiece .model file (e.g. data.tokenizer = "/path/to/sp.model").
std::shared_ptr<Tokenizer> tokenizer_load_file(const std::filesystem::path& path);

}  // namespace dlab
