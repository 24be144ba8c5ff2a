// Work and memory-traffic counts of GoldFinch passes, from the shapes alone (model doc section
// 6.1), for roofline reports and schedulers.
//
// Units: multiply-accumulates (MACs; FLOPs = 2 x MACs) and bytes, as doubles (exact below 2^53).
// Only matrix and recurrence work is counted (GEMMs, LoRAs, the WKV step, attention dot products);
// elementwise work (mixes, exps, norms, softmax) is O(C) per row and left out, as in the doc.
// The WKV counts the step form (2AN per token) even when the engine evaluates it chunk-parallel.
// Inputs must be Finalize()d configs / loaded weights; the functions are pure (thread-safe).
#pragma once

#include <cstdint>

#include "engine/model/config.h"
#include "engine/model/model_weights.h"

namespace gf {

// Per-token / per-row MACs of the parts (doc 6.1).
struct LayerCosts {
  double finch_time_mix = 0;  // M_c2 = 5AC + 448C + 128A + 2AN, per token per Finch-C2 layer
  double channel_mix = 0;     // M_cm = 2CF + C^2, per row per layer
  double gold_query = 0;      // M_gq = 2AC + 64C, per query row per GOLD layer
  double gold_kv = 0;         // M_gkv = 128C + 2 D_g (C + A), per position per GOLD layer
  double tokencat = 0;        // M_kc = cC + A(C + c), per token
  double attention_pair = 0;  // 2A, per (query, key) pair per GOLD layer
  double head = 0;            // VC, per logits row
};
LayerCosts ComputeLayerCosts(const ModelConfig& config);

// MACs per prompt token of the part of prefill that is linear in T:
// s (M_c2 + M_cm) + M_kc + G M_gkv (Finch stack + TokenCat + GOLD K/V).
double PrefillLinearMacsPerToken(const ModelConfig& config);

// MACs of GoldFinchModel::Prefill of `tokens` tokens continuing a state at `first_pos`, in
// Forward calls of `chunk_tokens`, with last-position logits. Every call runs its last
// W = min(chunk, 2G+1) rows through each GOLD layer (query side, attention over all keys up to
// each row, channel mix); the head runs once.
struct PrefillCost {
  double linear = 0;  // tokens x PrefillLinearMacsPerToken
  double tail = 0;    // GOLD windows of every chunk (query rows, attention, channel mix)
  double head = 0;    // one logits row
  double total() const { return linear + tail + head; }
};
PrefillCost PrefillMacs(const ModelConfig& config, int64_t first_pos, int64_t tokens,
                        int64_t chunk_tokens);

// MACs of GoldFinchModel::Rematerialize of `tokens` positions (K/V rebuilt from the compressed
// rows, doc 6.4): tokens x (A (C + c) + G M_gkv): decompression without the compression GEMM.
double RematerializeMacs(const ModelConfig& config, int64_t tokens);

// MACs of one decode step of one sequence whose new token sits at absolute position `position`
// (it attends position + 1 keys): M_dec + G * 2A * (position + 1).
double DecodeStepMacs(const ModelConfig& config, int64_t position);

// Recurrent state elements of one sequence (doc 5.2): s (AN + 2C) + 2GC + A + C.
int64_t RecurrentStateElements(const ModelConfig& config);

// Bytes one decode step must move for `batch` sequences whose new tokens sit at `position`.
struct DecodeTraffic {
  double weights =
      0;  // every placed tensor except the embedding table, + one embedding row per sequence
  double state = 0;  // recurrent state read + written, F32, per sequence
  double kv = 0;     // materialised GOLD K and V rows read (position + 1 per layer), per sequence
  double total() const { return weights + state + kv; }
};
DecodeTraffic DecodeStepBytes(const ModelWeights& weights, int64_t batch, int64_t position);

}  // namespace gf
