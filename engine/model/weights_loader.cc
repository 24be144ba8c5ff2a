#include "engine/model/weights_loader.h"
#include "engine/model/weight_arena.h"


#include <algorithm>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <map>

#include "engine/model/safetensors.h"
#include "engine/util/json.h"

namespace gf {

namespace {

using kernels::DType;

constexpr size_t kTensorAlign = 64;
constexpr int64_t kMixLoraDim = 32;    // D_MIX_LORA
constexpr int64_t kDecayLoraDim = 64;  // D_DECAY_LORA
constexpr int64_t kFinchMixSlots = 5;  // r, k, v, w, v2
constexpr int64_t kGoldKvSlots = 2;    // k, v

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s.push_back(',');
    s.append(std::to_string(shape[i]));
  }
  return s + "]";
}

// One tensor found in one of the files.
struct Source {
  const SafetensorInfo* info = nullptr;
  const std::string* file = nullptr;
  bool consumed = false;
};

// One copy into the arena: a row-major [rows, cols] region of a source tensor (starting
// `src_offset` bytes into it), converted to `dtype` and optionally transposed.
struct Placement {
  const SafetensorInfo* src = nullptr;
  size_t src_offset = 0;
  int64_t rows = 0, cols = 0;
  bool transpose = false;
  bool vector = false;  // the destination view is 1-D [rows * cols]
  DType dtype = DType::kF32;
  size_t arena_offset = 0;
  size_t nbytes = 0;
  TensorView* out = nullptr;
};

// Collects the placements for every expected tensor, checking names, dtypes and shapes and
// marking the sources used. Views are filled later by Place(), once the arena exists.
class Planner {
 public:
  Planner(std::map<std::string, Source>* sources, DType matrix_dtype)
      : sources_(sources), matrix_dtype_(matrix_dtype) {}

  // A matrix stored as [rows, cols] and kept in that orientation.
  Status Matrix(const std::string& name, int64_t rows, int64_t cols, TensorView* out) {
    GF_ASSIGN_OR_RETURN(const SafetensorInfo* src, Take(name, {{rows, cols}}));
    Add(src, 0, rows, cols, /*transpose=*/false, /*vector=*/false, out);
    return Status::Ok();
  }

  // A raw LoRA factor stored as [in, out], placed as [out, in].
  Status LoraTransposed(const std::string& name, int64_t in, int64_t out_dim, TensorView* out) {
    GF_ASSIGN_OR_RETURN(const SafetensorInfo* src, Take(name, {{in, out_dim}}));
    Add(src, 0, in, out_dim, /*transpose=*/true, /*vector=*/false, out);
    return Status::Ok();
  }

  // A stack of raw LoRA factors [parts, rank, out_dim], placed as `parts` matrices
  // [out_dim, rank].
  Status SplitLora(const std::string& name, int64_t parts, int64_t rank, int64_t out_dim,
                   TensorView* outs) {
    GF_ASSIGN_OR_RETURN(const SafetensorInfo* src, Take(name, {{parts, rank, out_dim}}));
    const size_t part_bytes = static_cast<size_t>(rank * out_dim) * StDTypeSize(src->dtype);
    for (int64_t p = 0; p < parts; ++p) {
      Add(src, static_cast<size_t>(p) * part_bytes, rank, out_dim, /*transpose=*/true,
          /*vector=*/false, &outs[p]);
    }
    return Status::Ok();
  }

  // A vector [n] (or [1,1,n] as upstream stores mixes and time_decay), placed as F32 [n].
  Status Vector(const std::string& name, int64_t n, TensorView* out) {
    GF_ASSIGN_OR_RETURN(const SafetensorInfo* src, Take(name, {{n}, {1, 1, n}}));
    Add(src, 0, 1, n, /*transpose=*/false, /*vector=*/true, out);
    return Status::Ok();
  }

  Status LayerNorm(const std::string& prefix, int64_t n, LayerNormWeights* out) {
    GF_RETURN_IF_ERROR(Vector(prefix + ".weight", n, &out->weight));
    return Vector(prefix + ".bias", n, &out->bias);
  }

  // A tensor that is not used: when present it must be well-formed; it may be absent.
  Status CheckOptional(const std::string& name, std::vector<int64_t> shape) {
    if (sources_->count(name) == 0) return Status::Ok();
    return Take(name, {std::move(shape)}).status();
  }

  Status CheckAllConsumed() const {
    for (const auto& [name, source] : *sources_) {
      if (!source.consumed) {
        return InvalidArgument("unexpected tensor " + JsonQuote(name) + " in '" + *source.file +
                               "' (not a parameter of this GoldFinch config)");
      }
    }
    return Status::Ok();
  }

  size_t arena_bytes() const { return arena_bytes_; }
  size_t tensor_bytes() const { return tensor_bytes_; }
  const std::vector<Placement>& placements() const { return placements_; }

 private:
  StatusOr<const SafetensorInfo*> Take(const std::string& name,
                                       std::initializer_list<std::vector<int64_t>> shapes) {
    const std::string expected = ShapeString(*shapes.begin());
    const auto it = sources_->find(name);
    if (it == sources_->end()) {
      return InvalidArgument("missing tensor " + JsonQuote(name) + " (expected shape " + expected + ")");
    }
    Source& source = it->second;
    source.consumed = true;
    const SafetensorInfo* info = source.info;
    const std::string where = "tensor " + JsonQuote(name) + " in '" + *source.file + "'";
    if (info->dtype != StDType::kF32 && info->dtype != StDType::kBF16 && info->dtype != StDType::kF16) {
      return InvalidArgument(where + " has dtype " + StDTypeName(info->dtype) +
                             "; expected F32, BF16 or F16");
    }
    for (const auto& shape : shapes) {
      if (info->shape == shape) return info;
    }
    return InvalidArgument(where + " has shape " + ShapeString(info->shape) + "; expected " + expected);
  }

  void Add(const SafetensorInfo* src, size_t src_offset, int64_t rows, int64_t cols, bool transpose,
           bool vector, TensorView* out) {
    Placement p;
    p.src = src;
    p.src_offset = src_offset;
    p.rows = rows;
    p.cols = cols;
    p.transpose = transpose;
    p.vector = vector;
    p.dtype = vector ? DType::kF32 : matrix_dtype_;
    p.nbytes = static_cast<size_t>(rows * cols) * kernels::DTypeSize(p.dtype);
    p.arena_offset = (arena_bytes_ + kTensorAlign - 1) / kTensorAlign * kTensorAlign;
    p.out = out;
    arena_bytes_ = p.arena_offset + p.nbytes;
    tensor_bytes_ += p.nbytes;
    placements_.push_back(p);
  }

  std::map<std::string, Source>* sources_;
  DType matrix_dtype_;
  std::vector<Placement> placements_;
  size_t arena_bytes_ = 0;
  size_t tensor_bytes_ = 0;
};

Status PlanFinch(Planner& p, const ModelConfig& c, const std::string& att, FinchC2Weights* f) {
  const int64_t C = c.n_embd, A = c.dim_att;
  GF_RETURN_IF_ERROR(p.Vector(att + "time_maa_x", C, &f->mu_x));
  GF_RETURN_IF_ERROR(p.Vector(att + "time_maa_r", C, &f->mu_r));
  GF_RETURN_IF_ERROR(p.Vector(att + "time_maa_k", C, &f->mu_k));
  GF_RETURN_IF_ERROR(p.Vector(att + "time_maa_v", C, &f->mu_v));
  GF_RETURN_IF_ERROR(p.Vector(att + "time_maa_w", C, &f->mu_w));
  GF_RETURN_IF_ERROR(p.Vector(att + "time_maa_v2", C, &f->mu_v2));
  GF_RETURN_IF_ERROR(p.LoraTransposed(att + "time_maa_w1", C, kFinchMixSlots * kMixLoraDim, &f->maa_w1));
  GF_RETURN_IF_ERROR(p.SplitLora(att + "time_maa_w2", kFinchMixSlots, kMixLoraDim, C, f->maa_w2));
  GF_RETURN_IF_ERROR(p.Vector(att + "time_decay", A, &f->decay));
  GF_RETURN_IF_ERROR(p.LoraTransposed(att + "time_decay_w1", C, kDecayLoraDim, &f->decay_w1));
  GF_RETURN_IF_ERROR(p.LoraTransposed(att + "time_decay_w2", kDecayLoraDim, A, &f->decay_w2));
  GF_RETURN_IF_ERROR(p.LoraTransposed(att + "time_value2_w1", C, kDecayLoraDim, &f->value2_w1));
  GF_RETURN_IF_ERROR(p.LoraTransposed(att + "time_value2_w2", kDecayLoraDim, A, &f->value2_w2));
  GF_RETURN_IF_ERROR(p.CheckOptional(att + "time_faaaa", {c.n_head, c.head_size}));
  GF_RETURN_IF_ERROR(p.Matrix(att + "receptance.weight", A, C, &f->receptance));
  GF_RETURN_IF_ERROR(p.Matrix(att + "key.weight", A, C, &f->key));
  GF_RETURN_IF_ERROR(p.Matrix(att + "value.weight", A, C, &f->value));
  GF_RETURN_IF_ERROR(p.Matrix(att + "output.weight", C, A, &f->output));
  return p.LayerNorm(att + "ln_x", A, &f->ln_x);
}

Status PlanGold(Planner& p, const ModelConfig& c, const std::string& att, GoldWeights* g) {
  const int64_t C = c.n_embd, A = c.dim_att, Dg = c.gold_lora_dim;
  GF_RETURN_IF_ERROR(p.Vector(att + "time_maa_x", C, &g->mu_x));
  GF_RETURN_IF_ERROR(p.Vector(att + "time_maa_q", C, &g->mu_q));
  GF_RETURN_IF_ERROR(p.Vector(att + "time_maa_v_cache", C, &g->mu_v_cache));
  GF_RETURN_IF_ERROR(p.Vector(att + "time_maa_k", C, &g->mu_k));
  GF_RETURN_IF_ERROR(p.Vector(att + "time_maa_v", C, &g->mu_v));
  GF_RETURN_IF_ERROR(p.LoraTransposed(att + "time_maa_q_w1", C, kMixLoraDim, &g->q_w1));
  GF_RETURN_IF_ERROR(p.LoraTransposed(att + "time_maa_q_w2", kMixLoraDim, C, &g->q_w2));
  GF_RETURN_IF_ERROR(p.LoraTransposed(att + "time_maa_kv_w1", C, kGoldKvSlots * kMixLoraDim, &g->kv_w1));
  GF_RETURN_IF_ERROR(p.SplitLora(att + "time_maa_kv_w2", kGoldKvSlots, kMixLoraDim, C, g->kv_w2));
  GF_RETURN_IF_ERROR(p.LoraTransposed(att + "time_key_w1", C, Dg, &g->key_w1));
  GF_RETURN_IF_ERROR(p.LoraTransposed(att + "time_key_w2", Dg, A, &g->key_w2));
  GF_RETURN_IF_ERROR(p.LoraTransposed(att + "time_value_w1", C, Dg, &g->value_w1));
  GF_RETURN_IF_ERROR(p.LoraTransposed(att + "time_value_w2", Dg, A, &g->value_w2));
  GF_RETURN_IF_ERROR(p.Matrix(att + "query.weight", A, C, &g->query));
  GF_RETURN_IF_ERROR(p.Matrix(att + "output.weight", C, A, &g->output));
  GF_RETURN_IF_ERROR(p.LayerNorm(att + "ln_q", A, &g->ln_q));
  GF_RETURN_IF_ERROR(p.LayerNorm(att + "ln_k", A, &g->ln_k));
  GF_RETURN_IF_ERROR(p.LayerNorm(att + "ln_v", A, &g->ln_v));
  return p.LayerNorm(att + "ln_x", A, &g->ln_x);
}

// Plans every parameter of the model (model doc section 2). `kv_b_full` receives the whole
// w_kv_cache_b matrix; the caller derives the two column views from it.
Status PlanModel(Planner& p, const ModelConfig& c, ModelWeights* w, TensorView* kv_b_full) {
  const int64_t C = c.n_embd, A = c.dim_att, F = c.dim_ffn, V = c.vocab_size;
  const int64_t cd = c.compressed_dim;
  GF_RETURN_IF_ERROR(p.Matrix("emb.weight", V, C, &w->emb));
  GF_RETURN_IF_ERROR(p.LayerNorm("blocks.0.ln0", C, &w->ln0));
  w->blocks.resize(static_cast<size_t>(c.n_layer));
  for (int i = 0; i < c.n_layer; ++i) {
    BlockWeights& b = w->blocks[static_cast<size_t>(i)];
    const std::string prefix = "blocks." + std::to_string(i) + ".";
    GF_RETURN_IF_ERROR(p.LayerNorm(prefix + "ln1", C, &b.ln1));
    GF_RETURN_IF_ERROR(p.LayerNorm(prefix + "ln2", C, &b.ln2));
    b.is_gold = i >= c.first_gold_layer;
    if (b.is_gold) {
      GF_RETURN_IF_ERROR(PlanGold(p, c, prefix + "att.", &b.gold));
    } else {
      GF_RETURN_IF_ERROR(PlanFinch(p, c, prefix + "att.", &b.finch));
    }
    const std::string ffn = prefix + "ffn.";
    GF_RETURN_IF_ERROR(p.Vector(ffn + "time_maa_k", C, &b.ffn.mu_k));
    GF_RETURN_IF_ERROR(p.Vector(ffn + "time_maa_r", C, &b.ffn.mu_r));
    GF_RETURN_IF_ERROR(p.Matrix(ffn + "key.weight", F, C, &b.ffn.key));
    GF_RETURN_IF_ERROR(p.Matrix(ffn + "receptance.weight", C, C, &b.ffn.receptance));
    GF_RETURN_IF_ERROR(p.Matrix(ffn + "value.weight", C, F, &b.ffn.value));
  }
  GF_RETURN_IF_ERROR(p.LayerNorm("ln_out", C, &w->ln_out));
  GF_RETURN_IF_ERROR(p.Matrix("head.weight", V, C, &w->head));
  GF_RETURN_IF_ERROR(p.Matrix("w_kv_cache_a.weight", cd, C, &w->kv_cache_a));
  return p.Matrix("w_kv_cache_b.weight", A, C + cd, kv_b_full);
}

float LoadAsF32(const uint8_t* p, StDType dtype) {
  uint16_t h;
  switch (dtype) {
    case StDType::kBF16:
      std::memcpy(&h, p, 2);
      return kernels::Bf16ToF32(h);
    case StDType::kF16:
      std::memcpy(&h, p, 2);
      return kernels::F16ToF32(h);
    default: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
  }
}

void StoreFromF32(float v, DType dtype, uint8_t* p) {
  if (dtype == DType::kBF16) {
    const uint16_t h = kernels::F32ToBf16(v);
    std::memcpy(p, &h, 2);
  } else {
    std::memcpy(p, &v, 4);
  }
}

bool SameRepresentation(StDType src, DType dst) {
  return (src == StDType::kF32 && dst == DType::kF32) || (src == StDType::kBF16 && dst == DType::kBF16);
}

// Copies one placement into `dst` (its arena location) and returns the view of it.
TensorView Place(const Placement& p, uint8_t* dst) {
  const uint8_t* src = p.src->data + p.src_offset;
  const StDType st = p.src->dtype;
  const size_t ssize = StDTypeSize(st);
  const size_t dsize = kernels::DTypeSize(p.dtype);
  const bool raw = SameRepresentation(st, p.dtype);
  const int64_t n = p.rows * p.cols;
  if (!p.transpose) {
    if (raw) {
      std::memcpy(dst, src, static_cast<size_t>(n) * ssize);
    } else {
      for (int64_t i = 0; i < n; ++i) StoreFromF32(LoadAsF32(src + i * ssize, st), p.dtype, dst + i * dsize);
    }
  } else {
    // dst[c, r] = src[r, c]; destination is [cols, rows].
    for (int64_t r = 0; r < p.rows; ++r) {
      for (int64_t c = 0; c < p.cols; ++c) {
        const uint8_t* s = src + (r * p.cols + c) * static_cast<int64_t>(ssize);
        uint8_t* d = dst + (c * p.rows + r) * static_cast<int64_t>(dsize);
        if (raw) {
          std::memcpy(d, s, dsize);
        } else {
          StoreFromF32(LoadAsF32(s, st), p.dtype, d);
        }
      }
    }
  }
  if (p.vector) return kernels::Vec(dst, p.dtype, n);
  return p.transpose ? kernels::Mat(dst, p.dtype, p.cols, p.rows) : kernels::Mat(dst, p.dtype, p.rows, p.cols);
}


}  // namespace

StatusOr<std::vector<std::string>> ListWeightFiles(const std::string& model_dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(model_dir, ec);
  if (ec) return NotFound("cannot list model directory '" + model_dir + "': " + ec.message());
  std::vector<std::string> files;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const auto& path = it->path();
    if (path.extension() != ".safetensors" || path.filename() == "cases.safetensors") continue;
    std::error_code type_ec;
    if (!std::filesystem::is_regular_file(path, type_ec)) continue;
    files.push_back(path.string());
  }
  if (ec) return DataLoss("cannot list model directory '" + model_dir + "': " + ec.message());
  if (files.empty()) return NotFound("no *.safetensors weight files in '" + model_dir + "'");
  std::sort(files.begin(), files.end());
  return files;
}

StatusOr<ModelWeights> LoadModelWeights(const std::string& model_dir, const WeightLoadOptions& options) {
  GF_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(model_dir));
  GF_ASSIGN_OR_RETURN(std::vector<std::string> files, ListWeightFiles(model_dir));
  return LoadModelWeightsFromFiles(config, files, options);
}

StatusOr<ModelWeights> LoadModelWeightsFromFiles(const ModelConfig& config,
                                                 const std::vector<std::string>& files,
                                                 const WeightLoadOptions& options) {
  if (options.matrix_dtype != DType::kF32 && options.matrix_dtype != DType::kBF16) {
    return InvalidArgument(std::string("matrix_dtype must be F32 or BF16, not ") +
                           kernels::DTypeName(options.matrix_dtype));
  }
  if (files.empty()) return InvalidArgument("no weight files given");
  ModelWeights w;
  w.config = config;
  GF_RETURN_IF_ERROR(w.config.Finalize());
  w.matrix_dtype = options.matrix_dtype;

  std::vector<SafetensorsFile> opened;
  opened.reserve(files.size());
  for (const auto& path : files) {
    GF_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Open(path));
    opened.push_back(std::move(f));
  }
  std::map<std::string, Source> sources;
  for (const auto& file : opened) {
    for (const auto& [name, info] : file.tensors()) {
      const auto [it, inserted] = sources.emplace(name, Source{&info, &file.path(), false});
      if (!inserted) {
        return InvalidArgument("tensor " + JsonQuote(name) + " appears in both '" + *it->second.file +
                               "' and '" + file.path() + "'");
      }
    }
  }

  Planner planner(&sources, options.matrix_dtype);
  TensorView kv_b_full;
  GF_RETURN_IF_ERROR(PlanModel(planner, w.config, &w, &kv_b_full));
  GF_RETURN_IF_ERROR(planner.CheckAllConsumed());

  GF_ASSIGN_OR_RETURN(std::shared_ptr<void> arena, AllocateWeightArena(planner.arena_bytes(), "the weights"));
  auto* base = static_cast<uint8_t*>(arena.get());
  for (const Placement& p : planner.placements()) *p.out = Place(p, base + p.arena_offset);
  const int64_t C = w.config.n_embd;
  w.kv_cache_b_x0 = kv_b_full.ColSlice(0, C);
  w.kv_cache_b_c = kv_b_full.ColSlice(C, w.config.compressed_dim);
  w.arenas.push_back(std::move(arena));
  w.bytes = planner.tensor_bytes();
  return w;
}

}  // namespace gf
