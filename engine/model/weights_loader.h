// Loading a model directory into ModelWeights.
//
// A model directory holds config.json and one or more *.safetensors files (all are read, in
// sorted name order; a tensor name may appear in only one of them, and every tensor of every
// file must be used). The one exception is a file named "cases.safetensors": the golden test
// directories keep their reference inputs/outputs there, so it is never a weight file.
// Every expected tensor name, shape and dtype is checked against the config before use;
// missing, extra, misshaped or duplicated tensors and unsupported dtypes give InvalidArgument
// naming the tensor (and its file); malformed files give the SafetensorsFile errors. Source
// dtypes F32, BF16 and F16 are accepted; matrices are converted to `matrix_dtype` (BF16 rounds to
// nearest even), vectors to F32 ([1,1,X] squeezed to [X]), and everything is copied out of the
// file mapping into one anonymous, 2 MiB-aligned arena with MADV_HUGEPAGE advised and every
// tensor 64-byte aligned (computing straight from a file-backed mapping is about 2x slower).
// The files are unmapped before returning. `time_faaaa` may be absent; when present it is checked and
// then dropped (unused by GoldFinch). Thread-safety: free functions with no shared state.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/model/model_weights.h"

namespace gf {

struct WeightLoadOptions {
  kernels::DType matrix_dtype = kernels::DType::kF32;  // kF32 or kBF16
};

StatusOr<ModelWeights> LoadModelWeights(const std::string& model_dir,
                                        const WeightLoadOptions& options = {});

// The weight files of a model directory: every regular "*.safetensors" file except
// "cases.safetensors", sorted by name. NotFound when there are none or the directory is missing.
StatusOr<std::vector<std::string>> ListWeightFiles(const std::string& model_dir);

// Loads from an already-parsed config and explicit safetensors paths (used by tests). The
// config is re-finalized (derived fields recomputed) before use.
StatusOr<ModelWeights> LoadModelWeightsFromFiles(const ModelConfig& config,
                                                 const std::vector<std::string>& files,
                                                 const WeightLoadOptions& options = {});

}  // namespace gf
