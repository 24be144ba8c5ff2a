// Finch-C2 time mix (model doc section 3.2) and the x060 channel mix (section 3.3) over packed
// rows. See layers.h for the contract.
#include <cstring>

#include "engine/model/layers.h"

namespace gf::model {

using kernels::TensorView;
namespace k = gf::kernels;

TensorView Workspace::Get(Slot slot, int64_t rows, int64_t cols) {
  auto& buf = buffers_[slot];
  const size_t need = static_cast<size_t>(rows * cols);
  if (buf.size() < need) buf.resize(need);
  return k::MatF32(buf.data(), rows, cols);
}

Status ShiftSpans(const TensorView& x, const TensorView& delta, const std::vector<RowSpan>& spans,
                  const std::vector<const float*>& prev, const std::vector<float*>& save_last) {
  const int64_t cols = x.cols();
  for (size_t i = 0; i < spans.size(); ++i) {
    const RowSpan& span = spans[i];
    TensorView prev_view;
    if (prev[i] != nullptr) prev_view = k::VecF32(prev[i], cols);
    GF_RETURN_IF_ERROR(k::ShiftDelta(x.RowSlice(span.begin, span.count), prev_view,
                                     delta.RowSlice(span.begin, span.count)));
    if (save_last[i] != nullptr) {
      std::memcpy(save_last[i], x.row_ptr<float>(span.begin + span.count - 1),
                  sizeof(float) * static_cast<size_t>(cols));
    }
  }
  return Status::Ok();
}

Status NormAndShift(const TensorView& x, const LayerNormWeights& norm, const TensorView& ln,
                    const TensorView& delta, const std::vector<RowSpan>& spans, ShiftKind kind,
                    int layer) {
  GF_RETURN_IF_ERROR(k::LayerNorm(x, norm.weight, norm.bias, ln));
  std::vector<const float*> prev(spans.size());
  std::vector<float*> save(spans.size());
  for (size_t i = 0; i < spans.size(); ++i) {
    SequenceState& state = *spans[i].state;
    float* shift = kind == ShiftKind::kTimeMix ? state.att_shift(layer) : state.ffn_shift(layer);
    prev[i] = spans[i].shift_from_state ? shift : nullptr;
    save[i] = shift;
  }
  return ShiftSpans(ln, delta, spans, prev, save);
}

Status FinchTimeMix(const LayerContext& ctx, const BlockWeights& block, int layer,
                    const TensorView& x, const std::vector<RowSpan>& spans) {
  const FinchC2Weights& w = block.finch;
  const int64_t rows = x.rows();
  const int64_t C = ctx.config.n_embd;
  const int64_t A = ctx.config.dim_att;
  Workspace& ws = ctx.ws;

  TensorView ln = ws.Get(Workspace::kLn, rows, C);
  TensorView delta = ws.Get(Workspace::kDelta, rows, C);
  GF_RETURN_IF_ERROR(NormAndShift(x, block.ln1, ln, delta, spans, ShiftKind::kTimeMix, layer));

  // Data-dependent mixes: z = tanh((ln + delta*mu_x) W1), m_slot = z_slot W2[slot].
  TensorView a = ws.Get(Workspace::kMixA, rows, C);
  GF_RETURN_IF_ERROR(k::ShiftMix(ln, delta, w.mu_x, TensorView{}, a));
  const int64_t lora = w.maa_w1.rows() / 5;
  TensorView z = ws.Get(Workspace::kLoraMid, rows, 5 * lora);
  GF_RETURN_IF_ERROR(k::Gemm(a, w.maa_w1, z));
  GF_RETURN_IF_ERROR(k::Tanh(z));
  const TensorView* mus[5] = {&w.mu_r, &w.mu_k, &w.mu_v, &w.mu_w, &w.mu_v2};
  const Workspace::Slot outs[5] = {Workspace::kMixR, Workspace::kMixK, Workspace::kMixV,
                                   Workspace::kMixW, Workspace::kMixV2};
  TensorView mixed[5];
  TensorView m = ws.Get(Workspace::kLoraUp, rows, C);
  for (int slot = 0; slot < 5; ++slot) {
    GF_RETURN_IF_ERROR(k::Gemm(z.ColSlice(slot * lora, lora), w.maa_w2[slot], m));
    mixed[slot] = ws.Get(outs[slot], rows, C);
    GF_RETURN_IF_ERROR(k::ShiftMix(ln, delta, *mus[slot], m, mixed[slot]));
  }
  const TensorView& xr = mixed[0];
  const TensorView& xk = mixed[1];
  const TensorView& xv = mixed[2];
  const TensorView& xw = mixed[3];
  const TensorView& xv2 = mixed[4];

  TensorView r = ws.Get(Workspace::kR, rows, A);
  TensorView kk = ws.Get(Workspace::kK, rows, A);
  TensorView v = ws.Get(Workspace::kV, rows, A);
  TensorView v2 = ws.Get(Workspace::kV2, rows, A);
  TensorView what = ws.Get(Workspace::kWhat, rows, A);
  GF_RETURN_IF_ERROR(k::Gemm(xr, w.receptance, r));
  GF_RETURN_IF_ERROR(k::Gemm(xk, w.key, kk));
  GF_RETURN_IF_ERROR(k::Gemm(xv, w.value, v));

  // v2 = W_v x_v2 + tanh(x_v2 V1) V2 (the same W_v as v).
  GF_RETURN_IF_ERROR(k::Gemm(xv2, w.value, v2));
  TensorView t = ws.Get(Workspace::kLoraMid, rows, w.value2_w1.rows());
  GF_RETURN_IF_ERROR(k::Gemm(xv2, w.value2_w1, t));
  GF_RETURN_IF_ERROR(k::Tanh(t));
  GF_RETURN_IF_ERROR(k::Gemm(t, w.value2_w2, v2, /*accumulate=*/true));

  // Decay logit w_hat = d0 + tanh(x_w D1) D2; k *= 1 - exp(-exp(w_hat)).
  t = ws.Get(Workspace::kLoraMid, rows, w.decay_w1.rows());
  GF_RETURN_IF_ERROR(k::Gemm(xw, w.decay_w1, t));
  GF_RETURN_IF_ERROR(k::Tanh(t));
  GF_RETURN_IF_ERROR(k::Gemm(t, w.decay_w2, what));
  GF_RETURN_IF_ERROR(k::AddRowVector(what, w.decay));
  GF_RETURN_IF_ERROR(k::DecayKeyScale(kk, what));

  TensorView y = ws.Get(Workspace::kY, rows, A);
  const int head_size = ctx.config.head_size;
  for (const RowSpan& span : spans) {
    TensorView state = k::Tensor(span.state->wkv_state(layer), k::DType::kF32,
                                 {ctx.config.n_head, head_size, head_size});
    auto rows_of = [&span](const TensorView& t2) { return t2.RowSlice(span.begin, span.count); };
    if (span.count >= ctx.wkv_chunked_min_tokens) {
      GF_RETURN_IF_ERROR(k::Wkv6Chunked(rows_of(r), rows_of(kk), rows_of(v), rows_of(what), state,
                                        rows_of(y), head_size));
    } else {
      GF_RETURN_IF_ERROR(k::Wkv6Sequential(rows_of(r), rows_of(kk), rows_of(v), rows_of(what),
                                           state, rows_of(y), head_size));
    }
  }
  GF_RETURN_IF_ERROR(k::Add(y, v2));
  GF_RETURN_IF_ERROR(k::LayerNorm(y, w.ln_x.weight, w.ln_x.bias, y));
  return k::Gemm(y, w.output, x, /*accumulate=*/true);
}

Status ChannelMix(const LayerContext& ctx, const BlockWeights& block, int layer,
                  const TensorView& x, const std::vector<RowSpan>& spans) {
  const ChannelMixWeights& w = block.ffn;
  const int64_t rows = x.rows();
  const int64_t C = ctx.config.n_embd;
  const int64_t F = ctx.config.dim_ffn;
  Workspace& ws = ctx.ws;

  TensorView ln = ws.Get(Workspace::kLn, rows, C);
  TensorView delta = ws.Get(Workspace::kDelta, rows, C);
  GF_RETURN_IF_ERROR(NormAndShift(x, block.ln2, ln, delta, spans, ShiftKind::kChannelMix, layer));
  TensorView xk = ws.Get(Workspace::kMixK, rows, C);
  TensorView xr = ws.Get(Workspace::kMixR, rows, C);
  GF_RETURN_IF_ERROR(k::ShiftMix(ln, delta, w.mu_k, TensorView{}, xk));
  GF_RETURN_IF_ERROR(k::ShiftMix(ln, delta, w.mu_r, TensorView{}, xr));

  TensorView kk = ws.Get(Workspace::kFfnK, rows, F);
  GF_RETURN_IF_ERROR(k::Gemm(xk, w.key, kk));
  GF_RETURN_IF_ERROR(k::ReluSquare(kk));
  TensorView vv = ws.Get(Workspace::kFfnV, rows, C);
  GF_RETURN_IF_ERROR(k::Gemm(kk, w.value, vv));
  TensorView rr = ws.Get(Workspace::kFfnR, rows, C);
  GF_RETURN_IF_ERROR(k::Gemm(xr, w.receptance, rr));
  GF_RETURN_IF_ERROR(k::Sigmoid(rr));
  return k::AddProduct(x, rr, vv);
}

}  // namespace gf::model
