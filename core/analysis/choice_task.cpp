#include "analysis/choice_task.h"

#include <fstream>
#include <istream>
#include <nlohmann/json.hpp>

#include "common/config_json.h"
#include "common/error.h"

namespace dlab {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kLineMaxNesting = 8;  // a task line nests 2 levels (ARC's choices)

std::string string_at(const json& j, const char* key, const std::string& at) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) throw Error(at + std::string(key) + " must be a string");
  return it->get<std::string>();
}

std::vector<std::string> strings_at(const json& j, const char* key, const std::string& at) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_array()) throw Error(at + key + " must be an array of strings");
  std::vector<std::string> out;
  for (const json& s : *it) {
    if (!s.is_string()) throw Error(at + key + " must be an array of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

// An integer label, or a string holding one (HellaSwag files have both).
int64_t label_at(const json& j, const char* key, const std::string& at) {
  const auto it = j.find(key);
  if (it != j.end() && it->is_number_integer()) return it->get<int64_t>();
  if (it != j.end() && it->is_string()) {
    const std::string s = it->get<std::string>();
    if (!s.empty() && s.size() < 10 && s.find_first_not_of("0123456789") == std::string::npos)
      return std::stoll(s);
  }
  throw Error(at + key + " must be an integer (the index of the right choice)");
}

// The next line without its '\n'; false at the end of the file. A line longer
// than kChoiceLineMaxBytes is refused before it is held whole in memory.
bool line_read(std::istream& in, std::string& line, const std::string& at) {
  line.clear();
  std::streambuf* buf = in.rdbuf();
  for (int c = buf->sbumpc(); c != std::char_traits<char>::eof(); c = buf->sbumpc()) {
    if (c == '\n') return true;
    if (line.size() == kChoiceLineMaxBytes)
      throw Error(at + ": a line longer than " + std::to_string(kChoiceLineMaxBytes) + " bytes");
    line.push_back(char(c));
  }
  return !line.empty();
}

ChoiceFormat format_of(const json& j, const std::string& at) {
  if (j.contains("endings")) return ChoiceFormat::HellaSwag;
  if (j.contains("answerKey")) return ChoiceFormat::Arc;
  if (j.contains("context")) return ChoiceFormat::Choices;
  throw Error(at +
              "cannot tell the layout: a line needs context/choices/label, ctx/endings/label "
              "(HellaSwag) or question/choices/answerKey (ARC); or give --format");
}

ChoiceItem item_from(const json& j, ChoiceFormat format, const std::string& at) {
  ChoiceItem item;
  int64_t label = -1;
  switch (format == ChoiceFormat::Auto ? format_of(j, at) : format) {
    case ChoiceFormat::Choices:
      item.context = string_at(j, "context", at);
      item.choices = strings_at(j, "choices", at);
      label = label_at(j, "label", at);
      break;
    case ChoiceFormat::HellaSwag: {
      const std::string ctx = string_at(j, "ctx", at);
      const auto activity = j.find("activity_label");
      item.context = activity != j.end() && activity->is_string() && !activity->empty()
                         ? activity->get<std::string>() + ": " + ctx
                         : ctx;
      for (const std::string& e : strings_at(j, "endings", at)) item.choices.push_back(" " + e);
      label = label_at(j, "label", at);
      break;
    }
    case ChoiceFormat::Arc: {
      item.context = "Question: " + string_at(j, "question", at) + "\nAnswer:";
      const auto choices = j.find("choices");
      if (choices == j.end() || !choices->is_object())
        throw Error(at + "choices must be an object {\"text\": [...], \"label\": [...]}");
      const std::vector<std::string> text = strings_at(*choices, "text", at + "choices.");
      const std::vector<std::string> labels = strings_at(*choices, "label", at + "choices.");
      if (text.size() != labels.size())
        throw Error(at + "choices.text and choices.label differ in length");
      for (const std::string& t : text) item.choices.push_back(" " + t);
      const std::string key = string_at(j, "answerKey", at);
      for (size_t i = 0; i < labels.size(); ++i)
        if (labels[i] == key) label = int64_t(i);
      if (label < 0) throw Error(at + "answerKey \"" + key + "\" is not one of choices.label");
      break;
    }
    case ChoiceFormat::Auto:
      break;  // resolved above
  }
  if (item.choices.size() < 2 || item.choices.size() > kChoiceMaxChoices) {
    throw Error(at + "an item needs 2.." + std::to_string(kChoiceMaxChoices) + " choices, got " +
                std::to_string(item.choices.size()));
  }
  for (const std::string& c : item.choices)
    if (c.empty()) throw Error(at + "a choice is empty (it must add text to the context)");
  if (label < 0 || label >= int64_t(item.choices.size())) {
    throw Error(at + "label " + std::to_string(label) + " out of range; 0.." +
                std::to_string(item.choices.size() - 1) + " for its " +
                std::to_string(item.choices.size()) + " choices");
  }
  item.label = int(label);
  return item;
}

}  // namespace

ChoiceFormat choice_format_parse(const std::string& name) {
  if (name == "auto") return ChoiceFormat::Auto;
  if (name == "choices") return ChoiceFormat::Choices;
  if (name == "hellaswag") return ChoiceFormat::HellaSwag;
  if (name == "arc") return ChoiceFormat::Arc;
  throw Error("--format " + name + " unknown; one of auto, choices, hellaswag, arc");
}

std::vector<ChoiceItem> choice_task_read(const fs::path& file, ChoiceFormat format) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw Error(file.string() + ": not a file (a JSONL task: one item per line)");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file.string() + ": cannot be read");
  std::vector<ChoiceItem> items;
  std::string line;
  size_t number = 0;
  while (line_read(in, line, file.string() + ":" + std::to_string(number + 1))) {
    ++number;
    const std::string at = file.string() + ":" + std::to_string(number) + ": ";
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json_text_check(line, at.substr(0, at.size() - 2), kChoiceLineMaxBytes, kLineMaxNesting);
    const json j = json::parse(line, /*cb=*/nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) throw Error(at + "not a JSON object");
    if (items.size() == kChoiceMaxItems)
      throw Error(at + "more than " + std::to_string(kChoiceMaxItems) + " items");
    items.push_back(item_from(j, format, at));
  }
  if (items.empty()) throw Error(file.string() + ": no items");
  return items;
}

ChoicePick choice_pick(const std::vector<double>& ll, const std::vector<std::string>& choices) {
  ChoicePick p;
  for (size_t i = 1; i < ll.size(); ++i) {
    if (ll[i] > ll[size_t(p.by_ll)]) p.by_ll = int(i);
    const double per_byte = ll[i] / double(choices[i].size());
    const double best =
        ll[size_t(p.by_ll_per_byte)] / double(choices[size_t(p.by_ll_per_byte)].size());
    if (per_byte > best) p.by_ll_per_byte = int(i);
  }
  return p;
}

}  // namespace dlab
