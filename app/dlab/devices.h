// The devices this engine can run on, as `dlab devices` prints them and
// `server_info` sends them (docs/protocol.md): the CPU, then every GPU the
// driver sees, each with whether run.device can name it here and, if not, why.
#pragma once

#include <nlohmann/json.hpp>

namespace dlab::cli {

// [{"kind": "cpu", "name": "cpu", "threads", "memory_bytes", "usable": true},
//  {"kind": "cuda", "name": "cuda:0", "index", "model", "compute_capability",
//   "memory_bytes", "memory_free_bytes" (where known), "usable", "problem" (when not usable)}]
// and, with no usable GPU, the reason in cuda_problem ("" otherwise).
struct DeviceList {
  nlohmann::json devices = nlohmann::json::array();
  std::string cuda_problem;
};
DeviceList devices_list();

}  // namespace dlab::cli
