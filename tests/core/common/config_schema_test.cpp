#include "common/config_schema.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "common/error.h"
#include "common/text_match.h"

namespace dlab {
namespace {

// Every member of config.h, written out by hand: the schema must match it.
std::vector<std::pair<std::string, std::string>> members(const Config& c) {
  auto d = [](double v) { return format_double(v); };
  return {
      {"run.name", c.run.name},
      {"run.dir", c.run.dir},
      {"run.device", c.run.device},
      {"model.n_layers", std::to_string(c.model.n_layers)},
      {"model.d_model", std::to_string(c.model.d_model)},
      {"model.n_heads", std::to_string(c.model.n_heads)},
      {"model.n_kv_heads", std::to_string(c.model.n_kv_heads)},
      {"model.d_ff", std::to_string(c.model.d_ff)},
      {"model.vocab_size", std::to_string(c.model.vocab_size)},
      {"model.norm_eps", d(c.model.norm_eps)},
      {"model.rope_theta", d(c.model.rope_theta)},
      {"model.norm_scaling", c.model.norm_scaling},
      {"model.init", c.model.init},
      {"model.moe.n_experts", std::to_string(c.model.moe.n_experts)},
      {"model.moe.top_k", std::to_string(c.model.moe.top_k)},
      {"model.moe.d_expert", std::to_string(c.model.moe.d_expert)},
      {"model.moe.n_shared_experts", std::to_string(c.model.moe.n_shared_experts)},
      {"model.moe.lb_loss_weight", d(c.model.moe.lb_loss_weight)},
      {"model.moe.z_loss_weight", d(c.model.moe.z_loss_weight)},
      {"data.corpus", c.data.corpus},
      {"data.tokenizer", c.data.tokenizer},
      {"data.seq_len", std::to_string(c.data.seq_len)},
      {"data.val_fraction", d(c.data.val_fraction)},
      {"data.cache_dir", c.data.cache_dir},
      {"train.batch_size", std::to_string(c.train.batch_size)},
      {"train.steps", std::to_string(c.train.steps)},
      {"train.tokens", std::to_string(c.train.tokens)},
      {"train.lr", d(c.train.lr)},
      {"train.warmup_steps", std::to_string(c.train.warmup_steps)},
      {"train.min_lr_ratio", d(c.train.min_lr_ratio)},
      {"train.weight_decay", d(c.train.weight_decay)},
      {"train.beta1", d(c.train.beta1)},
      {"train.beta2", d(c.train.beta2)},
      {"train.adam_eps", d(c.train.adam_eps)},
      {"train.grad_clip", d(c.train.grad_clip)},
      {"train.seed", std::to_string(c.train.seed)},
      {"train.eval_every", std::to_string(c.train.eval_every)},
      {"train.eval_batches", std::to_string(c.train.eval_batches)},
      {"train.checkpoint_every", std::to_string(c.train.checkpoint_every)},
      {"train.stats_every", std::to_string(c.train.stats_every)},
      {"train.attn_stats_every", std::to_string(c.train.attn_stats_every)},
      {"train.threads", std::to_string(c.train.threads)},
      {"train.kernels", c.train.kernels},
      {"train.precision", c.train.precision},
  };
}

// A value of the field's type that differs from its default.
std::string other_value(const ConfigField& f) {
  switch (f.type) {
    case ConfigField::Type::Int:
      return std::to_string(std::stoll(f.default_value) + 7);
    case ConfigField::Type::Float:
      return "0.123456789";
    case ConfigField::Type::String:
      return f.default_value + "x";
    case ConfigField::Type::Choice:
      return f.choices.back();
    case ConfigField::Type::Bool:
      return f.default_value == "true" ? "false" : "true";
  }
  return "";
}

TEST(ConfigSchema, CoversEveryMemberInOrder) {
  const Config defaults;
  const auto expected = members(defaults);
  const auto& schema = config_schema();
  ASSERT_EQ(schema.size(), expected.size());
  for (size_t i = 0; i < schema.size(); ++i) {
    EXPECT_EQ(schema[i].key, expected[i].first);
    EXPECT_EQ(schema[i].default_value, expected[i].second) << schema[i].key;
  }
}

TEST(ConfigSchema, EachSetterWritesItsOwnMember) {
  for (const ConfigField& f : config_schema()) {
    Config c;
    f.set(c, other_value(f));
    EXPECT_EQ(config_diff(Config{}, c), std::vector<std::string>{f.key});
    for (const auto& [key, value] : members(c)) {
      if (key == f.key) EXPECT_EQ(value, f.get(c)) << key;
    }
  }
}

TEST(ConfigSchema, DocsAreOneLineAndKeysUnique) {
  std::set<std::string> keys;
  for (const ConfigField& f : config_schema()) {
    EXPECT_TRUE(keys.insert(f.key).second) << f.key;
    EXPECT_FALSE(f.doc.empty()) << f.key;
    EXPECT_EQ(f.doc.find('\n'), std::string::npos) << f.key;
    EXPECT_EQ(f.doc.find('|'), std::string::npos) << f.key << " (breaks the docs table)";
    EXPECT_EQ(f.doc.back(), '.') << f.key;
    EXPECT_LE(f.doc.size(), 120u) << f.key << " (a tooltip, keep it short)";
    if (f.type == ConfigField::Type::Choice) {
      EXPECT_GE(f.choices.size(), 2u) << f.key;
    } else {
      EXPECT_TRUE(f.choices.empty()) << f.key;
    }
  }
}

TEST(ConfigSchema, SectionsAndNames) {
  const ConfigField* f = config_field_find("model.moe.top_k");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->section(), "model.moe");
  EXPECT_EQ(f->name(), "top_k");
  EXPECT_EQ(config_field_find("model.moe"), nullptr);
  EXPECT_EQ(config_field_find("train.nope"), nullptr);
  for (const ConfigField& field : config_schema()) {
    const auto& s = config_sections();
    EXPECT_NE(std::find(s.begin(), s.end(), field.section()), s.end()) << field.key;
  }
}

std::string set_error(const std::string& key, const std::string& text) {
  Config c;
  try {
    config_field_find(key)->set(c, text);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ConfigSchema, SettersRejectUnparsableText) {
  EXPECT_EQ(set_error("model.n_heads", "abc"), "model.n_heads=abc is not an integer");
  EXPECT_EQ(set_error("model.n_heads", "4.5"), "model.n_heads=4.5 is not an integer");
  EXPECT_EQ(set_error("model.n_heads", ""), "model.n_heads= is not an integer");
  EXPECT_EQ(set_error("train.lr", "fast"), "train.lr=fast is not a number");
  EXPECT_EQ(set_error("train.lr", "1e-3x"), "train.lr=1e-3x is not a number");
  EXPECT_EQ(set_error("train.lr", "1e999"), "train.lr=1e999 is not a number");
  EXPECT_EQ(set_error("model.n_layers", "3000000000"),
            "model.n_layers=3000000000 is out of range; use -2147483648 to 2147483647");
  EXPECT_EQ(set_error("train.tokens", "99999999999999999999"),
            "train.tokens=99999999999999999999 is out of range; use -9223372036854775808 to "
            "9223372036854775807");
  EXPECT_EQ(set_error("train.seed", "-1"),
            "train.seed=-1 is out of range; use 0 to 9223372036854775807");
}

TEST(ConfigSchema, SettersParseTheirTypes) {
  Config c;
  config_field_find("train.tokens")->set(c, "2_000_000");
  EXPECT_EQ(c.train.tokens, 2000000);
  config_field_find("model.n_layers")->set(c, " +12 ");
  EXPECT_EQ(c.model.n_layers, 12);
  config_field_find("train.lr")->set(c, "3e-4");
  EXPECT_EQ(c.train.lr, 3e-4);
  config_field_find("train.lr")->set(c, "+.5");
  EXPECT_EQ(c.train.lr, 0.5);
  config_field_find("train.seed")->set(c, "9223372036854775807");
  EXPECT_EQ(c.train.seed, 9223372036854775807ull);
  config_field_find("train.lr")->set(c, "nan");
  EXPECT_TRUE(std::isnan(c.train.lr));
  config_field_find("data.cache_dir")->set(c, " spaced path ");
  EXPECT_EQ(c.data.cache_dir, " spaced path ");  // strings are taken as they are
}

TEST(FormatDouble, ShortestExactText) {
  EXPECT_EQ(format_double(0.1), "0.1");
  EXPECT_EQ(format_double(3e-4), "3e-04");  // shorter than 0.0003
  EXPECT_EQ(format_double(0.003), "0.003");
  EXPECT_EQ(format_double(1e-8), "1e-08");
  EXPECT_EQ(format_double(10000.0), "10000");
  EXPECT_EQ(format_double(-0.0), "-0");
  EXPECT_EQ(format_double(std::nan("")), "nan");
  EXPECT_EQ(format_double(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(format_double(-std::numeric_limits<double>::infinity()), "-inf");
  for (const double v : {1.0 / 3.0, 0.1 + 0.2, 5e-324, 1.7976931348623157e308, 2.5e-5}) {
    Config c;
    config_field_find("train.lr")->set(c, format_double(v));
    EXPECT_EQ(c.train.lr, v) << format_double(v);
  }
}

TEST(TextMatch, EditDistanceAndClosest) {
  EXPECT_EQ(edit_distance("", ""), 0);
  EXPECT_EQ(edit_distance("abc", ""), 3);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3);
  EXPECT_EQ(edit_distance("n_layer", "n_layers"), 1);
  EXPECT_EQ(closest_match("demo", {"depth", "demo"}, 2), "demo");
  EXPECT_EQ(closest_match("dmeo", {"depth", "demo"}, 2), "demo");
  EXPECT_EQ(closest_match("zzzzzz", {"depth", "demo"}, 2), "");
  EXPECT_EQ(join({"a", "b", "c"}), "a, b, c");
}

TEST(ConfigSchema, UnknownKeyHints) {
  EXPECT_EQ(config_unknown_key_hint("model.n_layer"), "; did you mean 'model.n_layers'?");
  EXPECT_EQ(config_unknown_key_hint("model.lr"), "; did you mean 'train.lr'?");
  EXPECT_EQ(config_unknown_key_hint("trian"), "; did you mean 'train'?");
  EXPECT_EQ(config_unknown_key_hint("run.colour"), "; the keys of [run] are name, dir, device");
  EXPECT_EQ(config_unknown_key_hint("optimizer"),
            "; the sections are [run], [model], [model.moe], [data], [train]");
}

}  // namespace
}  // namespace dlab
