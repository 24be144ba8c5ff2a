#include "engine/prefix_cache/model_fingerprint.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cache_store/record_format.h"
#include "engine/prefix_cache/prefix_keys.h"
#include "engine/prefix_cache/snapshot_payload.h"
#include "engine/sequence_state.h"
#include "kernels/thread_pool.h"

namespace gf {

namespace {

using kernels::TensorView;

constexpr size_t kChunkBytes = size_t{4} << 20;

void HashU32(Sha256& h, uint32_t v) {
  uint8_t b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  h.Update(b, sizeof(b));
}

void HashU64(Sha256& h, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  h.Update(b, sizeof(b));
}

void HashString(Sha256& h, std::string_view s) {
  HashU32(h, static_cast<uint32_t>(s.size()));
  if (!s.empty()) h.Update(s);  // an empty view may hold a null pointer (memcpy(.., null, 0))
}

struct NamedTensor {
  std::string name;
  const TensorView* view;
};

// Every tensor of the weights in a fixed order (the loader's parameter order).
std::vector<NamedTensor> ListTensors(const ModelWeights& w) {
  std::vector<NamedTensor> out;
  auto add = [&out](std::string name, const TensorView& v) {
    out.push_back({std::move(name), &v});
  };
  auto add_ln = [&add](const std::string& name, const LayerNormWeights& ln) {
    add(name + ".weight", ln.weight);
    add(name + ".bias", ln.bias);
  };
  add("emb", w.emb);
  add_ln("ln0", w.ln0);
  for (size_t i = 0; i < w.blocks.size(); ++i) {
    const BlockWeights& b = w.blocks[i];
    const std::string p = "blocks." + std::to_string(i) + ".";
    add_ln(p + "ln1", b.ln1);
    add_ln(p + "ln2", b.ln2);
    const std::string att = p + "att.";
    if (b.is_gold) {
      const GoldWeights& g = b.gold;
      add(att + "gold.mu_x", g.mu_x);
      add(att + "gold.mu_q", g.mu_q);
      add(att + "gold.mu_v_cache", g.mu_v_cache);
      add(att + "gold.mu_k", g.mu_k);
      add(att + "gold.mu_v", g.mu_v);
      add(att + "gold.q_w1", g.q_w1);
      add(att + "gold.q_w2", g.q_w2);
      add(att + "gold.kv_w1", g.kv_w1);
      add(att + "gold.kv_w2.0", g.kv_w2[0]);
      add(att + "gold.kv_w2.1", g.kv_w2[1]);
      add(att + "gold.key_w1", g.key_w1);
      add(att + "gold.key_w2", g.key_w2);
      add(att + "gold.value_w1", g.value_w1);
      add(att + "gold.value_w2", g.value_w2);
      add(att + "gold.query", g.query);
      add(att + "gold.output", g.output);
      add_ln(att + "gold.ln_q", g.ln_q);
      add_ln(att + "gold.ln_k", g.ln_k);
      add_ln(att + "gold.ln_v", g.ln_v);
      add_ln(att + "gold.ln_x", g.ln_x);
    } else {
      const FinchC2Weights& f = b.finch;
      add(att + "finch.mu_x", f.mu_x);
      add(att + "finch.mu_r", f.mu_r);
      add(att + "finch.mu_k", f.mu_k);
      add(att + "finch.mu_v", f.mu_v);
      add(att + "finch.mu_w", f.mu_w);
      add(att + "finch.mu_v2", f.mu_v2);
      add(att + "finch.maa_w1", f.maa_w1);
      for (int m = 0; m < 5; ++m) add(att + "finch.maa_w2." + std::to_string(m), f.maa_w2[m]);
      add(att + "finch.decay", f.decay);
      add(att + "finch.decay_w1", f.decay_w1);
      add(att + "finch.decay_w2", f.decay_w2);
      add(att + "finch.value2_w1", f.value2_w1);
      add(att + "finch.value2_w2", f.value2_w2);
      add(att + "finch.receptance", f.receptance);
      add(att + "finch.key", f.key);
      add(att + "finch.value", f.value);
      add(att + "finch.output", f.output);
      add_ln(att + "finch.ln_x", f.ln_x);
    }
    add(p + "ffn.mu_k", b.ffn.mu_k);
    add(p + "ffn.mu_r", b.ffn.mu_r);
    add(p + "ffn.key", b.ffn.key);
    add(p + "ffn.receptance", b.ffn.receptance);
    add(p + "ffn.value", b.ffn.value);
  }
  add_ln("ln_out", w.ln_out);
  add("head", w.head);
  add("kv_cache_a", w.kv_cache_a);
  add("kv_cache_b_x0", w.kv_cache_b_x0);
  add("kv_cache_b_c", w.kv_cache_b_c);
  return out;
}

// A tensor as rows of bytes: rank-2 views by row (respecting the row stride), anything else
// as one contiguous row.
struct ByteRows {
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  size_t row_bytes = 0;
  size_t stride_bytes = 0;
};

ByteRows AsByteRows(const TensorView& v) {
  ByteRows r;
  const size_t elem = kernels::DTypeSize(v.dtype);
  r.data = static_cast<const uint8_t*>(v.data);
  if (v.data == nullptr || v.numel() == 0) return r;
  if (v.rank == 2) {
    r.rows = v.rows();
    r.row_bytes = static_cast<size_t>(v.cols()) * elem;
    r.stride_bytes = static_cast<size_t>(v.ld()) * elem;
  } else {
    r.rows = 1;
    r.row_bytes = static_cast<size_t>(v.numel()) * elem;
    r.stride_bytes = r.row_bytes;
  }
  return r;
}

struct Chunk {
  size_t tensor = 0;
  int64_t row_begin = 0, row_end = 0;
  Sha256Digest digest{};
};

}  // namespace

std::string CanonicalConfigText(const ModelConfig& c) {
  std::string out;
  auto line_int = [&out](const char* key, int64_t v) {
    out += key;
    out += '=';
    out += std::to_string(v);
    out += '\n';
  };
  auto line_double = [&out](const char* key, double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    out += key;
    out += '=';
    out += buf;
    out += '\n';
  };
  line_int("n_layer", c.n_layer);
  line_int("n_embd", c.n_embd);
  line_int("dim_att", c.dim_att);
  line_int("dim_ffn", c.dim_ffn);
  line_int("head_size", c.head_size);
  line_int("vocab_size", c.vocab_size);
  line_double("inv_other_layer_ratio", c.inv_other_layer_ratio);
  line_double("kv_cache_compression_ratio", c.kv_cache_compression_ratio);
  line_int("rope.enabled", c.rope.enabled ? 1 : 0);
  line_double("rope.base", c.rope.base);
  line_double("rope.rescale", c.rope.rescale);
  line_double("rope.rebase", c.rope.rebase);
  line_int("n_head", c.n_head);
  line_int("first_gold_layer", c.first_gold_layer);
  line_int("n_gold", c.n_gold);
  line_int("compressed_dim", c.compressed_dim);
  line_int("gold_lora_dim", c.gold_lora_dim);
  return out;
}

Sha256Digest ModelFingerprint(const ModelWeights& weights, const Tokenizer& tokenizer) {
  const std::vector<NamedTensor> tensors = ListTensors(weights);

  // Chunk digests first (in parallel), then one sequential hash over everything in order.
  std::vector<Chunk> chunks;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const ByteRows r = AsByteRows(*tensors[t].view);
    if (r.rows == 0) continue;
    const auto rows_per_chunk =
        static_cast<int64_t>(std::max<size_t>(1, kChunkBytes / std::max<size_t>(1, r.row_bytes)));
    for (int64_t begin = 0; begin < r.rows; begin += rows_per_chunk) {
      chunks.push_back({t, begin, std::min(r.rows, begin + rows_per_chunk), {}});
    }
  }
  kernels::ParallelFor(static_cast<int64_t>(chunks.size()), [&](int64_t i) {
    Chunk& chunk = chunks[static_cast<size_t>(i)];
    const ByteRows r = AsByteRows(*tensors[chunk.tensor].view);
    Sha256 h;
    for (int64_t row = chunk.row_begin; row < chunk.row_end; ++row) {
      h.Update(r.data + static_cast<size_t>(row) * r.stride_bytes, r.row_bytes);
    }
    chunk.digest = h.Final();
  });

  Sha256 h;
  HashString(h, kModelFingerprintTag);
  HashU32(h, kStateFormatVersion);
  HashU32(h, kRecurrentStateFormatVersion);
  HashU32(h, cache::kRecordFormatVersion);
  HashU32(h, kRowSegmentFormatVersion);
  HashU32(h, kSnapshotPayloadVersion);
  HashU32(h, static_cast<uint32_t>(kKeyBlockTokens));
  HashString(h, CanonicalConfigText(weights.config));
  HashString(h, kernels::DTypeName(weights.matrix_dtype));

  HashU32(h, static_cast<uint32_t>(tokenizer.vocab_size()));
  HashU32(h, static_cast<uint32_t>(tokenizer.eot_id()));
  for (int id = 0; id < tokenizer.vocab_size(); ++id) HashString(h, tokenizer.TokenBytes(id));

  HashU32(h, static_cast<uint32_t>(tensors.size()));
  size_t next_chunk = 0;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const TensorView& v = *tensors[t].view;
    HashString(h, tensors[t].name);
    HashString(h, kernels::DTypeName(v.dtype));
    HashU32(h, static_cast<uint32_t>(v.rank));
    for (int d = 0; d < v.rank && d < TensorView::kMaxRank; ++d) {
      HashU64(h, static_cast<uint64_t>(v.shape[d]));
    }
    size_t count = 0;
    while (next_chunk + count < chunks.size() && chunks[next_chunk + count].tensor == t) ++count;
    HashU32(h, static_cast<uint32_t>(count));
    for (size_t i = 0; i < count; ++i) h.Update(chunks[next_chunk + i].digest);
    next_chunk += count;
  }
  return h.Final();
}

Sha256Digest ModelFingerprint(const GoldFinchModel& model, const Tokenizer& tokenizer) {
  return ModelFingerprint(model.weights(), tokenizer);
}

}  // namespace gf
