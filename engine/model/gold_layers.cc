// TokenCat compression, GOLD key/value rows (model doc sections 1 and 4.3) and the GOLD time mix
// (sections 4.2 and 4.4) over packed rows. See layers.h for the contract.
#include <cstring>

#include "engine/model/layers.h"

namespace gf::model {

using kernels::TensorView;
namespace k = gf::kernels;

Status TokenCatAndGoldKv(const LayerContext& ctx, const ModelWeights& weights, const TensorView& x0,
                         const TensorView& h, const TensorView& compressed,
                         const std::vector<RowSpan>& spans) {
  GF_RETURN_IF_ERROR(k::Gemm(h, weights.kv_cache_a, compressed));
  if (weights.matrix_dtype == k::DType::kBF16) {
    // As upstream's bf16 inference, where c is a bf16 GEMM output (model doc 4.6 and 7): the
    // compressed rows are BF16 values, so the prefix cache stores them in 2 bytes, losslessly.
    for (int64_t r = 0; r < compressed.rows(); ++r) {
      float* row = compressed.row_ptr<float>(r);
      for (int64_t j = 0; j < compressed.cols(); ++j) row[j] = k::Bf16ToF32(k::F32ToBf16(row[j]));
    }
  }
  return GoldKvFromCompressed(ctx, weights, x0, compressed, spans);
}

Status GoldKvFromCompressed(const LayerContext& ctx, const ModelWeights& weights,
                            const TensorView& x0, const TensorView& compressed,
                            const std::vector<RowSpan>& spans) {
  const ModelConfig& cfg = ctx.config;
  const int64_t rows = x0.rows();
  const int64_t C = cfg.n_embd;
  const int64_t A = cfg.dim_att;
  Workspace& ws = ctx.ws;

  // kc = rmsn(W_b [x0; c]) and o~ = rmsn(x0).
  TensorView kc = ws.Get(Workspace::kKc, rows, A);
  GF_RETURN_IF_ERROR(k::Gemm(x0, weights.kv_cache_b_x0, kc));
  GF_RETURN_IF_ERROR(k::Gemm(compressed, weights.kv_cache_b_c, kc, /*accumulate=*/true));
  GF_RETURN_IF_ERROR(k::RmsNorm(kc, kc));
  TensorView o = ws.Get(Workspace::kO, rows, C);
  GF_RETURN_IF_ERROR(k::RmsNorm(x0, o));

  // Token shift over the cache streams: the previous row is the true previous position (the
  // carry rows), zero only at position 0. Shared by every GOLD layer.
  TensorView d_o = ws.Get(Workspace::kDo, rows, C);
  TensorView d_kc = ws.Get(Workspace::kDk, rows, A);
  std::vector<const float*> prev_o(spans.size()), prev_kc(spans.size());
  std::vector<float*> save_o(spans.size()), save_kc(spans.size());
  for (size_t i = 0; i < spans.size(); ++i) {
    SequenceState& s = *spans[i].state;
    prev_o[i] = save_o[i] = s.carry_o();
    prev_kc[i] = save_kc[i] = s.carry_kc();
    s.ReserveKv(spans[i].count);
  }
  GF_RETURN_IF_ERROR(ShiftSpans(o, d_o, spans, prev_o, save_o));
  GF_RETURN_IF_ERROR(ShiftSpans(kc, d_kc, spans, prev_kc, save_kc));

  TensorView mix = ws.Get(Workspace::kMixA, rows, C);
  TensorView kappa = ws.Get(Workspace::kKappa, rows, A);
  TensorView nu = ws.Get(Workspace::kNu, rows, A);
  TensorView mk = ws.Get(Workspace::kMk, rows, C);
  TensorView mv = ws.Get(Workspace::kMv, rows, C);
  for (int g = 0; g < cfg.n_gold; ++g) {
    const GoldWeights& w = weights.blocks[static_cast<size_t>(cfg.first_gold_layer + g)].gold;
    // kv-mix LoRA on the original-token stream: z = tanh((o + d_o*mu_o) KV1); mk, mv.
    GF_RETURN_IF_ERROR(k::ShiftMix(o, d_o, w.mu_v_cache, TensorView{}, mix));
    const int64_t lora = w.kv_w1.rows() / 2;
    TensorView z = ws.Get(Workspace::kLoraMid, rows, 2 * lora);
    GF_RETURN_IF_ERROR(k::Gemm(mix, w.kv_w1, z));
    GF_RETURN_IF_ERROR(k::Tanh(z));
    GF_RETURN_IF_ERROR(k::Gemm(z.ColSlice(0, lora), w.kv_w2[0], mk));
    GF_RETURN_IF_ERROR(k::Gemm(z.ColSlice(lora, lora), w.kv_w2[1], mv));

    // Keys: kappa = kc + d_kc*(mu_k + mk); kappa += tanh(kappa K1) K2; K = LN_k(kappa).
    TensorView t = ws.Get(Workspace::kLoraMid2, rows, w.key_w1.rows());
    GF_RETURN_IF_ERROR(k::ShiftMix(kc, d_kc, w.mu_k, mk, kappa));
    GF_RETURN_IF_ERROR(k::Gemm(kappa, w.key_w1, t));
    GF_RETURN_IF_ERROR(k::Tanh(t));
    GF_RETURN_IF_ERROR(k::Gemm(t, w.key_w2, kappa, /*accumulate=*/true));
    GF_RETURN_IF_ERROR(k::LayerNorm(kappa, w.ln_k.weight, w.ln_k.bias, kappa));

    // Values: nu = o + d_o*(mu_v + mv); nu += tanh(nu V1) V2; V = LN_v(nu).
    GF_RETURN_IF_ERROR(k::ShiftMix(o, d_o, w.mu_v, mv, nu));
    GF_RETURN_IF_ERROR(k::Gemm(nu, w.value_w1, t));
    GF_RETURN_IF_ERROR(k::Tanh(t));
    GF_RETURN_IF_ERROR(k::Gemm(t, w.value_w2, nu, /*accumulate=*/true));
    GF_RETURN_IF_ERROR(k::LayerNorm(nu, w.ln_v.weight, w.ln_v.bias, nu));

    const k::RopeParams rope{cfg.rope.enabled, cfg.rope.base, cfg.rope.rescale, cfg.rope.rebase};
    for (const RowSpan& span : spans) {
      TensorView keys = kappa.RowSlice(span.begin, span.count);
      GF_RETURN_IF_ERROR(k::Rope(keys, span.first_pos, cfg.head_size, rope));
      GF_RETURN_IF_ERROR(k::Convert(keys, span.state->PendingKeys(g, span.count)));
      GF_RETURN_IF_ERROR(k::Convert(nu.RowSlice(span.begin, span.count),
                                    span.state->PendingValues(g, span.count)));
    }
  }
  for (const RowSpan& span : spans) span.state->CommitKv(span.count);
  return Status::Ok();
}

Status GoldTimeMix(const LayerContext& ctx, const BlockWeights& block, int layer,
                   const TensorView& x, const std::vector<RowSpan>& spans) {
  const ModelConfig& cfg = ctx.config;
  const GoldWeights& w = block.gold;
  const int64_t rows = x.rows();
  const int64_t C = cfg.n_embd;
  const int64_t A = cfg.dim_att;
  const int g = layer - cfg.first_gold_layer;
  Workspace& ws = ctx.ws;

  TensorView ln = ws.Get(Workspace::kLn, rows, C);
  TensorView delta = ws.Get(Workspace::kDelta, rows, C);
  GF_RETURN_IF_ERROR(NormAndShift(x, block.ln1, ln, delta, spans, ShiftKind::kTimeMix, layer));

  // Query: m_q = tanh((ln + delta*mu_x) Q1) Q2; x_q = ln + delta*(mu_q + m_q); q = LN_q(W_q x_q).
  TensorView a = ws.Get(Workspace::kMixA, rows, C);
  GF_RETURN_IF_ERROR(k::ShiftMix(ln, delta, w.mu_x, TensorView{}, a));
  TensorView t = ws.Get(Workspace::kLoraMid, rows, w.q_w1.rows());
  GF_RETURN_IF_ERROR(k::Gemm(a, w.q_w1, t));
  GF_RETURN_IF_ERROR(k::Tanh(t));
  TensorView m = ws.Get(Workspace::kLoraUp, rows, C);
  GF_RETURN_IF_ERROR(k::Gemm(t, w.q_w2, m));
  GF_RETURN_IF_ERROR(k::ShiftMix(ln, delta, w.mu_q, m, a));
  TensorView q = ws.Get(Workspace::kQ, rows, A);
  GF_RETURN_IF_ERROR(k::Gemm(a, w.query, q));
  GF_RETURN_IF_ERROR(k::LayerNorm(q, w.ln_q.weight, w.ln_q.bias, q));

  const k::RopeParams rope{cfg.rope.enabled, cfg.rope.base, cfg.rope.rescale, cfg.rope.rebase};
  TensorView attn = ws.Get(Workspace::kAttn, rows, A);
  for (const RowSpan& span : spans) {
    TensorView qs = q.RowSlice(span.begin, span.count);
    GF_RETURN_IF_ERROR(k::Rope(qs, span.first_pos, cfg.head_size, rope));
    GF_RETURN_IF_ERROR(k::CausalAttention(qs, span.state->keys(g), span.state->values(g),
                                          span.first_pos, attn.RowSlice(span.begin, span.count),
                                          cfg.head_size));
  }
  GF_RETURN_IF_ERROR(k::LayerNorm(attn, w.ln_x.weight, w.ln_x.bias, attn));
  return k::Gemm(attn, w.output, x, /*accumulate=*/true);
}

}  // namespace gf::model
