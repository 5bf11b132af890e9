// The series catalog (catalog/series_catalog.h): every name the trainer writes
// and the GUI binds is a catalog entry, once, with the width its config gives.
#include "catalog/series_catalog.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace dlab {
namespace {

std::map<std::string, int> widths(const Config& c) {
  std::map<std::string, int> w;
  for (const SeriesSpec& s : series_catalog(c)) {
    EXPECT_TRUE(w.emplace(s.name, s.width).second) << "listed twice: " << s.name;
    EXPECT_FALSE(s.description.empty()) << s.name;
  }
  return w;
}

TEST(SeriesCatalog, EveryNamedSeriesIsListedWithItsWidth) {
  Config c;
  c.model.n_layers = 5;
  c.model.n_heads = 4;
  c.model.moe.n_experts = 3;
  const std::map<std::string, int> w = widths(c);
  const int L = 5;
  const std::map<std::string, int> want = {
      {series::kLoss, 1},
      {series::kAuxLoss, 1},
      {series::kLr, 1},
      {series::kGradNorm, 1},
      {series::kTokensPerS, 1},
      {series::kValLoss, 1},
      {series::kValPpl, 1},
      {series::kResidVar, L},
      {series::kResidVarFinalNorm, 1},
      {series::kAttnOutVar, L},
      {series::kMlpOutVar, L},
      {series::kKurtosisToken, L},
      {series::kKurtosisChannelMean, L},
      {series::kKurtosisChannelMax, L},
      {series::kKurtosisFlat, L},
      {series::kAttnEntropy, L},
      {series::kAttnEntropyNorm, L},
      {series::kAttnEntropyHead, L * 4},
      {series::kWeightLog10Hist, kWeightHistBins},
      {series::kMoeExpertFraction, L * 3},
      {series::kMoeLbLoss, L},
      {series::kMoeZLoss, L},
  };
  for (const auto& [name, width] : want) {
    auto it = w.find(name);
    ASSERT_NE(it, w.end()) << name << " is not in the catalog";
    EXPECT_EQ(it->second, width) << name;
  }
  for (double eps : attention_sparsity_eps()) {
    EXPECT_EQ(w.at(series::attn_sparsity_name(eps)), L);
    EXPECT_EQ(w.at(series::attn_sparsity_head_name(eps)), L * 4);
  }
  for (double eps : weight_sparsity_eps())
    EXPECT_EQ(w.at(series::weight_sparsity_name(eps)), L + 1);
  // Nothing else: every entry has a name here.
  EXPECT_EQ(w.size(),
            want.size() + 2 * attention_sparsity_eps().size() + weight_sparsity_eps().size());
}

TEST(SeriesCatalog, DenseModelsHaveNoMoeSeries) {
  const std::map<std::string, int> w = widths(Config{});
  EXPECT_EQ(w.count(series::kMoeExpertFraction), 0u);
  EXPECT_EQ(w.count(series::kMoeLbLoss), 0u);
  EXPECT_EQ(w.count(series::kAuxLoss), 1u);  // 0 for dense models, but always written
}

TEST(SeriesCatalog, NamesCarryTheirThresholds) {
  EXPECT_EQ(series::attn_sparsity_name(1e-3), "attn_sparsity_1e-3");
  EXPECT_EQ(series::attn_sparsity_head_name(1e-2), "attn_sparsity_head_1e-2");
  EXPECT_EQ(series::weight_sparsity_name(1e-4), "weight_sparsity_1e-4");
  EXPECT_EQ(series::kurtosis_names().size(), 4u);
  EXPECT_EQ(eps_suffix(0.1), "1e-1");
}

}  // namespace
}  // namespace dlab
