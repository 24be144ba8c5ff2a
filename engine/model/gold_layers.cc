// The GOLD time mix (model doc sections 4.2 and 4.4) over packed rows. See layers.h for the
// contract; TokenCat and the K/V rows are in gold_kv.cc.
#include <cstring>

#include "engine/model/layers.h"

namespace gf::model {

using kernels::TensorView;
namespace k = gf::kernels;

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
