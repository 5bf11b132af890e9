#include "store/run_summary.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "common/error.h"

namespace dlab {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// JSON has no NaN: a loss not known yet is null.
json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

double number_from(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}

}  // namespace

json run_summary_json(const RunSummary& s) {
  return {{"status", s.status},
          {"step", s.step},
          {"total_steps", s.total_steps},
          {"loss", number_or_null(s.loss)},
          {"val_loss", number_or_null(s.val_loss)}};
}

void run_summary_write(const fs::path& run_dir, const RunSummary& s) {
  const json j = run_summary_json(s);
  const fs::path path = run_dir / kRunSummaryFile;
  const fs::path tmp = run_dir / (std::string(kRunSummaryFile) + ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out.flush()) throw Error("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error("cannot replace " + path.string() + ": " + ec.message());
}

std::optional<RunSummary> run_summary_read(const fs::path& run_dir) {
  const fs::path path = run_dir / kRunSummaryFile;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec || size > uintmax_t(kRunSummaryMaxBytes)) return std::nullopt;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const json j = json::parse(text.str(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  const auto status = j.find("status");
  const auto step = j.find("step");
  const auto total = j.find("total_steps");
  if (status == j.end() || !status->is_string() || step == j.end() || !step->is_number_integer() ||
      total == j.end() || !total->is_number_integer())
    return std::nullopt;
  RunSummary s;
  s.status = status->get<std::string>();
  s.step = step->get<int64_t>();
  s.total_steps = total->get<int64_t>();
  s.loss = number_from(j, "loss");
  s.val_loss = number_from(j, "val_loss");
  return s;
}

}  // namespace dlab
