#include "common/config_io.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/config_schema.h"
#include "common/error.h"
#include "error_of.h"
#include "test_dir.h"

namespace dlab {
namespace {

using test::error_of;

// A config in which every field differs from its default, with awkward values:
// doubles that need all 17 digits, strings with quotes, backslashes, control
// characters and non-ASCII text.
Config unusual_config() {
  Config c;
  c.run.name = "wd-0.3_\"quoted\"";
  c.run.dir = "C:\\runs\\tab\there";
  c.run.device = "cuda:3";
  c.model.n_layers = 32;
  c.model.d_model = 1024;
  c.model.n_heads = 16;
  c.model.n_kv_heads = 2;
  c.model.d_ff = 2816;
  c.model.vocab_size = 65536;
  c.model.norm_eps = 1e-5;
  c.model.rope_theta = 500000.0;
  c.model.norm_scaling = "layernorm_scaling";
  c.model.init = "scaled";
  c.model.moe.n_experts = 64;
  c.model.moe.top_k = 8;
  c.model.moe.d_expert = 352;
  c.model.moe.n_shared_experts = 1;
  c.model.moe.lb_loss_weight = 0.1 + 0.2;  // 0.30000000000000004
  c.model.moe.z_loss_weight = 1.0 / 3.0;
  c.data.corpus = "/data/wiki \u00e9t\u00e9.jsonl";
  c.data.tokenizer = "bpe";
  c.data.seq_len = 4096;
  c.data.val_fraction = 0.1;
  c.data.cache_dir = "~/cache\n";
  c.train.batch_size = 512;
  c.train.steps = 123'456'789'012LL;  // both set: invalid, but it must survive a round trip
  c.train.tokens = 9'000'000'000'000LL;
  c.train.lr = 3e-4;
  c.train.warmup_steps = 2000;
  c.train.min_lr_ratio = 0.0;
  c.train.weight_decay = 5e-324;  // the smallest subnormal
  c.train.beta1 = 0.8999999999999999;
  c.train.beta2 = 0.999;
  c.train.adam_eps = 1e-15;
  c.train.grad_clip = 0.5;
  c.train.seed = 9223372036854775807ull;
  c.train.eval_every = 1000;
  c.train.eval_batches = 20;
  c.train.checkpoint_every = 5000;
  c.train.stats_every = 10;
  c.train.attn_stats_every = 100;
  c.train.threads = 16;
  c.train.kernels = "reference";
  c.train.precision = "bf16";
  return c;
}

TEST(ConfigIo, UnusualConfigChangesEveryField) {
  EXPECT_EQ(config_diff(Config{}, unusual_config()).size(), config_schema().size());
}

// ---- TOML ----------------------------------------------------------------

TEST(ConfigToml, RoundTripIsExact) {
  const Config c = unusual_config();
  const std::string toml = config_to_toml(c);
  EXPECT_EQ(config_diff(c, config_from_toml(toml, "x.toml")), std::vector<std::string>{}) << toml;
  const Config d;
  EXPECT_EQ(config_diff(d, config_from_toml(config_to_toml(d), "x.toml")),
            std::vector<std::string>{});
}

TEST(ConfigToml, RoundTripKeepsNonFiniteNumbers) {
  Config c;
  c.train.lr = std::numeric_limits<double>::quiet_NaN();
  c.train.grad_clip = std::numeric_limits<double>::infinity();
  c.train.weight_decay = -std::numeric_limits<double>::infinity();
  const Config back = config_from_toml(config_to_toml(c), "x.toml");
  EXPECT_TRUE(std::isnan(back.train.lr));
  EXPECT_EQ(back.train.grad_clip, c.train.grad_clip);
  EXPECT_EQ(back.train.weight_decay, c.train.weight_decay);
}

TEST(ConfigToml, WritesSectionsInSchemaOrder) {
  const std::string toml = config_to_toml(Config{});
  const std::vector<std::string> headers = {"[run]\n", "\n[model]\n", "\n[model.moe]\n",
                                            "\n[data]\n", "\n[train]\n"};
  size_t at = 0;
  for (const std::string& h : headers) {
    const size_t found = toml.find(h, at);
    ASSERT_NE(found, std::string::npos) << h << " in\n" << toml;
    at = found + h.size();
  }
  EXPECT_NE(toml.find("rope_theta = 10000.0\n"), std::string::npos);  // a float stays a float
  EXPECT_NE(toml.find("norm_eps = 1e-06\n"), std::string::npos);
  EXPECT_NE(toml.find("name = \"run\"\n"), std::string::npos);
  EXPECT_EQ(toml.find("moe."), std::string::npos);  // keys inside sections are bare names
}

TEST(ConfigToml, MissingKeysKeepDefaultsAndDottedKeysWork) {
  const Config c = config_from_toml(
      "model.n_layers = 12\n"
      "[train]\n"
      "lr = 1  # an integer is fine for a number\n"
      "tokens = 2_000_000\n"
      "[model.moe]\n"
      "n_experts = 8\n",
      "x.toml");
  EXPECT_EQ(c.model.n_layers, 12);
  EXPECT_EQ(c.train.lr, 1.0);
  EXPECT_EQ(c.train.tokens, 2000000);
  EXPECT_EQ(c.model.moe.n_experts, 8);
  EXPECT_EQ(config_diff(Config{}, c),
            (std::vector<std::string>{"model.n_layers", "model.moe.n_experts", "train.tokens",
                                      "train.lr"}));
}

TEST(ConfigToml, UnknownKeySuggestsTheClosest) {
  EXPECT_EQ(error_of([] { config_from_toml("[model]\nn_layers = 4\nn_layer = 4\n", "demo.toml"); }),
            "unknown key 'model.n_layer' in demo.toml:3:1; did you mean 'model.n_layers'?");
  EXPECT_EQ(error_of([] { config_from_toml("[model]\nlr = 0.1\n", "demo.toml"); }),
            "unknown key 'model.lr' in demo.toml:2:1; did you mean 'train.lr'?");
  EXPECT_EQ(error_of([] { config_from_toml("[trian]\nlr = 0.1\n", "demo.toml"); }),
            "unknown key 'trian' in demo.toml:1:2; did you mean 'train'?");
  EXPECT_EQ(error_of([] { config_from_toml("[run]\ncolour = \"red\"\n", "demo.toml"); }),
            "unknown key 'run.colour' in demo.toml:2:1; the keys of [run] are name, dir, device");
}

TEST(ConfigToml, WrongTypeNamesKeyAndExpectedType) {
  EXPECT_EQ(error_of([] { config_from_toml("[model]\nn_layers = \"four\"\n", "demo.toml"); }),
            "demo.toml:2:1: model.n_layers must be an integer, got the string \"four\"");
  EXPECT_EQ(error_of([] { config_from_toml("[model]\nn_layers = 4.5\n", "demo.toml"); }),
            "demo.toml:2:1: model.n_layers must be an integer, got the number 4.5");
  EXPECT_EQ(error_of([] { config_from_toml("[train]\nlr = \"3e-4\"\n", "demo.toml"); }),
            "demo.toml:2:1: train.lr must be a number, got the string \"3e-4\"");
  EXPECT_EQ(error_of([] { config_from_toml("[run]\nname = 7\n", "demo.toml"); }),
            "demo.toml:2:1: run.name must be a string, got the integer 7");
  EXPECT_EQ(error_of([] { config_from_toml("[model]\ninit = true\n", "demo.toml"); }),
            "demo.toml:2:1: model.init must be one of normal, scaled, got true");
  EXPECT_EQ(error_of([] { config_from_toml("[data]\nseq_len = [1, 2]\n", "demo.toml"); }),
            "demo.toml:2:1: data.seq_len must be an integer, got an array");
  EXPECT_EQ(error_of([] { config_from_toml("model = 3\n", "demo.toml"); }),
            "demo.toml:1:1: 'model' must be the section [model], got the integer 3");
  EXPECT_EQ(error_of([] { config_from_toml("[model]\nn_layers = 3000000000\n", "demo.toml"); }),
            "demo.toml:2:1: model.n_layers=3000000000 is out of range; use -2147483648 to "
            "2147483647");
}

TEST(ConfigToml, SyntaxErrorHasFileLineAndColumn) {
  const std::string message =
      error_of([] { config_from_toml("[model]\nn_layers = 4\nd_model = = 5\n", "demo.toml"); });
  EXPECT_EQ(message.rfind("demo.toml:3:", 0), 0u) << message;
  EXPECT_NE(message.find(": TOML syntax error: "), std::string::npos) << message;
  const std::string duplicate =
      error_of([] { config_from_toml("[train]\nlr = 1\nlr = 2\n", "demo.toml"); });
  EXPECT_EQ(duplicate.rfind("demo.toml:3:", 0), 0u) << duplicate;
}

TEST(ConfigToml, FromFile) {
  const std::filesystem::path dir = test::test_dir_fresh("common", "config-file");
  const std::filesystem::path file = dir / "mine.toml";
  std::ofstream(file) << "[model]\nn_layers = 7\nn_layer = 1\n";
  EXPECT_EQ(
      error_of([&] { config_from_file(file); }),
      "unknown key 'model.n_layer' in " + file.string() + ":3:1; did you mean 'model.n_layers'?");
  std::ofstream(file) << "[model]\nn_layers = 7\n";
  EXPECT_EQ(config_from_file(file).model.n_layers, 7);
  EXPECT_EQ(error_of([&] { config_from_file(dir / "missing.toml"); }),
            "cannot read the config file " + (dir / "missing.toml").string());
}

// ---- --set ---------------------------------------------------------------

TEST(ConfigSet, AppliesTypedValues) {
  Config c;
  config_set(c, "train.lr=1e-3");
  config_set(c, "model.moe.n_experts=8");
  config_set(c, " data.corpus = /data/a b.txt ");  // key and value are trimmed
  config_set(c, "data.tokenizer=\" sp.model\"");   // quotes keep what they enclose
  config_set(c, "run.name=\"quoted\"");
  config_set(c, "data.cache_dir=");
  EXPECT_EQ(c.train.lr, 1e-3);
  EXPECT_EQ(c.model.moe.n_experts, 8);
  EXPECT_EQ(c.data.corpus, "/data/a b.txt");
  EXPECT_EQ(c.data.tokenizer, " sp.model");
  EXPECT_EQ(c.run.name, "quoted");
  EXPECT_EQ(c.data.cache_dir, "");
}

TEST(ConfigSet, Errors) {
  Config c;
  EXPECT_EQ(error_of([&] { config_set(c, "model.n_layer=4"); }),
            "unknown key 'model.n_layer' in --set model.n_layer=4; did you mean 'model.n_layers'?");
  EXPECT_EQ(error_of([&] { config_set(c, "lr=1e-3"); }),
            "unknown key 'lr' in --set lr=1e-3; did you mean 'train.lr'?");
  EXPECT_EQ(error_of([&] { config_set(c, "train.lr"); }),
            "--set expects key=value (e.g. train.lr=1e-3), got 'train.lr'");
  EXPECT_EQ(error_of([&] { config_set(c, "model.n_heads=abc"); }),
            "model.n_heads=abc is not an integer");
  EXPECT_EQ(error_of([&] { config_set(c, "model=4"); }),
            "'model' in --set model=4 is a section; name one of its keys, e.g. model.n_layers");
}

// ---- --sweep -------------------------------------------------------------

TEST(ConfigSweep, OneRunPerValueNamedByKeyAndValue) {
  Config base;
  base.run.name = "depth";
  base.train.lr = 1e-3;
  const std::vector<Config> runs = config_expand_sweep(base, "model.n_layers=2,8, 16");
  ASSERT_EQ(runs.size(), 3u);
  const std::vector<int> layers = {2, 8, 16};
  const std::vector<std::string> names = {"depth-n_layers2", "depth-n_layers8", "depth-n_layers16"};
  for (size_t i = 0; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i].model.n_layers, layers[i]);
    EXPECT_EQ(runs[i].run.name, names[i]);
    EXPECT_EQ(config_diff(base, runs[i]), (std::vector<std::string>{"run.name", "model.n_layers"}));
  }
}

TEST(ConfigSweep, ValuesAsTypedAndNameSafe) {
  Config base;
  base.run.name = "wd";
  const std::vector<Config> runs = config_expand_sweep(base, "train.weight_decay=0,0.1,3e-1");
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].run.name, "wd-weight_decay0");
  EXPECT_EQ(runs[1].run.name, "wd-weight_decay0.1");
  EXPECT_EQ(runs[2].run.name, "wd-weight_decay3e-1");
  EXPECT_EQ(runs[1].train.weight_decay, 0.1);
  EXPECT_EQ(runs[2].train.weight_decay, 0.3);

  const std::vector<Config> devices = config_expand_sweep(base, "run.device=cpu,cuda:1");
  EXPECT_EQ(devices[0].run.name, "wd-devicecpu");
  EXPECT_EQ(devices[1].run.name, "wd-devicecuda_1");
  EXPECT_EQ(devices[1].run.device, "cuda:1");

  const std::vector<Config> corpora = config_expand_sweep(base, "data.corpus=/d/a b.txt");
  EXPECT_EQ(corpora[0].run.name, "wd-corpus_d_a_b.txt");
  EXPECT_EQ(corpora[0].data.corpus, "/d/a b.txt");
}

TEST(ConfigSweep, Errors) {
  const Config base;
  EXPECT_EQ(error_of([&] { config_expand_sweep(base, "model.n_layers"); }),
            "--sweep expects key=value1,value2,... (e.g. model.n_layers=4,8,16), got "
            "'model.n_layers'");
  EXPECT_EQ(error_of([&] { config_expand_sweep(base, "model.n_layer=4,8"); }),
            "unknown key 'model.n_layer' in --sweep model.n_layer=4,8; did you mean "
            "'model.n_layers'?");
  EXPECT_EQ(error_of([&] { config_expand_sweep(base, "model.n_layers=4,,8"); }),
            "--sweep model.n_layers=4,,8 has an empty value; separate the values by single commas");
  EXPECT_EQ(error_of([&] { config_expand_sweep(base, "model.n_layers="); }),
            "--sweep model.n_layers= has an empty value; separate the values by single commas");
  EXPECT_EQ(error_of([&] { config_expand_sweep(base, "model.n_layers=4,8,4"); }),
            "--sweep model.n_layers=4,8,4 lists 4 twice; each value names a run, so the values "
            "must differ");
  EXPECT_EQ(error_of([&] { config_expand_sweep(base, "run.name=a,b"); }),
            "--sweep run.name=a,b: run.name cannot be swept; a sweep names its runs "
            "<run.name>-<key><value>");
  EXPECT_EQ(error_of([&] { config_expand_sweep(base, "model.n_layers=4,eight"); }),
            "model.n_layers=eight is not an integer");
}

// ---- JSON ----------------------------------------------------------------

TEST(ConfigJson, RoundTripIsExact) {
  const Config c = unusual_config();
  const std::string json = config_to_json(c);
  EXPECT_EQ(config_diff(c, config_from_json(json)), std::vector<std::string>{}) << json;
  EXPECT_EQ(config_diff(Config{}, config_from_json(config_to_json(Config{}))),
            std::vector<std::string>{});
  EXPECT_EQ(config_from_json(json).train.lr, 3e-4);
  EXPECT_EQ(config_from_json(json).data.val_fraction, 0.1);
  // Pretty-printed JSON reads back the same.
  EXPECT_EQ(config_diff(c, config_from_json(config_to_json(c, /*indent=*/2))),
            std::vector<std::string>{});
}

TEST(ConfigJson, NestedBySectionInSchemaOrder) {
  Config c;
  c.train.lr = 3e-4;
  const std::string json = config_to_json(c);
  EXPECT_EQ(json.rfind("{\"run\":{\"name\":\"run\",\"dir\":\"runs\",\"device\":\"auto\"},"
                       "\"model\":{\"n_layers\":4,",
                       0),
            0u)
      << json;
  EXPECT_NE(json.find("\"init\":\"normal\",\"moe\":{\"n_experts\":0,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"lr\":0.0003,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"rope_theta\":10000.0,"), std::string::npos) << json;
  const nlohmann::json parsed = nlohmann::json::parse(json);
  EXPECT_EQ(parsed["model"]["moe"]["lb_loss_weight"].get<double>(), 0.01);
  EXPECT_EQ(parsed["train"]["seed"].get<int64_t>(), 1234);
  EXPECT_EQ(config_to_json(c), json);  // stable
}

TEST(ConfigJson, NonFiniteNumbersAreStrings) {
  Config c;
  c.train.lr = std::numeric_limits<double>::quiet_NaN();
  c.train.grad_clip = -std::numeric_limits<double>::infinity();
  const std::string json = config_to_json(c);
  EXPECT_NE(json.find("\"lr\":\"nan\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"grad_clip\":\"-inf\""), std::string::npos) << json;
  const Config back = config_from_json(json);
  EXPECT_TRUE(std::isnan(back.train.lr));
  EXPECT_EQ(back.train.grad_clip, c.train.grad_clip);
}

TEST(ConfigJson, PartialObjectsKeepDefaults) {
  const Config c = config_from_json(R"({"model":{"moe":{"top_k":1}},"train":{"lr":1}})");
  EXPECT_EQ(config_diff(Config{}, c), (std::vector<std::string>{"model.moe.top_k", "train.lr"}));
  EXPECT_EQ(c.train.lr, 1.0);
}

TEST(ConfigJson, Errors) {
  EXPECT_EQ(error_of([] { config_from_json(R"({"model":{"n_layer":4}})"); }),
            "unknown key 'model.n_layer' in config JSON; did you mean 'model.n_layers'?");
  EXPECT_EQ(error_of([] { config_from_json(R"({"model":{"n_layers":"4"}})", "run.h5"); }),
            "run.h5: model.n_layers must be an integer, got \"4\"");
  EXPECT_EQ(error_of([] { config_from_json(R"({"train":{"lr":"fast"}})"); }),
            "config JSON: train.lr must be a number, got \"fast\"");
  EXPECT_EQ(error_of([] { config_from_json(R"({"model":[1]})"); }),
            "config JSON: 'model' must be an object, got [1]");
  EXPECT_EQ(error_of([] { config_from_json("[1]"); }),
            "config JSON: a config must be a JSON object, got [1]");
  const std::string bad = error_of([] { config_from_json("{\"model\":"); });
  EXPECT_EQ(bad.rfind("config JSON: invalid JSON: ", 0), 0u) << bad;
}

}  // namespace
}  // namespace dlab
