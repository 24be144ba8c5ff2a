// Random GoldFinch weights of the real shapes, for benchmarks and tests that need no checkpoint.
//
// MakeRandomWeights builds a ModelWeights laid out exactly as the loader lays out a real model
// (model_weights.h: [out, in] matrices in `matrix_dtype`, F32 [C] vectors, one anonymous
// 2 MiB-aligned arena with MADV_HUGEPAGE advised, every tensor 64-byte aligned, owned through
// `arenas`). Values follow the golden set's init so activations stay finite at any depth:
// emb ~ N(0,1); LayerNorm weight 1 + N(0,0.2^2), bias N(0,0.1^2); token-shift mixes U(0,1);
// nn.Linear weights N(0, 1/in); LoRA down factors (*_w1) N(0, (0.5/sqrt(in))^2), up factors
// (*_w2) N(0, 0.1^2); time_decay U(-5, 0). Normals are a sum-of-four-uniforms approximation
// (bounded at +-3.46 sigma) from splitmix64, generated in fixed 64 Ki-element blocks each seeded
// from (seed, tensor, block), so the result depends only on the config, dtype and seed (never
// on the thread count); blocks are spread over the kernel thread pool.
// Errors: InvalidArgument when the config does not finalize or the dtype is not F32/BF16;
// ResourceExhausted when the arena cannot be mapped. Thread-safety: free functions, no shared
// state (they use the kernel thread pool, so call them from the engine thread).
#pragma once

#include <cstdint>

#include "common/status.h"
#include "engine/model/config.h"
#include "engine/model/model_weights.h"
#include "kernels/tensor.h"

namespace gf {

// A GoldFinch config of the given depth, width and vocabulary with the paper's defaults:
// head_size 64, inv_other_layer_ratio 3, kv_cache_compression_ratio 16, derived dim_att/dim_ffn,
// World tokenizer when vocab == 65536 (else byte), name "random-L<n_layer>-D<n_embd>".
// Not validated here: MakeRandomWeights finalizes (and so validates) its own copy.
ModelConfig RandomConfig(int n_layer, int n_embd, int vocab = 65536);

// Random weights for `config` (re-finalized before use) with matrices stored as `matrix_dtype`.
StatusOr<ModelWeights> MakeRandomWeights(const ModelConfig& config, kernels::DType matrix_dtype,
                                         uint64_t seed);

}  // namespace gf
