#include "engine/model/random_weights.h"
#include "engine/model/weight_arena.h"


#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/thread_pool.h"

namespace gf {

namespace {

using kernels::DType;

constexpr size_t kTensorAlign = 64;
constexpr int64_t kBlockElements = int64_t{1} << 16;  // elements per independently seeded block
constexpr int64_t kMixLoraDim = 32;                    // D_MIX_LORA
constexpr int64_t kDecayLoraDim = 64;                  // D_DECAY_LORA
constexpr int64_t kFinchMixSlots = 5;                  // r, k, v, w, v2
constexpr int64_t kGoldKvSlots = 2;                    // k, v

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t Hash64(uint64_t v) { return SplitMix64(v); }

// How one tensor's elements are drawn: value = offset + scale * N(0,1), or U(lo, hi).
struct Distribution {
  bool uniform = false;
  float a = 0.0f;  // normal: mean;   uniform: lo
  float b = 0.0f;  // normal: stddev; uniform: hi
};

Distribution Normal(double mean, double stddev) {
  return {false, static_cast<float>(mean), static_cast<float>(stddev)};
}
Distribution Uniform(double lo, double hi) {
  return {true, static_cast<float>(lo), static_cast<float>(hi)};
}

struct Placement {
  int64_t rows = 0, cols = 0;
  bool vector = false;
  DType dtype = DType::kF32;
  Distribution dist;
  size_t arena_offset = 0;
  TensorView* out = nullptr;
};

class Planner {
 public:
  explicit Planner(DType matrix_dtype) : matrix_dtype_(matrix_dtype) {}

  // An nn.Linear weight [out, in] ~ N(0, 1/in).
  void Linear(int64_t out_dim, int64_t in, TensorView* out) {
    Add(out_dim, in, false, Normal(0.0, 1.0 / std::sqrt(static_cast<double>(in))), out);
  }
  // A LoRA "down" factor, placed as [rank, in] ~ N(0, (0.5/sqrt(in))^2).
  void LoraDown(int64_t rank, int64_t in, TensorView* out) {
    Add(rank, in, false, Normal(0.0, 0.5 / std::sqrt(static_cast<double>(in))), out);
  }
  // A LoRA "up" factor, placed as [out, rank] ~ N(0, 0.1^2).
  void LoraUp(int64_t out_dim, int64_t rank, TensorView* out) {
    Add(out_dim, rank, false, Normal(0.0, 0.1), out);
  }
  void Matrix(int64_t rows, int64_t cols, Distribution dist, TensorView* out) {
    Add(rows, cols, false, dist, out);
  }
  // A token-shift mix vector [n] ~ U(0, 1).
  void Mix(int64_t n, TensorView* out) { Add(1, n, true, Uniform(0.0, 1.0), out); }
  void Vector(int64_t n, Distribution dist, TensorView* out) { Add(1, n, true, dist, out); }
  void LayerNorm(int64_t n, LayerNormWeights* out) {
    Vector(n, Normal(1.0, 0.2), &out->weight);
    Vector(n, Normal(0.0, 0.1), &out->bias);
  }

  size_t arena_bytes() const { return arena_bytes_; }
  size_t tensor_bytes() const { return tensor_bytes_; }
  const std::vector<Placement>& placements() const { return placements_; }

 private:
  void Add(int64_t rows, int64_t cols, bool vector, Distribution dist, TensorView* out) {
    Placement p;
    p.rows = rows;
    p.cols = cols;
    p.vector = vector;
    p.dtype = vector ? DType::kF32 : matrix_dtype_;
    p.dist = dist;
    p.arena_offset = (arena_bytes_ + kTensorAlign - 1) / kTensorAlign * kTensorAlign;
    p.out = out;
    const size_t nbytes = static_cast<size_t>(rows * cols) * kernels::DTypeSize(p.dtype);
    arena_bytes_ = p.arena_offset + nbytes;
    tensor_bytes_ += nbytes;
    placements_.push_back(p);
  }

  DType matrix_dtype_;
  std::vector<Placement> placements_;
  size_t arena_bytes_ = 0;
  size_t tensor_bytes_ = 0;
};

void PlanFinch(Planner& p, const ModelConfig& c, FinchC2Weights* f) {
  const int64_t C = c.n_embd, A = c.dim_att;
  for (TensorView* mu : {&f->mu_x, &f->mu_r, &f->mu_k, &f->mu_v, &f->mu_w, &f->mu_v2}) p.Mix(C, mu);
  p.LoraDown(kFinchMixSlots * kMixLoraDim, C, &f->maa_w1);
  for (TensorView& up : f->maa_w2) p.LoraUp(C, kMixLoraDim, &up);
  p.Vector(A, Uniform(-5.0, 0.0), &f->decay);
  p.LoraDown(kDecayLoraDim, C, &f->decay_w1);
  p.LoraUp(A, kDecayLoraDim, &f->decay_w2);
  p.LoraDown(kDecayLoraDim, C, &f->value2_w1);
  p.LoraUp(A, kDecayLoraDim, &f->value2_w2);
  p.Linear(A, C, &f->receptance);
  p.Linear(A, C, &f->key);
  p.Linear(A, C, &f->value);
  p.Linear(C, A, &f->output);
  p.LayerNorm(A, &f->ln_x);
}

void PlanGold(Planner& p, const ModelConfig& c, GoldWeights* g) {
  const int64_t C = c.n_embd, A = c.dim_att, Dg = c.gold_lora_dim;
  for (TensorView* mu : {&g->mu_x, &g->mu_q, &g->mu_v_cache, &g->mu_k, &g->mu_v}) p.Mix(C, mu);
  p.LoraDown(kMixLoraDim, C, &g->q_w1);
  p.LoraUp(C, kMixLoraDim, &g->q_w2);
  p.LoraDown(kGoldKvSlots * kMixLoraDim, C, &g->kv_w1);
  for (TensorView& up : g->kv_w2) p.LoraUp(C, kMixLoraDim, &up);
  p.LoraDown(Dg, C, &g->key_w1);
  p.LoraUp(A, Dg, &g->key_w2);
  p.LoraDown(Dg, C, &g->value_w1);
  p.LoraUp(A, Dg, &g->value_w2);
  p.Linear(A, C, &g->query);
  p.Linear(C, A, &g->output);
  p.LayerNorm(A, &g->ln_q);
  p.LayerNorm(A, &g->ln_k);
  p.LayerNorm(A, &g->ln_v);
  p.LayerNorm(A, &g->ln_x);
}

// Every parameter in the loader's order; `kv_b_full` receives the whole w_kv_cache_b.
void PlanModel(Planner& p, const ModelConfig& c, ModelWeights* w, TensorView* kv_b_full) {
  const int64_t C = c.n_embd, A = c.dim_att, F = c.dim_ffn, V = c.vocab_size;
  const int64_t cd = c.compressed_dim;
  p.Matrix(V, C, Normal(0.0, 1.0), &w->emb);
  p.LayerNorm(C, &w->ln0);
  w->blocks.resize(static_cast<size_t>(c.n_layer));
  for (int i = 0; i < c.n_layer; ++i) {
    BlockWeights& b = w->blocks[static_cast<size_t>(i)];
    p.LayerNorm(C, &b.ln1);
    p.LayerNorm(C, &b.ln2);
    b.is_gold = i >= c.first_gold_layer;
    if (b.is_gold) {
      PlanGold(p, c, &b.gold);
    } else {
      PlanFinch(p, c, &b.finch);
    }
    p.Mix(C, &b.ffn.mu_k);
    p.Mix(C, &b.ffn.mu_r);
    p.Linear(F, C, &b.ffn.key);
    p.Linear(C, C, &b.ffn.receptance);
    p.Linear(C, F, &b.ffn.value);
  }
  p.LayerNorm(C, &w->ln_out);
  p.Linear(V, C, &w->head);
  p.Linear(cd, C, &w->kv_cache_a);
  p.Linear(A, C + cd, kv_b_full);
}

// A normal deviate from 64 random bits: the sum of four 16-bit uniforms, standardised
// (Irwin-Hall n=4; mean and variance exact, tails cut at +-sqrt(12) sigma).
inline float NormalFromBits(uint64_t bits) {
  constexpr float kMean = 4.0f * 32767.5f;
  constexpr float kInvStd = 1.7320508f / 65536.0f;  // 1 / (65536 / sqrt(3)), to 1e-9 relative
  const uint32_t sum = static_cast<uint32_t>(bits & 0xffffu) + static_cast<uint32_t>((bits >> 16) & 0xffffu) +
                       static_cast<uint32_t>((bits >> 32) & 0xffffu) + static_cast<uint32_t>(bits >> 48);
  return (static_cast<float>(sum) - kMean) * kInvStd;
}

// A uniform deviate in [0, 1) from the top 24 bits.
inline float UnitFromBits(uint64_t bits) {
  return static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);
}

// Fills elements [begin, end) of placement `index` from the block's own stream.
void FillBlock(const Placement& p, uint8_t* dst, uint64_t seed, size_t index, int64_t block) {
  uint64_t state = Hash64(seed ^ Hash64(0x5eed0000ull + index) ^
                          Hash64(0xb10c000000000000ull + static_cast<uint64_t>(block)));
  const int64_t n = p.rows * p.cols;
  const int64_t begin = block * kBlockElements;
  const int64_t end = std::min(n, begin + kBlockElements);
  const Distribution d = p.dist;
  const float span = d.b - d.a;
  for (int64_t i = begin; i < end; ++i) {
    const uint64_t bits = SplitMix64(state);
    const float v = d.uniform ? d.a + span * UnitFromBits(bits) : d.a + d.b * NormalFromBits(bits);
    if (p.dtype == DType::kBF16) {
      const uint16_t h = kernels::F32ToBf16(v);
      std::memcpy(dst + static_cast<size_t>(i) * 2, &h, 2);
    } else {
      std::memcpy(dst + static_cast<size_t>(i) * 4, &v, 4);
    }
  }
}


}  // namespace

ModelConfig RandomConfig(int n_layer, int n_embd, int vocab) {
  ModelConfig c;
  c.name = "random-L" + std::to_string(n_layer) + "-D" + std::to_string(n_embd);
  c.n_layer = n_layer;
  c.n_embd = n_embd;
  c.dim_att = 0;
  c.dim_ffn = 0;
  c.head_size = 64;
  c.vocab_size = vocab;
  c.inv_other_layer_ratio = 3.0;
  c.kv_cache_compression_ratio = 16.0;
  c.tokenizer = vocab == 65536 ? TokenizerKind::kWorld : TokenizerKind::kByte;
  c.eos_token_id = 0;
  return c;
}

StatusOr<ModelWeights> MakeRandomWeights(const ModelConfig& config, DType matrix_dtype,
                                         uint64_t seed) {
  if (matrix_dtype != DType::kF32 && matrix_dtype != DType::kBF16) {
    return InvalidArgument(std::string("matrix_dtype must be F32 or BF16, not ") +
                           kernels::DTypeName(matrix_dtype));
  }
  ModelWeights w;
  w.config = config;
  GF_RETURN_IF_ERROR(w.config.Finalize());
  w.matrix_dtype = matrix_dtype;

  Planner planner(matrix_dtype);
  TensorView kv_b_full;
  PlanModel(planner, w.config, &w, &kv_b_full);

  GF_ASSIGN_OR_RETURN(std::shared_ptr<void> arena, AllocateWeightArena(planner.arena_bytes(), "random weights"));
  auto* base = static_cast<uint8_t*>(arena.get());
  const std::vector<Placement>& placements = planner.placements();

  // One task per (tensor, block); each block has its own stream, so any schedule gives the
  // same bytes.
  struct Task {
    size_t index;
    int64_t block;
  };
  std::vector<Task> tasks;
  for (size_t i = 0; i < placements.size(); ++i) {
    const int64_t n = placements[i].rows * placements[i].cols;
    for (int64_t b = 0; b * kBlockElements < n; ++b) tasks.push_back({i, b});
  }
  kernels::ParallelFor(static_cast<int64_t>(tasks.size()), [&](int64_t t) {
    const Task& task = tasks[static_cast<size_t>(t)];
    const Placement& p = placements[task.index];
    FillBlock(p, base + p.arena_offset, seed, task.index, task.block);
  });

  for (const Placement& p : placements) {
    void* data = base + p.arena_offset;
    *p.out = p.vector ? kernels::Vec(data, p.dtype, p.cols) : kernels::Mat(data, p.dtype, p.rows, p.cols);
  }
  const int64_t C = w.config.n_embd;
  w.kv_cache_b_x0 = kv_b_full.ColSlice(0, C);
  w.kv_cache_b_c = kv_b_full.ColSlice(C, w.config.compressed_dim);
  w.arenas.push_back(std::move(arena));
  w.bytes = planner.tensor_bytes();
  return w;
}

}  // namespace gf
