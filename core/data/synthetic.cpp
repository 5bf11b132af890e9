#include "data/synthetic.h"

#include <cctype>

#include "data/hash.h"

namespace dlab {

namespace {

struct Noun {
  const char* singular;
  const char* plural;
};
struct Verb {
  const char* third;  // present, third person singular
  const char* base;   // present plural and after does/do/did
  const char* past;
};

constexpr Noun kAgents[] = {
    {"cat", "cats"},     {"dog", "dogs"},     {"bird", "birds"},         {"child", "children"},
    {"fox", "foxes"},    {"mouse", "mice"},   {"teacher", "teachers"},   {"farmer", "farmers"},
    {"robot", "robots"}, {"king", "kings"},   {"queen", "queens"},       {"horse", "horses"},
    {"owl", "owls"},     {"baker", "bakers"}, {"sailor", "sailors"},     {"girl", "girls"},
    {"boy", "boys"},     {"wolf", "wolves"},  {"elephant", "elephants"}, {"artist", "artists"},
};
constexpr Noun kThings[] = {
    {"apple", "apples"},   {"book", "books"},   {"ball", "balls"},     {"river", "rivers"},
    {"house", "houses"},   {"box", "boxes"},    {"letter", "letters"}, {"song", "songs"},
    {"tree", "trees"},     {"stone", "stones"}, {"cake", "cakes"},     {"boat", "boats"},
    {"key", "keys"},       {"egg", "eggs"},     {"idea", "ideas"},     {"island", "islands"},
    {"orange", "oranges"}, {"map", "maps"},     {"lamp", "lamps"},     {"window", "windows"},
};
constexpr Verb kTransitive[] = {
    {"sees", "see", "saw"},
    {"likes", "like", "liked"},
    {"finds", "find", "found"},
    {"carries", "carry", "carried"},
    {"watches", "watch", "watched"},
    {"wants", "want", "wanted"},
    {"paints", "paint", "painted"},
    {"builds", "build", "built"},
    {"follows", "follow", "followed"},
    {"remembers", "remember", "remembered"},
    {"opens", "open", "opened"},
    {"eats", "eat", "ate"},
    {"throws", "throw", "threw"},
    {"hides", "hide", "hid"},
};
constexpr Verb kIntransitive[] = {
    {"sleeps", "sleep", "slept"},  {"runs", "run", "ran"},         {"sings", "sing", "sang"},
    {"waits", "wait", "waited"},   {"smiles", "smile", "smiled"},  {"falls", "fall", "fell"},
    {"dances", "dance", "danced"}, {"laughs", "laugh", "laughed"},
};
constexpr const char* kAdjectives[] = {
    "small", "big",     "red",    "green", "old",    "young",   "happy", "quiet",  "bright",
    "heavy", "strange", "little", "brave", "clever", "ancient", "empty", "orange", "yellow",
};
constexpr const char* kPlaces[] = {
    "in the garden", "near the river",   "under the old bridge", "on the hill",
    "at the market", "behind the house", "in the forest",        "by the sea",
};
constexpr const char* kAdverbs[] = {"slowly", "quickly", "again", "quietly", "happily", "alone"};
constexpr const char* kPresentTimes[] = {"Every morning", "Every day", "Today", "Usually", "Now"};
constexpr const char* kPastTimes[] = {"Yesterday", "Last night", "Long ago", "Once", "Last year"};
constexpr const char* kNumbers[] = {"zero",  "one",   "two",  "three", "four",   "five",  "six",
                                    "seven", "eight", "nine", "ten",   "eleven", "twelve"};

template <typename T, size_t N>
const T& pick(SplitMix64& rng, const T (&items)[N]) {
  return items[rng.below(N)];
}

bool starts_with_vowel(const std::string& word) {
  return !word.empty() && std::string("aeiou").find(word[0]) != std::string::npos;
}

// Generates one document; the tense and main character are fixed for the whole
// paragraph so that agreement spans sentences.
class DocumentWriter {
 public:
  explicit DocumentWriter(SplitMix64& rng) : rng_(rng) {
    past_ = rng_.chance(50);
    hero_ = &pick(rng_, kAgents);
    hero_plural_ = rng_.chance(35);
    hero_adjective_ = pick(rng_, kAdjectives);
  }

  std::string write() {
    std::string doc;
    add(doc, opening());
    const int n = 2 + int(rng_.below(6));  // 3..8 sentences in all
    for (int i = 0; i < n; ++i) {
      const uint64_t kind = rng_.below(100);
      if (kind < 30) {
        add(doc, transitive());
      } else if (kind < 45) {
        add(doc, intransitive());
      } else if (kind < 60) {
        add(doc, copula());
      } else if (kind < 75) {
        add(doc, question());
      } else if (kind < 88) {
        add(doc, arithmetic());
      } else {
        add(doc, counting());
      }
    }
    return doc;
  }

 private:
  static void add(std::string& doc, std::string sentence) {
    sentence[0] = char(std::toupper(static_cast<unsigned char>(sentence[0])));
    if (!doc.empty()) doc += ' ';
    doc += sentence;
  }

  const char* verb_form(const Verb& v, bool plural) const {
    if (past_) return v.past;
    return plural ? v.base : v.third;
  }
  const char* be(bool plural) const {
    if (past_) return plural ? "were" : "was";
    return plural ? "are" : "is";
  }
  const char* aux(bool plural) const {
    if (past_) return "did";
    return plural ? "do" : "does";
  }

  // An indefinite or demonstrative noun phrase with a/an and number agreement.
  std::string noun_phrase(const Noun& noun, bool plural) {
    std::string adjective = rng_.chance(40) ? pick(rng_, kAdjectives) : "";
    std::string head = adjective.empty() ? "" : adjective + " ";
    head += plural ? noun.plural : noun.singular;
    if (plural) {
      const uint64_t d = rng_.below(5);
      if (d == 0) return "the " + head;
      if (d == 1) return "some " + head;
      if (d == 2) return "these " + head;
      return std::string(kNumbers[2 + rng_.below(11)]) + " " + head;
    }
    const uint64_t d = rng_.below(4);
    if (d == 0) return "the " + head;
    if (d == 1) return "this " + head;
    return (starts_with_vowel(head) ? "an " : "a ") + head;
  }

  // The main character, or its pronoun once it has been introduced.
  std::string hero(bool allow_pronoun = true) {
    if (allow_pronoun && rng_.chance(40)) return hero_plural_ ? "they" : "it";
    std::string head = rng_.chance(50) ? hero_adjective_ + " " : "";
    return "the " + head + (hero_plural_ ? hero_->plural : hero_->singular);
  }

  // Subject: usually the hero, sometimes another agent; returns its number.
  std::string subject(bool* plural) {
    if (rng_.chance(70)) {
      *plural = hero_plural_;
      return hero();
    }
    *plural = rng_.chance(40);
    return noun_phrase(pick(rng_, kAgents), *plural);
  }

  std::string opening() {
    std::string time = past_ ? pick(rng_, kPastTimes) : pick(rng_, kPresentTimes);
    std::string head = hero_adjective_ + " " + (hero_plural_ ? hero_->plural : hero_->singular);
    std::string np;
    if (hero_plural_) {
      np = std::string(kNumbers[2 + rng_.below(11)]) + " " + head;
    } else {
      np = (starts_with_vowel(head) ? "an " : "a ") + head;
    }
    return time + ", there " + be(hero_plural_) + " " + np + " " + pick(rng_, kPlaces) + ".";
  }

  std::string transitive() {
    bool plural = false;
    std::string s = subject(&plural);
    const Verb& v = pick(rng_, kTransitive);
    // Argument evaluation order is unspecified: draw one number per statement.
    const Noun& thing = pick(rng_, kThings);
    const bool object_plural = rng_.chance(45);
    std::string object = noun_phrase(thing, object_plural);
    std::string place = rng_.chance(30) ? std::string(" ") + pick(rng_, kPlaces) : "";
    return s + " " + verb_form(v, plural) + " " + object + place + ".";
  }

  std::string intransitive() {
    bool plural = false;
    std::string s = subject(&plural);
    const Verb& v = pick(rng_, kIntransitive);
    std::string adverb = rng_.chance(50) ? std::string(" ") + pick(rng_, kAdverbs) : "";
    std::string place = rng_.chance(40) ? std::string(" ") + pick(rng_, kPlaces) : "";
    return s + " " + verb_form(v, plural) + adverb + place + ".";
  }

  std::string copula() {
    bool plural = false;
    std::string s = subject(&plural);
    return s + " " + be(plural) + " " + pick(rng_, kAdjectives) + ".";
  }

  // "Does the fox see an apple? Yes, it does." The answer repeats the auxiliary.
  std::string question() {
    const bool plural = hero_plural_;
    const Verb& v = pick(rng_, kTransitive);
    // Argument evaluation order is unspecified: draw one number per statement.
    const Noun& thing = pick(rng_, kThings);
    const bool object_plural = rng_.chance(45);
    std::string object = noun_phrase(thing, object_plural);
    std::string q = std::string(aux(plural)) + " " + hero(/*allow_pronoun=*/false) + " " + v.base +
                    " " + object + "?";
    const char* pronoun = plural ? "they" : "it";
    const bool yes = rng_.chance(50);
    return q + (yes ? " Yes, " : " No, ") + pronoun + " " + aux(plural) + (yes ? "." : " not.");
  }

  // "Two and three make five." Sums stay within the number words we have.
  std::string arithmetic() {
    const uint64_t a = rng_.below(7);
    const uint64_t b = rng_.below(13 - a);
    return std::string(kNumbers[a]) + " and " + kNumbers[b] + (past_ ? " made " : " make ") +
           kNumbers[a + b] + ".";
  }

  // "The cat counts four apples: one, two, three, four."
  std::string counting() {
    const Verb counts{"counts", "count", "counted"};
    const uint64_t n = 2 + rng_.below(7);
    const Noun& thing = pick(rng_, kThings);
    std::string s = hero();
    s += std::string(" ") + verb_form(counts, hero_plural_) + " " + kNumbers[n] + " " +
         thing.plural + ":";
    for (uint64_t i = 1; i <= n; ++i) s += std::string(i == 1 ? " " : ", ") + kNumbers[i];
    return s + ".";
  }

  SplitMix64& rng_;
  bool past_ = false;
  const Noun* hero_ = nullptr;
  bool hero_plural_ = false;
  std::string hero_adjective_;
};

}  // namespace

std::vector<std::string> corpus_synthetic(uint64_t seed, size_t target_bytes) {
  SplitMix64 rng(seed);
  std::vector<std::string> docs;
  size_t total = 0;
  while (total < target_bytes) {
    docs.push_back(DocumentWriter(rng).write());
    total += docs.back().size();
  }
  return docs;
}

}  // namespace dlab
