// "@synthetic": a deterministic English-like corpus generated in-process from a
// small grammar (no download). It is made for tiny models: the vocabulary is
// small, and the text has patterns a few-layer model visibly learns — subject /
// verb agreement (the cat sees / the cats see), tense kept across a document
// (Every morning ... sees / Yesterday ... saw), a/an before vowels, pronouns that
// agree with the document's main character (it / they), questions answered with
// the matching auxiliary, small sums (two and three make five) and counting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dlab {

// Bumped whenever the generator's output changes, so token caches keyed on
// "@synthetic" are rebuilt.
constexpr int kSyntheticVersion = 1;
constexpr uint64_t kSyntheticSeed = 20240520;
constexpr size_t kSyntheticBytes = 1500000;

// Documents (one paragraph of 3-8 sentences each) until their total size
// reaches target_bytes. Same seed and size -> byte-identical output on every
// platform. ~1.5 MB takes a few tens of milliseconds.
std::vector<std::string> corpus_synthetic(uint64_t seed = kSyntheticSeed,
                                          size_t target_bytes = kSyntheticBytes);

}  // namespace dlab
