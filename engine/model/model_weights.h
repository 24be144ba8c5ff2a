// ModelWeights: every parameter of a GoldFinch model, placed in memory as the kernels want it.
//
// Ownership: a ModelWeights owns one or more anonymous memory arenas (huge pages advised) that
// all the views below point into; it is movable, not copyable, and immutable after loading, so
// any number of threads may read it.
// Layout rules (see kernels/kernels.h): every matrix is in the nn.Linear orientation [out, in]
// with dtype `matrix_dtype` (F32 or BF16); raw upstream LoRA factors ([in, out]) are transposed
// at load time. Vectors (mixes, LayerNorm parameters, time_decay) are always F32 and squeezed to
// [C]. The embedding table has dtype `matrix_dtype`.
#pragma once

#include <memory>
#include <vector>

#include "engine/model/config.h"
#include "kernels/tensor.h"

namespace gf {

using kernels::TensorView;

struct LayerNormWeights {
  TensorView weight;  // F32 [C]
  TensorView bias;    // F32 [C]
};

struct ChannelMixWeights {  // CMix_x060, every block
  TensorView mu_k, mu_r;    // F32 [C]        ffn.time_maa_k / time_maa_r
  TensorView key;           // [F, C]         ffn.key.weight
  TensorView receptance;    // [C, C]         ffn.receptance.weight
  TensorView value;         // [C, F]         ffn.value.weight
};

struct FinchC2Weights {     // TMix_x060c2, blocks i < s
  TensorView mu_x, mu_r, mu_k, mu_v, mu_w, mu_v2;  // F32 [C]
  TensorView maa_w1;        // [160, C]  transposed from time_maa_w1 [C, 160]
  TensorView maa_w2[5];     // [C, 32]   transposed from time_maa_w2[m] [32, C]; r, k, v, w, v2
  TensorView decay;         // F32 [A]   time_decay
  TensorView decay_w1;      // [64, C]   transposed from time_decay_w1 [C, 64]
  TensorView decay_w2;      // [A, 64]   transposed from time_decay_w2 [64, A]
  TensorView value2_w1;     // [64, C]
  TensorView value2_w2;     // [A, 64]
  TensorView receptance, key, value;  // [A, C]
  TensorView output;        // [C, A]
  LayerNormWeights ln_x;    // [A]
};

struct GoldWeights {        // GOLD time mix, blocks i >= s
  TensorView mu_x, mu_q, mu_v_cache, mu_k, mu_v;  // F32 [C]
  TensorView q_w1;          // [32, C]   transposed from time_maa_q_w1 [C, 32]
  TensorView q_w2;          // [C, 32]   transposed from time_maa_q_w2 [32, C]
  TensorView kv_w1;         // [64, C]   transposed from time_maa_kv_w1 [C, 64]
  TensorView kv_w2[2];      // [C, 32]   transposed from time_maa_kv_w2[m] [32, C]; k, v
  TensorView key_w1;        // [D_g, C]
  TensorView key_w2;        // [A, D_g]
  TensorView value_w1;      // [D_g, C]
  TensorView value_w2;      // [A, D_g]
  TensorView query;         // [A, C]
  TensorView output;        // [C, A]
  LayerNormWeights ln_q, ln_k, ln_v, ln_x;  // [A]
};

struct BlockWeights {
  LayerNormWeights ln1, ln2;
  ChannelMixWeights ffn;
  bool is_gold = false;
  FinchC2Weights finch;     // valid when !is_gold
  GoldWeights gold;         // valid when is_gold
};

struct ModelWeights {
  ModelConfig config;
  kernels::DType matrix_dtype = kernels::DType::kF32;

  TensorView emb;            // [V, C]
  LayerNormWeights ln0;      // blocks.0.ln0
  std::vector<BlockWeights> blocks;
  LayerNormWeights ln_out;
  TensorView head;           // [V, C]
  TensorView kv_cache_a;     // [c, C]      w_kv_cache_a.weight
  TensorView kv_cache_b_x0;  // [A, C]      columns 0..C-1 of w_kv_cache_b.weight (ld = C + c)
  TensorView kv_cache_b_c;   // [A, c]      columns C..C+c-1 of w_kv_cache_b.weight (ld = C + c)

  // Memory the views point into (opaque owner; freed with the weights).
  std::vector<std::shared_ptr<void>> arenas;
  size_t bytes = 0;          // total bytes of placed tensors
};

}  // namespace gf
