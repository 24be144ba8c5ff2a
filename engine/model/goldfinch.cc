#include "engine/model/goldfinch.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

namespace gf {

using kernels::TensorView;
namespace k = gf::kernels;

StatusOr<std::unique_ptr<GoldFinchModel>> GoldFinchModel::Load(const std::string& model_dir,
                                                               const WeightLoadOptions& options) {
  GF_ASSIGN_OR_RETURN(ModelWeights weights, LoadModelWeights(model_dir, options));
  return std::make_unique<GoldFinchModel>(std::move(weights));
}

GoldFinchModel::GoldFinchModel(ModelWeights weights, ForwardOptions options)
    : weights_(std::move(weights)), options_(options), kv_matrices_(weights_) {}

Status GoldFinchModel::ValidateSegments(std::span<const ForwardSegment> segments) const {
  const ModelConfig& cfg = config();
  const uint64_t fingerprint = ShapeFingerprint(cfg);
  std::unordered_set<const SequenceState*> seen;
  for (size_t i = 0; i < segments.size(); ++i) {
    const ForwardSegment& seg = segments[i];
    const std::string where = "segment " + std::to_string(i);
    if (seg.state == nullptr) return InvalidArgument(where + ": no state");
    if (!seen.insert(seg.state).second) {
      return InvalidArgument(where + ": the same state appears twice in one batch");
    }
    if (seg.state->shape_fingerprint() != fingerprint || seg.state->kv_dtype() != kv_dtype()) {
      return InvalidArgument(where + ": state was made for a different model");
    }
    if (!seg.state->kv_materialised()) {
      return FailedPrecondition(where + ": state has no materialised K/V (call Rematerialize)");
    }
    if (seg.tokens.empty()) return InvalidArgument(where + ": no tokens");
    for (int32_t id : seg.tokens) {
      if (id < 0 || id >= cfg.vocab_size) {
        return InvalidArgument(where + ": token id " + std::to_string(id) + " is outside [0, " +
                               std::to_string(cfg.vocab_size) + ")");
      }
    }
    if (seg.logits_mode != LogitsMode::kNone && seg.logits == nullptr) {
      return InvalidArgument(where + ": logits requested without an output buffer");
    }
  }
  return Status::Ok();
}

Status GoldFinchModel::Embed(std::span<const ForwardSegment> segments, const TensorView& x0) {
  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(x0.rows()));
  for (const ForwardSegment& seg : segments)
    ids.insert(ids.end(), seg.tokens.begin(), seg.tokens.end());
  GF_RETURN_IF_ERROR(k::EmbeddingGather(weights_.emb, ids, x0));
  return k::LayerNorm(x0, weights_.ln0.weight, weights_.ln0.bias, x0);
}

Status GoldFinchModel::Forward(std::span<const ForwardSegment> segments) {
  GF_RETURN_IF_ERROR(ValidateSegments(segments));
  if (segments.empty()) return Status::Ok();
  const ModelConfig& cfg = config();
  const int64_t C = cfg.n_embd;

  std::vector<model::RowSpan> spans;
  int64_t rows = 0;
  for (const ForwardSegment& seg : segments) {
    const auto count = static_cast<int64_t>(seg.tokens.size());
    spans.push_back({rows, count, seg.state, true, seg.state->num_tokens()});
    rows += count;
  }

  x0_.resize(static_cast<size_t>(rows * C));
  x_.resize(static_cast<size_t>(rows * C));
  TensorView x0 = k::MatF32(x0_.data(), rows, C);
  TensorView x = k::MatF32(x_.data(), rows, C);
  GF_RETURN_IF_ERROR(Embed(segments, x0));
  std::memcpy(x_.data(), x0_.data(), sizeof(float) * static_cast<size_t>(rows * C));

  model::LayerContext ctx{cfg, ws_, options_.wkv_chunked_min_tokens, &kv_matrices_.views()};
  for (int layer = 0; layer < cfg.first_gold_layer; ++layer) {
    const BlockWeights& block = weights_.blocks[static_cast<size_t>(layer)];
    GF_RETURN_IF_ERROR(model::FinchTimeMix(ctx, block, layer, x, spans));
    GF_RETURN_IF_ERROR(model::ChannelMix(ctx, block, layer, x, spans));
  }

  // TokenCat: compressed rows c = W_a h, then every GOLD layer's K/V for the new positions.
  compressed_.resize(static_cast<size_t>(rows * cfg.compressed_dim));
  TensorView compressed = k::MatF32(compressed_.data(), rows, cfg.compressed_dim);
  GF_RETURN_IF_ERROR(model::TokenCatAndGoldKv(ctx, weights_, x0, x, compressed, spans));
  for (const model::RowSpan& span : spans) {
    span.state->AppendTokens(segments[static_cast<size_t>(&span - spans.data())].tokens,
                             compressed.row_ptr<float>(span.begin));
  }
  return RunGoldTail(segments, spans, x);
}

Status GoldFinchModel::RunGoldTail(std::span<const ForwardSegment> segments,
                                   const std::vector<model::RowSpan>& spans, const TensorView& h) {
  const ModelConfig& cfg = config();
  const int64_t C = cfg.n_embd;
  const int G = cfg.n_gold;

  // Rows GOLD layer g must process for a segment of `count` new tokens: all of them for kAll,
  // else the last min(count, 2(G-g)+1) (triangular schedule; the first row of a window that does
  // not reach the chunk start only provides the token shift of the next row).
  auto window = [&](size_t seg, int g) -> int64_t {
    const int64_t count = spans[seg].count;
    if (segments[seg].logits_mode == LogitsMode::kAll) return count;
    return std::min<int64_t>(count, 2 * static_cast<int64_t>(G - g) + 1);
  };

  // Gather each segment's layer-0 window of the residual after the Finch stack.
  std::vector<model::RowSpan> gold_spans;
  int64_t gold_rows = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    const model::RowSpan& span = spans[i];
    const int64_t w = window(i, 0);
    gold_spans.push_back(
        {gold_rows, w, span.state, w == span.count, span.first_pos + span.count - w});
    gold_rows += w;
  }
  gold_x_.resize(static_cast<size_t>(gold_rows * C));
  TensorView gx = k::MatF32(gold_x_.data(), gold_rows, C);
  for (size_t i = 0; i < spans.size(); ++i) {
    const int64_t skip = spans[i].count - gold_spans[i].count;
    std::memcpy(gx.row_ptr<float>(gold_spans[i].begin), h.row_ptr<float>(spans[i].begin + skip),
                sizeof(float) * static_cast<size_t>(gold_spans[i].count * C));
  }

  model::LayerContext ctx{cfg, ws_, options_.wkv_chunked_min_tokens, &kv_matrices_.views()};
  std::vector<model::RowSpan> layer_spans;
  for (int g = 0; g < G; ++g) {
    const int layer = cfg.first_gold_layer + g;
    const BlockWeights& block = weights_.blocks[static_cast<size_t>(layer)];
    // Later layers need fewer rows: run them on the suffix of each segment's window, packed.
    bool shrinks = false;
    for (size_t i = 0; i < spans.size(); ++i) shrinks |= window(i, g) != gold_spans[i].count;
    if (!shrinks) {
      GF_RETURN_IF_ERROR(model::GoldTimeMix(ctx, block, layer, gx, gold_spans));
      GF_RETURN_IF_ERROR(model::ChannelMix(ctx, block, layer, gx, gold_spans));
      continue;
    }
    layer_spans.clear();
    int64_t rows = 0;
    for (size_t i = 0; i < spans.size(); ++i) {
      const int64_t w = window(i, g);
      layer_spans.push_back(
          {rows, w, spans[i].state, w == spans[i].count, spans[i].first_pos + spans[i].count - w});
      rows += w;
    }
    layer_x_.resize(static_cast<size_t>(rows * C));
    TensorView lx = k::MatF32(layer_x_.data(), rows, C);
    auto copy_rows = [&](bool into_layer) {
      for (size_t i = 0; i < spans.size(); ++i) {
        const model::RowSpan& outer = gold_spans[i];
        const model::RowSpan& inner = layer_spans[i];
        float* outer_row = gx.row_ptr<float>(outer.begin + outer.count - inner.count);
        float* inner_row = lx.row_ptr<float>(inner.begin);
        const size_t bytes = sizeof(float) * static_cast<size_t>(inner.count * C);
        if (into_layer) {
          std::memcpy(inner_row, outer_row, bytes);
        } else {
          std::memcpy(outer_row, inner_row, bytes);
        }
      }
    };
    copy_rows(true);
    GF_RETURN_IF_ERROR(model::GoldTimeMix(ctx, block, layer, lx, layer_spans));
    GF_RETURN_IF_ERROR(model::ChannelMix(ctx, block, layer, lx, layer_spans));
    copy_rows(false);
  }

  // Head over the requested rows: the last row of each window, or all rows for kAll.
  int64_t head_rows = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (segments[i].logits_mode == LogitsMode::kAll) head_rows += gold_spans[i].count;
    if (segments[i].logits_mode == LogitsMode::kLast) head_rows += 1;
  }
  if (head_rows == 0) return Status::Ok();
  head_in_.resize(static_cast<size_t>(head_rows * C));
  TensorView head_in = k::MatF32(head_in_.data(), head_rows, C);
  int64_t row = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    const model::RowSpan& g = gold_spans[i];
    int64_t n = 0;
    if (segments[i].logits_mode == LogitsMode::kAll) n = g.count;
    if (segments[i].logits_mode == LogitsMode::kLast) n = 1;
    std::memcpy(head_in.row_ptr<float>(row), gx.row_ptr<float>(g.begin + g.count - n),
                sizeof(float) * static_cast<size_t>(n * C));
    row += n;
  }
  GF_RETURN_IF_ERROR(k::LayerNorm(head_in, weights_.ln_out.weight, weights_.ln_out.bias, head_in));

  const int64_t V = cfg.vocab_size;
  if (segments.size() == 1) {
    return k::Gemm(head_in, weights_.head, k::MatF32(segments[0].logits, head_rows, V));
  }
  TensorView out = ws_.Get(model::Workspace::kFfnK, head_rows, V);
  GF_RETURN_IF_ERROR(k::Gemm(head_in, weights_.head, out));
  row = 0;
  for (const ForwardSegment& seg : segments) {
    int64_t n = 0;
    if (seg.logits_mode == LogitsMode::kAll) n = static_cast<int64_t>(seg.tokens.size());
    if (seg.logits_mode == LogitsMode::kLast) n = 1;
    if (n == 0) continue;
    std::memcpy(seg.logits, out.row_ptr<float>(row), sizeof(float) * static_cast<size_t>(n * V));
    row += n;
  }
  return Status::Ok();
}

Status GoldFinchModel::Prefill(SequenceState& state, std::span<const int32_t> tokens,
                               const PrefillOptions& options, std::vector<float>* logits) {
  if (tokens.empty()) return InvalidArgument("prefill: no tokens");
  if (options.chunk_tokens <= 0) return InvalidArgument("prefill: chunk_tokens must be positive");
  if (logits == nullptr) return InvalidArgument("prefill: no logits output");
  const auto total = static_cast<int64_t>(tokens.size());
  const int64_t V = config().vocab_size;
  logits->assign(static_cast<size_t>((options.all_logits ? total : 1) * V), 0.0f);
  for (int64_t begin = 0; begin < total; begin += options.chunk_tokens) {
    const int64_t count = std::min(options.chunk_tokens, total - begin);
    const bool last = begin + count == total;
    ForwardSegment seg;
    seg.state = &state;
    seg.tokens = tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(count));
    if (options.all_logits) {
      seg.logits_mode = LogitsMode::kAll;
      seg.logits = logits->data() + begin * V;
    } else {
      seg.logits_mode = last ? LogitsMode::kLast : LogitsMode::kNone;
      seg.logits = logits->data();
    }
    GF_RETURN_IF_ERROR(Forward(std::span<const ForwardSegment>(&seg, 1)));
  }
  return Status::Ok();
}

Status GoldFinchModel::DecodeStep(std::span<SequenceState* const> states,
                                  std::span<const int32_t> tokens, std::vector<float>* logits) {
  if (states.size() != tokens.size()) {
    return InvalidArgument("decode: " + std::to_string(states.size()) + " states but " +
                           std::to_string(tokens.size()) + " tokens");
  }
  if (logits == nullptr) return InvalidArgument("decode: no logits output");
  const int64_t V = config().vocab_size;
  logits->resize(states.size() * static_cast<size_t>(V));
  std::vector<ForwardSegment> segs(states.size());
  for (size_t i = 0; i < states.size(); ++i) {
    segs[i].state = states[i];
    segs[i].tokens = tokens.subspan(i, 1);
    segs[i].logits_mode = LogitsMode::kLast;
    segs[i].logits = logits->data() + static_cast<int64_t>(i) * V;
  }
  return Forward(segs);
}

Status GoldFinchModel::Rematerialize(SequenceState& state) const {
  const ModelConfig& cfg = config();
  if (state.shape_fingerprint() != ShapeFingerprint(cfg) || state.kv_dtype() != kv_dtype()) {
    return InvalidArgument("rematerialize: state was made for a different model");
  }
  if (state.kv_rows() != 0) state.DropKv();  // (a restored state has none; keep its reservation)
  std::fill_n(state.carry_kc(), cfg.dim_att, 0.0f);
  std::fill_n(state.carry_o(), cfg.n_embd, 0.0f);
  const int64_t n = state.num_tokens();
  const int64_t C = cfg.n_embd;
  const int64_t chunk = 1024;
  // Own scratch (not ws_ / x0_), so that this may run beside Forward on another thread.
  model::Workspace ws;
  std::vector<float> x0_rows(static_cast<size_t>(std::min(chunk, n) * C));
  model::LayerContext ctx{cfg, ws, options_.wkv_chunked_min_tokens, &kv_matrices_.views()};
  for (int64_t begin = 0; begin < n; begin += chunk) {
    const int64_t count = std::min(chunk, n - begin);
    auto ids = state.tokens().subspan(static_cast<size_t>(begin), static_cast<size_t>(count));
    TensorView x0 = k::MatF32(x0_rows.data(), count, C);
    GF_RETURN_IF_ERROR(k::EmbeddingGather(weights_.emb, ids, x0));
    GF_RETURN_IF_ERROR(k::LayerNorm(x0, weights_.ln0.weight, weights_.ln0.bias, x0));
    TensorView compressed = k::MatF32(state.compressed_rows().data() + begin * cfg.compressed_dim,
                                      count, cfg.compressed_dim);
    std::vector<model::RowSpan> spans = {{0, count, &state, true, begin}};
    GF_RETURN_IF_ERROR(model::GoldKvFromCompressed(ctx, weights_, x0, compressed, spans));
  }
  return Status::Ok();
}

}  // namespace gf
