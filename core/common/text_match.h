// Small string helpers for user-facing messages: "did you mean ...?".
#pragma once

#include <string>
#include <vector>

namespace dlab {

// Levenshtein distance: the number of single-character insertions, deletions
// and substitutions that turn `a` into `b`.
int edit_distance(const std::string& a, const std::string& b);

// The candidate closest to `word` by edit distance, or "" when even the closest
// one needs more than `max_distance` edits (then a suggestion would only
// confuse). Ties go to the earlier candidate.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates,
                          int max_distance);

// "a, b, c" (used to list allowed values in messages).
std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");

}  // namespace dlab
