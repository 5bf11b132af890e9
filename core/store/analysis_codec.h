// The analysis file's contents (AnalysisFileData) as JSON, for a worker whose
// files this machine cannot read: the `arrays` of an `analysis_result` reply
// (docs/protocol.md). The one codec both sides use, so the receiver gets the
// very arrays the file holds (Jacobian matrices included) instead of guessing
// shapes from the result's JSON. No torch.
//
//   {"step": 40, "checkpoint": "...", "texts": {...}, "ints": {...}, "reals": {...},
//    "arrays": [{"name": "causal_matrix", "dtype": "float64", "shape": [3, 3],
//                "data": "<base64 of the little-endian bytes>"}, ...]}
#pragma once

#include <string>

#include "store/analysis_file.h"

namespace dlab {

std::string analysis_file_to_json(const AnalysisFileData& data);

// dlab::Error naming what is wrong: not JSON, a missing or mistyped key, an
// unknown dtype, a shape whose size does not match the data, bad base64, a
// name with empty parts, more than 64 MiB of JSON.
AnalysisFileData analysis_file_from_json(const std::string& json);

}  // namespace dlab
