#include "engine/model/cost_model.h"

#include <algorithm>

#include "kernels/tensor.h"

namespace gf {

namespace {

// Sum of (p + 1) for p in [first, first + count): keys attended by consecutive query rows.
double KeysAttended(int64_t first, int64_t count) {
  const auto a = static_cast<double>(first + 1);
  const auto b = static_cast<double>(first + count);
  return (a + b) * static_cast<double>(count) / 2.0;
}

}  // namespace

LayerCosts ComputeLayerCosts(const ModelConfig& cfg) {
  const auto C = static_cast<double>(cfg.n_embd);
  const auto A = static_cast<double>(cfg.dim_att);
  const auto F = static_cast<double>(cfg.dim_ffn);
  const auto N = static_cast<double>(cfg.head_size);
  const auto V = static_cast<double>(cfg.vocab_size);
  const auto c = static_cast<double>(cfg.compressed_dim);
  const auto Dg = static_cast<double>(cfg.gold_lora_dim);
  LayerCosts k;
  k.finch_time_mix = 5 * A * C + 448 * C + 128 * A + 2 * A * N;
  k.channel_mix = 2 * C * F + C * C;
  k.gold_query = 2 * A * C + 64 * C;
  k.gold_kv = 128 * C + 2 * Dg * (C + A);
  k.tokencat = c * C + A * (C + c);
  k.attention_pair = 2 * A;
  k.head = V * C;
  return k;
}

double PrefillLinearMacsPerToken(const ModelConfig& cfg) {
  const LayerCosts k = ComputeLayerCosts(cfg);
  return cfg.first_gold_layer * (k.finch_time_mix + k.channel_mix) + k.tokencat +
         cfg.n_gold * k.gold_kv;
}

PrefillCost PrefillMacs(const ModelConfig& cfg, int64_t first_pos, int64_t tokens,
                        int64_t chunk_tokens) {
  PrefillCost cost;
  if (tokens <= 0 || chunk_tokens <= 0) return cost;
  const LayerCosts k = ComputeLayerCosts(cfg);
  const int64_t window = 2 * static_cast<int64_t>(cfg.n_gold) + 1;
  cost.linear = static_cast<double>(tokens) * PrefillLinearMacsPerToken(cfg);
  for (int64_t begin = 0; begin < tokens; begin += chunk_tokens) {
    const int64_t count = std::min(chunk_tokens, tokens - begin);
    const int64_t w = std::min(count, window);
    const int64_t first_row = first_pos + begin + count - w;
    cost.tail += cfg.n_gold * (static_cast<double>(w) * (k.gold_query + k.channel_mix) +
                               KeysAttended(first_row, w) * k.attention_pair);
  }
  cost.head = k.head;
  return cost;
}

double RematerializeMacs(const ModelConfig& cfg, int64_t tokens) {
  const LayerCosts k = ComputeLayerCosts(cfg);
  const auto c = static_cast<double>(cfg.compressed_dim);
  const auto C = static_cast<double>(cfg.n_embd);
  return static_cast<double>(tokens) * (k.tokencat - c * C + cfg.n_gold * k.gold_kv);
}

double DecodeStepMacs(const ModelConfig& cfg, int64_t position) {
  const LayerCosts k = ComputeLayerCosts(cfg);
  const double fixed = cfg.first_gold_layer * (k.finch_time_mix + k.channel_mix) + k.tokencat +
                       cfg.n_gold * (k.gold_kv + k.gold_query + k.channel_mix) + k.head;
  return fixed + cfg.n_gold * k.attention_pair * static_cast<double>(position + 1);
}

int64_t RecurrentStateElements(const ModelConfig& cfg) {
  const int64_t C = cfg.n_embd, A = cfg.dim_att, N = cfg.head_size;
  return cfg.first_gold_layer * (A * N + 2 * C) + 2 * static_cast<int64_t>(cfg.n_gold) * C + A + C;
}

DecodeTraffic DecodeStepBytes(const ModelWeights& w, int64_t batch, int64_t position) {
  const ModelConfig& cfg = w.config;
  const auto dsize = static_cast<double>(kernels::DTypeSize(w.matrix_dtype));
  const auto b = static_cast<double>(batch);
  const double emb_bytes = static_cast<double>(w.emb.numel()) * dsize;
  DecodeTraffic t;
  t.weights = static_cast<double>(w.bytes) - emb_bytes + b * cfg.n_embd * dsize;
  t.state = b * 2.0 * sizeof(float) * static_cast<double>(RecurrentStateElements(cfg));
  t.kv = b * static_cast<double>(position + 1) * cfg.dim_att * 2.0 * cfg.n_gold * dsize;
  return t;
}

}  // namespace gf
