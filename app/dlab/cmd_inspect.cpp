// dlab inspect: what a run directory, a run.h5 or a checkpoint holds.
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "common/config_io.h"
#include "common/error.h"
#include "store/checkpoint_file.h"
#include "store/run_file.h"

namespace dlab::cli {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// `origin` names the file and attribute in a message about a bad config.
void print_config(const std::string& json, const std::string& origin) {
  std::cout << "# config\n" << config_to_toml(config_from_json(json, origin)) << "\n";
}

void inspect_run_file(const std::filesystem::path& path, bool show_config) {
  const RunReader reader = RunReader::open(path);
  std::cout << "# run file " << path.string() << "  (format_version " << reader.format_version()
            << ", status: " << reader.status() << ")\n";
  if (show_config) print_config(reader.config_json(), path.string() + " (attribute config)");
  std::printf("%-26s %6s %8s %10s  %s\n", "series", "width", "rows", "last step", "last value(s)");
  for (const SeriesSpec& spec : reader.series()) {
    const SeriesData d = reader.read(spec.name);
    std::string last;
    if (!d.steps.empty()) {
      const size_t row = d.steps.size() - 1;
      const int shown = std::min(d.width, 4);
      for (int i = 0; i < shown; ++i) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%s%.4g", i ? " " : "", d.values[row * d.width + i]);
        last += buf;
      }
      if (d.width > shown) last += " ...";
    }
    std::printf("%-26s %6d %8zu %10s  %s\n", spec.name.c_str(), spec.width, d.steps.size(),
                d.steps.empty() ? "-" : std::to_string(d.steps.back()).c_str(), last.c_str());
  }
}

void inspect_checkpoint(const std::filesystem::path& path, bool show_config) {
  const CheckpointData c = checkpoint_read(path, /*with_optimizer=*/false);
  std::cout << "# checkpoint " << path.string() << "  (step " << c.step << ", tokenizer "
            << c.tokenizer_kind << ", " << c.tokenizer_model.size() << " bytes)\n";
  if (show_config) print_config(c.config_json, path.string() + " (attribute config)");
  int64_t total = 0;
  std::printf("%-56s %-16s %12s\n", "parameter", "shape", "elements");
  for (const Array& a : c.state_dict) {
    const int64_t n = a.numel();  // checked: the reader bounded every shape
    total += n;
    std::printf("%-56s %-16s %12lld\n", a.name.c_str(), shape_text(a.shape).c_str(),
                static_cast<long long>(n));
  }
  std::printf("%-56s %-16s %12lld\n", "total", "", static_cast<long long>(total));
  for (const auto& [key, value] : c.counters) {
    std::cout << "counter " << key << " = " << value << "\n";
  }
}

int inspect_main(const std::string& target, bool no_config) {
  const std::filesystem::path p = target;
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) throw Error(target + " does not exist");
  if (std::filesystem::is_directory(p, ec)) {
    inspect_run_file(p / "run.h5", !no_config);
    const auto checkpoints = checkpoint_list(p);
    std::cout << "\n# checkpoints (" << checkpoints.size() << ")\n";
    for (const auto& [step, path] : checkpoints) std::cout << path.string() << "\n";
    return 0;
  }
  if (p.filename() == "run.h5") {
    inspect_run_file(p, !no_config);
  } else {
    inspect_checkpoint(p, !no_config);
  }
  return 0;
}

}  // namespace

Command command_inspect_register(CLI::App& app) {
  auto target = std::make_shared<std::string>();
  auto no_config = std::make_shared<bool>(false);
  app.description(
      "Print what a run holds: for a run directory or run.h5, its config, status and every\n"
      "metric series (rows, last value) and its checkpoints; for a checkpoint, its config,\n"
      "parameter table (HF names, shapes, counts) and counters.");
  app.add_option("target", *target, "runs/<name>, runs/<name>/run.h5 or a checkpoint .h5")
      ->required();
  app.add_flag("--no-config", *no_config, "do not print the config");
  return [target, no_config] { return inspect_main(*target, *no_config); };
}

}  // namespace dlab::cli
