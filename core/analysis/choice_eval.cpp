#include "analysis/choice_eval.h"

#include <torch/torch.h>

#include <algorithm>

#include "common/error.h"
#include "data/tokenizer.h"

namespace dlab {

namespace {

// One choice as the model reads it: tokens (context part, then the choice's)
// and how many of the last ones are the choice's.
struct ChoiceTokens {
  std::vector<int64_t> ids;
  int64_t choice_tokens = 0;
  int64_t truncated = 0;
};

std::vector<int64_t> as_int64(const std::vector<int32_t>& v) { return {v.begin(), v.end()}; }

ChoiceTokens choice_tokens(const Tokenizer& tok, std::string context, std::string choice,
                           int64_t window, const std::string& at) {
  // As the harness does: spaces at the end of the context belong to the choice.
  const size_t keep = context.find_last_not_of(' ') + 1;  // npos + 1 == 0: all spaces
  choice = context.substr(keep) + choice;
  context.erase(keep);
  std::vector<int64_t> ctx, cont;
  if (context.empty()) {
    if (tok.eos_id() < 0) throw Error(at + "an empty context needs an end-of-text token");
    ctx = {tok.eos_id()};
    cont = as_int64(tok.encode(choice));
  } else {
    // The choice's tokens are those of the whole text after the context's, so
    // a token merged across the boundary counts for the choice.
    const std::vector<int64_t> whole = as_int64(tok.encode(context + choice));
    const size_t n_ctx = std::min(whole.size(), tok.encode(context).size());
    ctx.assign(whole.begin(), whole.begin() + long(n_ctx));
    cont.assign(whole.begin() + long(n_ctx), whole.end());
  }
  if (cont.empty()) throw Error(at + "the choice adds no token to the context");
  if (int64_t(cont.size()) >= window) {
    throw Error(at + "the choice is " + std::to_string(cont.size()) +
                " tokens, more than the model's window of " + std::to_string(window - 1) +
                " (data.seq_len)");
  }
  ChoiceTokens t;
  t.choice_tokens = int64_t(cont.size());
  t.ids = std::move(ctx);
  t.ids.insert(t.ids.end(), cont.begin(), cont.end());
  if (int64_t(t.ids.size()) > window) {  // the oldest context goes
    t.truncated = int64_t(t.ids.size()) - window;
    t.ids.erase(t.ids.begin(), t.ids.begin() + long(t.truncated));
  }
  return t;
}

}  // namespace

ChoiceEvalResult choice_eval(const AnalysisModel& m, const std::vector<ChoiceItem>& items,
                             const std::function<void(int64_t, int64_t)>& progress,
                             const std::atomic<bool>* stop) {
  if (m.tokenizer_kind == "none") {
    throw Error(m.checkpoint.string() +
                " was trained on token shards and has no tokenizer to encode the task's text");
  }
  const std::shared_ptr<Tokenizer> tok = tokenizer_from_model(m.tokenizer_kind, m.tokenizer_model);
  const int64_t window = int64_t(m.config.data.seq_len) + 1;  // inputs of at most seq_len tokens
  const int64_t vocab = m.config.model.vocab_size;
  Transformer model = m.model;  // the module holder: forward() is not const
  torch::NoGradGuard no_grad;
  ChoiceEvalResult out;
  int64_t right = 0, right_norm = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (stop && stop->load()) throw Error("stopped");
    const ChoiceItem& item = items[i];
    std::vector<ChoiceTokens> seqs;
    int64_t longest = 0;
    for (size_t c = 0; c < item.choices.size(); ++c) {
      const std::string at =
          "item " + std::to_string(i + 1) + ", choice " + std::to_string(c) + ": ";
      seqs.push_back(choice_tokens(*tok, item.context, item.choices[c], window, at));
      for (int64_t id : seqs.back().ids) {
        if (id < 0 || id >= vocab)
          throw Error(at + "token " + std::to_string(id) +
                      " is outside model.vocab_size=" + std::to_string(vocab));
      }
      longest = std::max<int64_t>(longest, int64_t(seqs.back().ids.size()));
    }
    // All choices of the item in one batch, padded at the end: causal
    // attention keeps the padding out of every real position.
    const int64_t B = int64_t(seqs.size()), T = longest - 1;
    torch::Tensor inputs = torch::zeros({B, T}, torch::kInt64);   // (B, T)
    torch::Tensor targets = torch::zeros({B, T}, torch::kInt64);  // (B, T)
    auto in_a = inputs.accessor<int64_t, 2>();
    auto tg_a = targets.accessor<int64_t, 2>();
    for (int64_t b = 0; b < B; ++b) {
      const std::vector<int64_t>& ids = seqs[size_t(b)].ids;
      for (int64_t t = 0; t + 1 < int64_t(ids.size()); ++t) {
        in_a[b][t] = ids[size_t(t)];
        tg_a[b][t] = ids[size_t(t + 1)];
      }
    }
    const torch::Tensor logits = model->forward(inputs).logits;  // (B, T, V)
    const torch::Tensor logp = torch::log_softmax(logits.to(torch::kFloat64), /*dim=*/-1)
                                   .gather(/*dim=*/2, targets.unsqueeze(-1))
                                   .squeeze(-1);  // (B, T)
    auto lp = logp.accessor<double, 2>();
    ChoiceItemResult r;
    r.label = item.label;
    std::vector<double> ll;
    bool cut = false;
    for (int64_t b = 0; b < B; ++b) {
      const ChoiceTokens& s = seqs[size_t(b)];
      const int64_t last = int64_t(s.ids.size()) - 1;  // targets 0..last-1
      ChoiceScore score;
      for (int64_t t = last - s.choice_tokens; t < last; ++t) score.ll += lp[b][t];
      score.tokens = s.choice_tokens;
      score.truncated = s.truncated;
      cut = cut || s.truncated > 0;
      ll.push_back(score.ll);
      r.choices.push_back(score);
    }
    r.pick = choice_pick(ll, item.choices);
    right += r.pick.by_ll == item.label;
    right_norm += r.pick.by_ll_per_byte == item.label;
    out.truncated_items += cut;
    out.items.push_back(std::move(r));
    if (progress) progress(int64_t(i + 1), int64_t(items.size()));
  }
  out.n = int64_t(items.size());
  out.acc = double(right) / double(out.n);
  out.acc_norm = double(right_norm) / double(out.n);
  return out;
}

}  // namespace dlab
