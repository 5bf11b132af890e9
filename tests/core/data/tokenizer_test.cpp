#include "data/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>

#include "data/synthetic.h"
#include "test_tmp.h"

namespace dlab {
namespace {

using test::error_of;

// Text the BPE never saw: accents, CJK, emoji, tabs, runs of spaces, newlines.
const std::string kUnseen =
    "Z\xC3\xBCrich \xE2\x80\x94 \xE6\x9D\xB1\xE4\xBA\xAC \xF0\x9F\x99\x82\tTabs\n\n   three spaces"
    " and {braces} #42 ~end~";

TEST(ByteTokenizer, IdsAreBytesAndDecodeInverts) {
  ByteTokenizer tok;
  EXPECT_EQ(tok.vocab_size(), 256);
  EXPECT_EQ(tok.kind(), "byte");
  EXPECT_EQ(tok.model_bytes(), "");
  EXPECT_EQ(tok.eos_id(), 0);
  const std::vector<int32_t> ids = tok.encode("Hi\n\xC3\xBC");
  EXPECT_EQ(ids, (std::vector<int32_t>{72, 105, 10, 0xC3, 0xBC}));
  EXPECT_EQ(tok.decode(tok.encode(kUnseen)), kUnseen);
  // EOS (the document separator) is dropped by decode.
  EXPECT_EQ(tok.decode({0, 72, 105, 0}), "Hi");
  EXPECT_EQ(tok.piece('a'), "a");
  EXPECT_EQ(tok.piece('\n'), "<0x0A>");
  EXPECT_NE(error_of([&] { tok.decode({300}); }).find("token id 300 is outside [0, 256)"),
            std::string::npos);
  EXPECT_EQ(tokenizer_from_model("byte", "")->kind(), "byte");
  EXPECT_NE(error_of([&] { tokenizer_from_model("wordpiece", ""); }).find("unknown tokenizer"),
            std::string::npos);
}

// One BPE training on the synthetic corpus shared by the tests below.
class BpeTokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    docs_ = new std::vector<std::string>(corpus_synthetic(/*seed=*/11, /*target_bytes=*/600000));
    if (tokenizer_sentencepiece_available()) tok_ = tokenizer_train_bpe(*docs_, /*vocab_size=*/400);
  }
  void SetUp() override { DEPTHLAB_REQUIRE_SENTENCEPIECE(); }
  static void TearDownTestSuite() {
    delete docs_;
    tok_.reset();
  }
  static std::vector<std::string>* docs_;
  static std::shared_ptr<Tokenizer> tok_;
};
std::vector<std::string>* BpeTokenizer::docs_ = nullptr;
std::shared_ptr<Tokenizer> BpeTokenizer::tok_;

TEST_F(BpeTokenizer, HonoursVocabSizeAndRoundTrips) {
  EXPECT_EQ(tok_->kind(), "sentencepiece");
  EXPECT_EQ(tok_->vocab_size(), 400);
  EXPECT_EQ(tok_->eos_id(), 2);
  size_t bytes = 0, tokens = 0;
  for (size_t i = 0; i < docs_->size(); i += 50) {
    const std::vector<int32_t> ids = tok_->encode((*docs_)[i]);
    for (int32_t id : ids) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, 400);
    }
    EXPECT_EQ(tok_->decode(ids), (*docs_)[i]);
    bytes += (*docs_)[i].size();
    tokens += ids.size();
  }
  // The merges were learned: even with only ~110 merges (400 - 256 bytes -
  // specials - characters) in-domain text takes far fewer tokens than bytes.
  EXPECT_LT(double(tokens), 0.6 * double(bytes));
}

TEST_F(BpeTokenizer, UnseenUnicodeFallsBackToBytes) {
  const std::vector<int32_t> ids = tok_->encode(kUnseen);
  EXPECT_EQ(tok_->decode(ids), kUnseen);
  bool byte_pieces = false;
  for (int32_t id : ids) byte_pieces |= tok_->piece(id).rfind("<0x", 0) == 0;
  EXPECT_TRUE(byte_pieces);
  // decode drops EOS, like the byte tokenizer.
  std::vector<int32_t> with_eos = {tok_->eos_id()};
  with_eos.insert(with_eos.end(), ids.begin(), ids.end());
  EXPECT_EQ(tok_->decode(with_eos), kUnseen);
  EXPECT_NE(error_of([&] { tok_->decode({400}); }).find("outside [0, 400)"), std::string::npos);
}

TEST_F(BpeTokenizer, ModelBytesAndModelFileReloadIdentically) {
  const auto reloaded = tokenizer_from_model("sentencepiece", tok_->model_bytes());
  const auto dir = test::fresh_tmp_dir();
  {
    std::ofstream out(dir / "t.model", std::ios::binary);
    out << tok_->model_bytes();
  }
  const auto from_file = tokenizer_load_file(dir / "t.model");
  for (const std::string& s : {(*docs_)[0], (*docs_)[1], kUnseen, std::string("")}) {
    EXPECT_EQ(reloaded->encode(s), tok_->encode(s));
    EXPECT_EQ(from_file->encode(s), tok_->encode(s));
  }
  EXPECT_EQ(reloaded->vocab_size(), 400);
  EXPECT_EQ(reloaded->model_bytes(), tok_->model_bytes());

  test::write_text(dir / "junk.model", "not a protobuf at all");
  EXPECT_NE(error_of([&] {
              tokenizer_load_file(dir / "junk.model");
            }).find("is not a SentencePiece model"),
            std::string::npos);
}

TEST(BpeTraining, RejectsVocabularySizesItCannotHonour) {
  DEPTHLAB_REQUIRE_SENTENCEPIECE();
  const std::vector<std::string> docs = corpus_synthetic(1, 20000);
  EXPECT_NE(error_of([&] { tokenizer_train_bpe(docs, 100); }).find("use at least 300"),
            std::string::npos);
  EXPECT_NE(error_of([&] { tokenizer_train_bpe(docs, 70000); }).find("at most 65536"),
            std::string::npos);
  EXPECT_NE(error_of([&] { tokenizer_train_bpe({}, 400); }).find("empty corpus"),
            std::string::npos);

  // A corpus too small for the requested merges gives a smaller vocabulary.
  const auto small = tokenizer_train_bpe(docs, 4000);
  EXPECT_GT(small->vocab_size(), 300);
  EXPECT_LT(small->vocab_size(), 4000);
  EXPECT_EQ(small->decode(small->encode(docs[0])), docs[0]);

  // SentencePiece's own refusals come back as dlab::Error through the plugin:
  // 400 distinct CJK characters cannot fit 300 pieces next to the 256 bytes.
  std::string cjk;
  for (int rep = 0; rep < 20; ++rep) {
    for (uint32_t cp = 0x4E00; cp < 0x4E00 + 400; ++cp) {
      cjk += char(0xE0 | (cp >> 12));
      cjk += char(0x80 | ((cp >> 6) & 0x3F));
      cjk += char(0x80 | (cp & 0x3F));
      if (cp % 20 == 0) cjk += ' ';
    }
  }
  const std::string msg = error_of([&] { tokenizer_train_bpe({cjk}, 300); });
  EXPECT_NE(msg.find("training the BPE tokenizer (vocab_size=300"), std::string::npos) << msg;
}

}  // namespace
}  // namespace dlab
