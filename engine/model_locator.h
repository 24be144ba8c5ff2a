// Finding the built-in model directory (models/goldfinch-byte-small) when no --model is given:
// $GOLDFINCH_MODEL_DIR, then relative to the running binary (../models, ../../models,
// ../../../models, ../share/goldfinch/models), then relative to the current directory, then in
// the source tree the binary was built from.
// NotFound with the places searched when it is absent.
#pragma once

#include <string>

#include "common/status.h"

namespace gf {

inline constexpr const char* kBuiltinModelName = "goldfinch-byte-small";

StatusOr<std::string> FindBuiltinModel();

}  // namespace gf
