// The --json FILE option of dlab analyze and dlab eval: the results as JSON
// text to FILE, or to stdout for "-" (stdout then carries the JSON only).
#pragma once

#include <string>

namespace dlab::cli {

// Writes `text` to `path` ("-": stdout). Returns true when it went to stdout,
// so the caller prints nothing more there. dlab::Error naming --json when the
// file cannot be written.
bool json_output_write(const std::string& path, const std::string& text);

}  // namespace dlab::cli
