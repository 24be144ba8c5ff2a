// TokenCat compression and GOLD key/value rows (model doc sections 1, 4.3 and 6.4) over packed
// rows, and the F32 copies of the matrices they use. See layers.h for the contract.
//
// The K/V rows of a position depend only on that position and the one before it, so long
// batches are cut into blocks of rows that run in parallel, one block per pool task, each with
// its own scratch (a block's temporaries stay in a core's L2) and single-threaded kernels. A
// block recomputes the decompressed row before its first one (a one-row halo) instead of
// waiting for its neighbour. Short batches (decode) run as one block on the calling thread with
// the kernels' own parallelism and the stored weights, so decode numerics do not depend on this.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>

#include "engine/model/layers.h"
#include "kernels/thread_pool.h"

namespace gf::model {

using kernels::TensorView;
namespace k = gf::kernels;

namespace {

// Rows per parallel block: every GEMM of a block then has M >= 64 (the sgemm path, whose result
// does not depend on M) and a block's dozen [rows, C] temporaries fit in a 1 MiB L2.
constexpr int64_t kBlockRows = 64;

GoldKvMatrices ViewsOf(const ModelWeights& weights) {
  GoldKvMatrices m;
  m.b_x0 = weights.kv_cache_b_x0;
  m.b_c = weights.kv_cache_b_c;
  const ModelConfig& cfg = weights.config;
  for (int g = 0; g < cfg.n_gold; ++g) {
    const GoldWeights& w = weights.blocks[static_cast<size_t>(cfg.first_gold_layer + g)].gold;
    m.layers.push_back(
        {w.kv_w1, {w.kv_w2[0], w.kv_w2[1]}, w.key_w1, w.key_w2, w.value_w1, w.value_w2});
  }
  return m;
}

// The rows of `spans` that fall in [lo, hi): (span index, first row, end row).
struct Overlap {
  size_t span;
  int64_t begin, end;
};
std::vector<Overlap> Overlaps(const std::vector<RowSpan>& spans, int64_t lo, int64_t hi) {
  std::vector<Overlap> out;
  for (size_t i = 0; i < spans.size(); ++i) {
    const int64_t b = std::max(lo, spans[i].begin);
    const int64_t e = std::min(hi, spans[i].begin + spans[i].count);
    if (b < e) out.push_back({i, b, e});
  }
  return out;
}

// Everything one block needs besides its rows.
struct KvJob {
  const ModelConfig& cfg;
  const ModelWeights& weights;
  const GoldKvMatrices& mats;
  const TensorView& x0;
  const TensorView& compressed;
  const std::vector<RowSpan>& spans;
  // Per span: the pending K and V rows of every GOLD layer (span-relative rows), and where the
  // span's last decompressed rows (the next carry rows) are saved.
  const std::vector<std::vector<TensorView>>& keys;
  const std::vector<std::vector<TensorView>>& values;
  std::vector<std::vector<float>>& last_o;
  std::vector<std::vector<float>>& last_kc;
};

// K/V of packed rows [b0, b1) with scratch `ws`.
Status RunBlock(const KvJob& job, int64_t b0, int64_t b1, Workspace& ws) {
  const ModelConfig& cfg = job.cfg;
  const int64_t C = cfg.n_embd;
  const int64_t A = cfg.dim_att;
  const std::vector<Overlap> parts = Overlaps(job.spans, b0, b1);
  // The halo: the row before b0 when it belongs to the same span (its shift source).
  bool halo = false;
  for (const Overlap& p : parts) halo |= p.begin == b0 && b0 > job.spans[p.span].begin;
  const int64_t h0 = halo ? b0 - 1 : b0;
  const int64_t n = b1 - h0;

  // kc = rmsn(W_b [x0; c]) and o~ = rmsn(x0), rows h0..b1.
  TensorView kc = ws.Get(Workspace::kKc, n, A);
  GF_RETURN_IF_ERROR(k::Gemm(job.x0.RowSlice(h0, n), job.mats.b_x0, kc));
  GF_RETURN_IF_ERROR(
      k::Gemm(job.compressed.RowSlice(h0, n), job.mats.b_c, kc, /*accumulate=*/true));
  GF_RETURN_IF_ERROR(k::RmsNorm(kc, kc));
  TensorView o = ws.Get(Workspace::kO, n, C);
  GF_RETURN_IF_ERROR(k::RmsNorm(job.x0.RowSlice(h0, n), o));

  // Token shift over the cache streams: the previous row is the true previous position (the
  // state's carry rows before a span's first row; zero at position 0).
  const int64_t rows = b1 - b0;
  const int64_t skip = b0 - h0;
  TensorView d_o = ws.Get(Workspace::kDo, rows, C);
  TensorView d_kc = ws.Get(Workspace::kDk, rows, A);
  for (const Overlap& p : parts) {
    const RowSpan& span = job.spans[p.span];
    const bool first = p.begin == span.begin;
    const int64_t local = p.begin - h0;
    const float* prev_o = first ? span.state->carry_o() : o.row_ptr<float>(local - 1);
    const float* prev_kc = first ? span.state->carry_kc() : kc.row_ptr<float>(local - 1);
    const int64_t count = p.end - p.begin;
    GF_RETURN_IF_ERROR(k::ShiftDelta(o.RowSlice(local, count),
                                     k::VecF32(const_cast<float*>(prev_o), C),
                                     d_o.RowSlice(p.begin - b0, count)));
    GF_RETURN_IF_ERROR(k::ShiftDelta(kc.RowSlice(local, count),
                                     k::VecF32(const_cast<float*>(prev_kc), A),
                                     d_kc.RowSlice(p.begin - b0, count)));
    if (p.end == span.begin + span.count) {  // the span's last row: the next carry rows
      std::memcpy(job.last_o[p.span].data(), o.row_ptr<float>(p.end - 1 - h0),
                  sizeof(float) * static_cast<size_t>(C));
      std::memcpy(job.last_kc[p.span].data(), kc.row_ptr<float>(p.end - 1 - h0),
                  sizeof(float) * static_cast<size_t>(A));
    }
  }
  o = o.RowSlice(skip, rows);
  kc = kc.RowSlice(skip, rows);

  TensorView mix = ws.Get(Workspace::kMixA, rows, C);
  TensorView kappa = ws.Get(Workspace::kKappa, rows, A);
  TensorView nu = ws.Get(Workspace::kNu, rows, A);
  TensorView mk = ws.Get(Workspace::kMk, rows, C);
  TensorView mv = ws.Get(Workspace::kMv, rows, C);
  const k::RopeParams rope{cfg.rope.enabled, cfg.rope.base, cfg.rope.rescale, cfg.rope.rebase};
  for (int g = 0; g < cfg.n_gold; ++g) {
    const GoldWeights& w = job.weights.blocks[static_cast<size_t>(cfg.first_gold_layer + g)].gold;
    const GoldKvMatrices::Layer& m = job.mats.layers[static_cast<size_t>(g)];
    // kv-mix LoRA on the original-token stream: z = tanh((o + d_o*mu_o) KV1); mk, mv.
    GF_RETURN_IF_ERROR(k::ShiftMix(o, d_o, w.mu_v_cache, TensorView{}, mix));
    const int64_t lora = m.kv_w1.rows() / 2;
    TensorView z = ws.Get(Workspace::kLoraMid, rows, 2 * lora);
    GF_RETURN_IF_ERROR(k::Gemm(mix, m.kv_w1, z));
    GF_RETURN_IF_ERROR(k::Tanh(z));
    GF_RETURN_IF_ERROR(k::Gemm(z.ColSlice(0, lora), m.kv_w2[0], mk));
    GF_RETURN_IF_ERROR(k::Gemm(z.ColSlice(lora, lora), m.kv_w2[1], mv));

    // Keys: kappa = kc + d_kc*(mu_k + mk); kappa += tanh(kappa K1) K2; K = LN_k(kappa).
    TensorView t = ws.Get(Workspace::kLoraMid2, rows, m.key_w1.rows());
    GF_RETURN_IF_ERROR(k::ShiftMix(kc, d_kc, w.mu_k, mk, kappa));
    GF_RETURN_IF_ERROR(k::Gemm(kappa, m.key_w1, t));
    GF_RETURN_IF_ERROR(k::Tanh(t));
    GF_RETURN_IF_ERROR(k::Gemm(t, m.key_w2, kappa, /*accumulate=*/true));
    GF_RETURN_IF_ERROR(k::LayerNorm(kappa, w.ln_k.weight, w.ln_k.bias, kappa));

    // Values: nu = o + d_o*(mu_v + mv); nu += tanh(nu V1) V2; V = LN_v(nu).
    GF_RETURN_IF_ERROR(k::ShiftMix(o, d_o, w.mu_v, mv, nu));
    GF_RETURN_IF_ERROR(k::Gemm(nu, m.value_w1, t));
    GF_RETURN_IF_ERROR(k::Tanh(t));
    GF_RETURN_IF_ERROR(k::Gemm(t, m.value_w2, nu, /*accumulate=*/true));
    GF_RETURN_IF_ERROR(k::LayerNorm(nu, w.ln_v.weight, w.ln_v.bias, nu));

    for (const Overlap& p : parts) {
      const RowSpan& span = job.spans[p.span];
      const int64_t count = p.end - p.begin;
      TensorView keys = kappa.RowSlice(p.begin - b0, count);
      GF_RETURN_IF_ERROR(
          k::Rope(keys, span.first_pos + (p.begin - span.begin), cfg.head_size, rope));
      GF_RETURN_IF_ERROR(k::Convert(
          keys, job.keys[p.span][static_cast<size_t>(g)].RowSlice(p.begin - span.begin, count)));
      GF_RETURN_IF_ERROR(k::Convert(
          nu.RowSlice(p.begin - b0, count),
          job.values[p.span][static_cast<size_t>(g)].RowSlice(p.begin - span.begin, count)));
    }
  }
  return Status::Ok();
}

}  // namespace

GoldKvF32Matrices::GoldKvF32Matrices(const ModelWeights& weights) : views_(ViewsOf(weights)) {
  if (weights.matrix_dtype == k::DType::kF32) return;  // the stored matrices are F32 already
  std::vector<TensorView*> all = {&views_.b_x0, &views_.b_c};
  for (GoldKvMatrices::Layer& l : views_.layers) {
    for (TensorView* v :
         {&l.kv_w1, &l.kv_w2[0], &l.kv_w2[1], &l.key_w1, &l.key_w2, &l.value_w1, &l.value_w2}) {
      all.push_back(v);
    }
  }
  size_t total = 0;
  for (const TensorView* v : all) total += static_cast<size_t>(v->rows() * v->cols());
  storage_.resize(total);
  size_t offset = 0;
  for (TensorView* v : all) {
    const TensorView dst = k::MatF32(storage_.data() + offset, v->rows(), v->cols());
    // (widening cannot fail: same shape, F32 destination)
    (void)k::Convert(*v, dst);
    offset += static_cast<size_t>(v->rows() * v->cols());
    *v = dst;
  }
}

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
  const size_t G = static_cast<size_t>(cfg.n_gold);
  std::vector<std::vector<TensorView>> keys(spans.size()), values(spans.size());
  std::vector<std::vector<float>> last_o(spans.size()), last_kc(spans.size());
  for (size_t i = 0; i < spans.size(); ++i) {
    SequenceState& s = *spans[i].state;
    s.ReserveKv(spans[i].count);
    for (size_t g = 0; g < G; ++g) {
      keys[i].push_back(s.PendingKeys(static_cast<int>(g), spans[i].count));
      values[i].push_back(s.PendingValues(static_cast<int>(g), spans[i].count));
    }
    last_o[i].resize(static_cast<size_t>(cfg.n_embd));
    last_kc[i].resize(static_cast<size_t>(cfg.dim_att));
  }

  const int64_t blocks = ctx.kv_matrices == nullptr ? 1 : rows / kBlockRows;
  if (blocks <= 1) {
    const GoldKvMatrices stored = ViewsOf(weights);
    const KvJob job{cfg, weights, stored, x0, compressed, spans, keys, values, last_o, last_kc};
    GF_RETURN_IF_ERROR(RunBlock(job, 0, rows, ctx.ws));
  } else {
    const KvJob job{cfg,   weights, *ctx.kv_matrices, x0,     compressed,
                    spans, keys,    values,           last_o, last_kc};
    std::mutex error_mutex;
    Status first_error = Status::Ok();
    std::atomic<bool> failed{false};
    k::ParallelFor(blocks, [&](int64_t b) {
      if (failed.load(std::memory_order_relaxed)) return;
      thread_local Workspace block_ws;
      Status s = RunBlock(job, rows * b / blocks, rows * (b + 1) / blocks, block_ws);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!failed.exchange(true)) first_error = std::move(s);
      }
    });
    GF_RETURN_IF_ERROR(first_error);
  }
  for (size_t i = 0; i < spans.size(); ++i) {
    SequenceState& s = *spans[i].state;
    std::copy(last_o[i].begin(), last_o[i].end(), s.carry_o());
    std::copy(last_kc[i].begin(), last_kc[i].end(), s.carry_kc());
    s.CommitKv(spans[i].count);
  }
  return Status::Ok();
}

}  // namespace gf::model
