// Tests for LoadModelWeights (engine/model/weights_loader.h): the three golden models load in
// F32 and BF16 with every view checked element by element against the source file (including
// the LoRA transposes, the [5,32,C]/[2,32,C] splits and the w_kv_cache_b column views); BF16
// and F16 sources convert correctly; and each malformed model directory (built by rewriting
// the golden weights) fails with the right code and a message naming the tensor/key/file.
#include "engine/model/weights_loader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/model/safetensors.h"
#include "kernels/tensor.h"
#include "tests/test_support.h"

namespace gf {
namespace {

using kernels::DType;

const char* const kCases[] = {"gf_L4_D64_hs32_V256_T23", "gf_L6_D128_hs64_V1000_T47",
                              "gf_L5_D96_hs32_V512_T64_rope10k"};
constexpr const char* kSmallCase = "gf_L4_D64_hs32_V256_T23";

std::string GoldenWeights(const std::string& name) { return testing::GoldenCaseDir(name) + "/weights.safetensors"; }

// ---- element-by-element comparison against the source file ---------------------------------

float ViewAt(const TensorView& v, int64_t r, int64_t c) {
  const int64_t idx = v.rank == 1 ? c : r * v.ld() + c;
  if (v.dtype == DType::kBF16) return kernels::Bf16ToF32(static_cast<const uint16_t*>(v.data)[idx]);
  return static_cast<const float*>(v.data)[idx];
}

// Compares views with the tensors of one source file; the expected value of a matrix element
// is the source value rounded to the matrix dtype, vectors are always exact F32.
class ViewChecker {
 public:
  ViewChecker(const SafetensorsFile& src, DType matrix_dtype) : src_(src), matrix_dtype_(matrix_dtype) {}

  // view[r, c] == src[r, col0 + c] for a source of `src_cols` columns (default: cols).
  void Same(const TensorView& v, const std::string& name, int64_t rows, int64_t cols, int64_t src_cols = -1,
            int64_t col0 = 0) {
    if (src_cols < 0) src_cols = cols;
    CheckMatrixHeader(v, name, rows, cols, src_cols == cols ? cols : src_cols);
    const std::vector<float> s = Source(name);
    Compare(v, name, rows, cols, [&](int64_t r, int64_t c) { return s[static_cast<size_t>(r * src_cols + col0 + c)]; });
  }

  // view[r, c] == src[part][c, r]: the source part is [cols, rows] (a raw [in, out] LoRA factor).
  void Transposed(const TensorView& v, const std::string& name, int64_t rows, int64_t cols, int64_t part = 0) {
    CheckMatrixHeader(v, name, rows, cols, cols);
    const std::vector<float> s = Source(name);
    const int64_t base = part * rows * cols;
    Compare(v, name, rows, cols, [&](int64_t r, int64_t c) { return s[static_cast<size_t>(base + c * rows + r)]; });
  }

  void Vector(const TensorView& v, const std::string& name, int64_t n) {
    EXPECT_EQ(v.rank, 1) << name;
    EXPECT_EQ(v.shape[0], n) << name;
    EXPECT_EQ(v.dtype, DType::kF32) << name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data) % 64, 0u) << name;
    const std::vector<float> s = Source(name);
    ASSERT_EQ(static_cast<int64_t>(s.size()), n) << name;
    int64_t bad = 0;
    for (int64_t i = 0; i < n; ++i) bad += ViewAt(v, 0, i) != s[static_cast<size_t>(i)];
    EXPECT_EQ(bad, 0) << name;
    ++checked_;
  }

  void LayerNorm(const LayerNormWeights& ln, const std::string& prefix, int64_t n) {
    Vector(ln.weight, prefix + ".weight", n);
    Vector(ln.bias, prefix + ".bias", n);
  }

  int checked() const { return checked_; }

 private:
  std::vector<float> Source(const std::string& name) {
    auto v = src_.ReadF32(name);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? v.value() : std::vector<float>{};
  }

  void CheckMatrixHeader(const TensorView& v, const std::string& name, int64_t rows, int64_t cols, int64_t ld) {
    EXPECT_EQ(v.rank, 2) << name;
    EXPECT_EQ(v.rows(), rows) << name;
    EXPECT_EQ(v.cols(), cols) << name;
    EXPECT_EQ(v.ld(), ld) << name;
    EXPECT_EQ(v.dtype, matrix_dtype_) << name;
    EXPECT_EQ(v.device, kernels::Device::kCpu) << name;
    if (ld == cols) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data) % 64, 0u) << name;
    }
  }

  void Compare(const TensorView& v, const std::string& name, int64_t rows, int64_t cols,
               const std::function<float(int64_t, int64_t)>& expected) {
    int64_t bad = 0;
    std::string first;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        float want = expected(r, c);
        if (matrix_dtype_ == DType::kBF16) want = kernels::Bf16ToF32(kernels::F32ToBf16(want));
        const float got = ViewAt(v, r, c);
        if (got != want && bad++ == 0) {
          std::ostringstream os;
          os << "[" << r << "," << c << "] got " << got << " want " << want;
          first = os.str();
        }
      }
    }
    EXPECT_EQ(bad, 0) << name << " first mismatch " << first;
    ++checked_;
  }

  const SafetensorsFile& src_;
  DType matrix_dtype_;
  int checked_ = 0;
};

// Checks every view of `w` against `src` (the model doc section 2 table, restated).
void CheckAllWeights(const ModelWeights& w, const SafetensorsFile& src) {
  const ModelConfig& cfg = w.config;
  const int64_t C = cfg.n_embd, A = cfg.dim_att, F = cfg.dim_ffn, V = cfg.vocab_size;
  const int64_t c = cfg.compressed_dim, Dg = cfg.gold_lora_dim;
  ViewChecker k(src, w.matrix_dtype);
  k.Same(w.emb, "emb.weight", V, C);
  k.LayerNorm(w.ln0, "blocks.0.ln0", C);
  k.LayerNorm(w.ln_out, "ln_out", C);
  k.Same(w.head, "head.weight", V, C);
  k.Same(w.kv_cache_a, "w_kv_cache_a.weight", c, C);
  k.Same(w.kv_cache_b_x0, "w_kv_cache_b.weight", A, C, C + c, 0);
  k.Same(w.kv_cache_b_c, "w_kv_cache_b.weight", A, c, C + c, C);
  ASSERT_EQ(static_cast<int>(w.blocks.size()), cfg.n_layer);
  for (int i = 0; i < cfg.n_layer; ++i) {
    const BlockWeights& b = w.blocks[static_cast<size_t>(i)];
    const std::string p = "blocks." + std::to_string(i) + ".";
    const std::string att = p + "att.";
    EXPECT_EQ(b.is_gold, i >= cfg.first_gold_layer) << i;
    k.LayerNorm(b.ln1, p + "ln1", C);
    k.LayerNorm(b.ln2, p + "ln2", C);
    k.Vector(b.ffn.mu_k, p + "ffn.time_maa_k", C);
    k.Vector(b.ffn.mu_r, p + "ffn.time_maa_r", C);
    k.Same(b.ffn.key, p + "ffn.key.weight", F, C);
    k.Same(b.ffn.receptance, p + "ffn.receptance.weight", C, C);
    k.Same(b.ffn.value, p + "ffn.value.weight", C, F);
    if (!b.is_gold) {
      const FinchC2Weights& f = b.finch;
      k.Vector(f.mu_x, att + "time_maa_x", C);
      k.Vector(f.mu_r, att + "time_maa_r", C);
      k.Vector(f.mu_k, att + "time_maa_k", C);
      k.Vector(f.mu_v, att + "time_maa_v", C);
      k.Vector(f.mu_w, att + "time_maa_w", C);
      k.Vector(f.mu_v2, att + "time_maa_v2", C);
      k.Transposed(f.maa_w1, att + "time_maa_w1", 160, C);
      for (int m = 0; m < 5; ++m) k.Transposed(f.maa_w2[m], att + "time_maa_w2", C, 32, m);
      k.Vector(f.decay, att + "time_decay", A);
      k.Transposed(f.decay_w1, att + "time_decay_w1", 64, C);
      k.Transposed(f.decay_w2, att + "time_decay_w2", A, 64);
      k.Transposed(f.value2_w1, att + "time_value2_w1", 64, C);
      k.Transposed(f.value2_w2, att + "time_value2_w2", A, 64);
      k.Same(f.receptance, att + "receptance.weight", A, C);
      k.Same(f.key, att + "key.weight", A, C);
      k.Same(f.value, att + "value.weight", A, C);
      k.Same(f.output, att + "output.weight", C, A);
      k.LayerNorm(f.ln_x, att + "ln_x", A);
    } else {
      const GoldWeights& g = b.gold;
      k.Vector(g.mu_x, att + "time_maa_x", C);
      k.Vector(g.mu_q, att + "time_maa_q", C);
      k.Vector(g.mu_v_cache, att + "time_maa_v_cache", C);
      k.Vector(g.mu_k, att + "time_maa_k", C);
      k.Vector(g.mu_v, att + "time_maa_v", C);
      k.Transposed(g.q_w1, att + "time_maa_q_w1", 32, C);
      k.Transposed(g.q_w2, att + "time_maa_q_w2", C, 32);
      k.Transposed(g.kv_w1, att + "time_maa_kv_w1", 64, C);
      for (int m = 0; m < 2; ++m) k.Transposed(g.kv_w2[m], att + "time_maa_kv_w2", C, 32, m);
      k.Transposed(g.key_w1, att + "time_key_w1", Dg, C);
      k.Transposed(g.key_w2, att + "time_key_w2", A, Dg);
      k.Transposed(g.value_w1, att + "time_value_w1", Dg, C);
      k.Transposed(g.value_w2, att + "time_value_w2", A, Dg);
      k.Same(g.query, att + "query.weight", A, C);
      k.Same(g.output, att + "output.weight", C, A);
      k.LayerNorm(g.ln_q, att + "ln_q", A);
      k.LayerNorm(g.ln_k, att + "ln_k", A);
      k.LayerNorm(g.ln_v, att + "ln_v", A);
      k.LayerNorm(g.ln_x, att + "ln_x", A);
    }
  }
  EXPECT_GT(k.checked(), 100);
}

// Bytes the loader should place: every source element except time_faaaa, matrices in the
// matrix dtype (2-D+ tensors other than [1,1,C] vectors), vectors in F32.
size_t ExpectedBytes(const SafetensorsFile& src, DType matrix_dtype) {
  size_t bytes = 0;
  for (const auto& [name, info] : src.tensors()) {
    if (name.find("time_faaaa") != std::string::npos) continue;
    const bool vector = info.shape.size() == 1 || (info.shape.size() == 3 && info.shape[0] == 1);
    bytes += static_cast<size_t>(info.numel()) * (vector ? 4 : kernels::DTypeSize(matrix_dtype));
  }
  return bytes;
}

class GoldenLoadTest : public ::testing::TestWithParam<std::tuple<const char*, DType>> {};

TEST_P(GoldenLoadTest, LoadsAndMatchesSource) {
  const auto [name, dtype] = GetParam();
  WeightLoadOptions options;
  options.matrix_dtype = dtype;
  auto w = LoadModelWeights(testing::GoldenCaseDir(name), options);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->config.name, name);
  EXPECT_EQ(w->matrix_dtype, dtype);
  ASSERT_EQ(w->arenas.size(), 1u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w->arenas[0].get()) % (2u << 20), 0u);
  auto src = SafetensorsFile::Open(GoldenWeights(name));
  ASSERT_TRUE(src.ok());
  EXPECT_EQ(w->bytes, ExpectedBytes(src.value(), dtype));
  CheckAllWeights(w.value(), src.value());
}

INSTANTIATE_TEST_SUITE_P(AllCases, GoldenLoadTest,
                         ::testing::Combine(::testing::ValuesIn(kCases),
                                            ::testing::Values(DType::kF32, DType::kBF16)),
                         [](const auto& param_info) {
                           return std::string(std::get<0>(param_info.param)) +
                                  (std::get<1>(param_info.param) == DType::kF32 ? "_f32" : "_bf16");
                         });

TEST(WeightsLoaderTest, SpotCheckTransposedLora) {
  auto w = LoadModelWeights(testing::GoldenCaseDir(kSmallCase));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto src = SafetensorsFile::Open(GoldenWeights(kSmallCase));
  ASSERT_TRUE(src.ok());
  const std::vector<float> w1 = src->ReadF32("blocks.1.att.time_maa_w1").value();  // [64, 160]
  const TensorView& v = w->blocks[1].finch.maa_w1;                                   // [160, 64]
  // maa_w1[j][i] == time_maa_w1[i][j]
  EXPECT_EQ(v.ptr<float>()[37 * 64 + 5], w1[5 * 160 + 37]);
  EXPECT_EQ(v.ptr<float>()[159 * 64 + 63], w1[63 * 160 + 159]);
  const std::vector<float> kv2 = src->ReadF32("blocks.3.att.time_maa_kv_w2").value();  // [2, 32, 64]
  // kv_w2[1][c][r] == time_maa_kv_w2[1][r][c]
  EXPECT_EQ(w->blocks[3].gold.kv_w2[1].ptr<float>()[10 * 32 + 7], kv2[32 * 64 + 7 * 64 + 10]);
  const std::vector<float> b = src->ReadF32("w_kv_cache_b.weight").value();  // [64, 68]
  EXPECT_EQ(w->kv_cache_b_c.ld(), 68);
  EXPECT_EQ(w->kv_cache_b_c.row_ptr<float>(9)[2], b[9 * 68 + 64 + 2]);
  EXPECT_EQ(w->kv_cache_b_x0.row_ptr<float>(9)[63], b[9 * 68 + 63]);
}

TEST(WeightsLoaderTest, ListWeightFilesSkipsCases) {
  auto files = ListWeightFiles(testing::GoldenCaseDir(kSmallCase));
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ(std::filesystem::path((*files)[0]).filename(), "weights.safetensors");
  auto missing = ListWeightFiles("/nonexistent/model");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

// ---- rewritten model directories ------------------------------------------------------------

struct OwnedTensor {
  std::string name;
  StDType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

using Tensors = std::vector<OwnedTensor>;

Tensors ReadGolden(const std::string& name) {
  auto f = SafetensorsFile::Open(GoldenWeights(name));
  EXPECT_TRUE(f.ok());
  Tensors out;
  for (const auto& [n, info] : f->tensors()) {
    out.push_back({n, info.dtype, info.shape, std::vector<uint8_t>(info.data, info.data + info.nbytes)});
  }
  return out;
}

OwnedTensor* FindTensor(Tensors& ts, const std::string& name) {
  for (auto& t : ts) {
    if (t.name == name) return &t;
  }
  ADD_FAILURE() << "no tensor " << name;
  return nullptr;
}

void WriteTensors(const std::string& path, const Tensors& ts) {
  std::vector<SafetensorToWrite> out;
  for (const auto& t : ts) out.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  const Status s = WriteSafetensors(path, out);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

// A temporary model directory, removed when the object goes away.
class TempModelDir {
 public:
  TempModelDir() : path_(testing::MakeTempDir("weights_loader_test")) {}
  ~TempModelDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempModelDir(const TempModelDir&) = delete;
  TempModelDir& operator=(const TempModelDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A model directory with the golden config.json of `golden` and the given weight files.
std::unique_ptr<TempModelDir> MakeModelDir(const std::vector<std::pair<std::string, Tensors>>& files,
                                           const std::string& golden = kSmallCase) {
  auto dir = std::make_unique<TempModelDir>();
  std::filesystem::copy_file(testing::GoldenCaseDir(golden) + "/config.json", dir->path() + "/config.json");
  for (const auto& [file, ts] : files) WriteTensors(dir->path() + "/" + file, ts);
  return dir;
}

// Loads `dir`, expecting failure with `code` and a message containing every needle.
void ExpectLoadError(const std::string& dir, StatusCode code, const std::vector<std::string>& needles,
                     DType dtype = DType::kF32) {
  WeightLoadOptions options;
  options.matrix_dtype = dtype;
  auto w = LoadModelWeights(dir, options);
  ASSERT_FALSE(w.ok()) << "loaded " << dir;
  EXPECT_EQ(w.status().code(), code) << w.status().ToString();
  for (const auto& needle : needles) {
    EXPECT_NE(w.status().message().find(needle), std::string::npos)
        << "message: " << w.status().message() << " (wanted '" << needle << "')";
  }
}

Tensors ConvertAll(Tensors ts, StDType to) {
  for (auto& t : ts) {
    const size_t n = t.bytes.size() / 4;
    std::vector<uint8_t> out(n * 2);
    for (size_t i = 0; i < n; ++i) {
      float f;
      std::memcpy(&f, t.bytes.data() + 4 * i, 4);
      const uint16_t h = to == StDType::kBF16 ? kernels::F32ToBf16(f) : kernels::F32ToF16(f);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
    t.bytes = std::move(out);
    t.dtype = to;
  }
  return ts;
}

TEST(WeightsLoaderTest, Bf16SourceLoadsIntoF32AndBf16) {
  const auto model_dir = MakeModelDir({{"model.safetensors", ConvertAll(ReadGolden(kSmallCase), StDType::kBF16)}});
  const std::string& dir = model_dir->path();
  auto src = SafetensorsFile::Open(dir + "/model.safetensors");
  ASSERT_TRUE(src.ok());
  for (const DType dtype : {DType::kF32, DType::kBF16}) {
    WeightLoadOptions options;
    options.matrix_dtype = dtype;
    auto w = LoadModelWeights(dir, options);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    CheckAllWeights(w.value(), src.value());  // bf16 -> f32 -> bf16 is exact
  }
}

TEST(WeightsLoaderTest, F16SourceConverts) {
  const auto model_dir = MakeModelDir({{"model.safetensors", ConvertAll(ReadGolden(kSmallCase), StDType::kF16)}});
  const std::string& dir = model_dir->path();
  auto src = SafetensorsFile::Open(dir + "/model.safetensors");
  ASSERT_TRUE(src.ok());
  for (const DType dtype : {DType::kF32, DType::kBF16}) {
    WeightLoadOptions options;
    options.matrix_dtype = dtype;
    auto w = LoadModelWeights(dir, options);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    CheckAllWeights(w.value(), src.value());
  }
}

TEST(WeightsLoaderTest, SqueezedVectorsAndSplitFilesLoad) {
  Tensors all = ReadGolden(kSmallCase);
  for (auto& t : all) {
    if (t.shape.size() == 3 && t.shape[0] == 1) t.shape = {t.shape[2]};  // converter-squeezed [C]
  }
  Tensors second;
  for (auto it = all.begin(); it != all.end();) {
    if (it->name.rfind("blocks.3.", 0) == 0 || it->name == "head.weight") {
      second.push_back(std::move(*it));
      it = all.erase(it);
    } else {
      ++it;
    }
  }
  const auto model_dir = MakeModelDir({{"model-00001.safetensors", all}, {"model-00002.safetensors", second}});
  const std::string& dir = model_dir->path();
  auto w = LoadModelWeights(dir);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto src = SafetensorsFile::Open(GoldenWeights(kSmallCase));
  ASSERT_TRUE(src.ok());
  CheckAllWeights(w.value(), src.value());
}

TEST(WeightsLoaderTest, MissingTensor) {
  Tensors ts = ReadGolden(kSmallCase);
  std::erase_if(ts, [](const OwnedTensor& t) { return t.name == "blocks.1.att.time_maa_w2"; });
  ExpectLoadError(MakeModelDir({{"weights.safetensors", ts}})->path(), StatusCode::kInvalidArgument,
                  {"missing tensor", "\"blocks.1.att.time_maa_w2\"", "[5,32,64]"});
}

TEST(WeightsLoaderTest, TimeFaaaaMayBeDropped) {
  // tools/convert_checkpoint.py --drop-faaaa writes no time_faaaa (unused by GoldFinch).
  Tensors ts = ReadGolden(kSmallCase);
  std::erase_if(ts, [](const OwnedTensor& t) { return t.name.find("time_faaaa") != std::string::npos; });
  auto dir = MakeModelDir({{"weights.safetensors", ts}});
  auto weights = LoadModelWeights(dir->path());
  ASSERT_TRUE(weights.ok()) << weights.status().ToString();
  EXPECT_EQ(weights->blocks.size(), 4u);
}

TEST(WeightsLoaderTest, ExtraTensor) {
  Tensors ts = ReadGolden(kSmallCase);
  ts.push_back({"blocks.0.att.bonus", StDType::kF32, {4}, std::vector<uint8_t>(16, 0)});
  ExpectLoadError(MakeModelDir({{"weights.safetensors", ts}})->path(), StatusCode::kInvalidArgument,
                  {"unexpected tensor", "\"blocks.0.att.bonus\"", "weights.safetensors"});
  // ln0 belongs to block 0 only.
  Tensors ts2 = ReadGolden(kSmallCase);
  ts2.push_back({"blocks.1.ln0.weight", StDType::kF32, {64}, std::vector<uint8_t>(256, 0)});
  ExpectLoadError(MakeModelDir({{"weights.safetensors", ts2}})->path(), StatusCode::kInvalidArgument,
                  {"unexpected tensor", "\"blocks.1.ln0.weight\""});
}

TEST(WeightsLoaderTest, WrongShape) {
  Tensors ts = ReadGolden(kSmallCase);
  FindTensor(ts, "blocks.2.att.time_key_w1")->shape = {32, 128};  // same bytes, wrong shape
  ExpectLoadError(MakeModelDir({{"weights.safetensors", ts}})->path(), StatusCode::kInvalidArgument,
                  {"\"blocks.2.att.time_key_w1\"", "shape [32,128]", "expected [64,64]"});
  // A Linear stored in the LoRA orientation is caught too.
  Tensors ts2 = ReadGolden(kSmallCase);
  FindTensor(ts2, "w_kv_cache_a.weight")->shape = {64, 4};
  ExpectLoadError(MakeModelDir({{"weights.safetensors", ts2}})->path(), StatusCode::kInvalidArgument,
                  {"\"w_kv_cache_a.weight\"", "expected [4,64]"});
  // time_faaaa is dropped but still checked.
  Tensors ts3 = ReadGolden(kSmallCase);
  FindTensor(ts3, "blocks.0.att.time_faaaa")->shape = {1, 64};
  ExpectLoadError(MakeModelDir({{"weights.safetensors", ts3}})->path(), StatusCode::kInvalidArgument,
                  {"\"blocks.0.att.time_faaaa\"", "expected [2,32]"});
}

TEST(WeightsLoaderTest, IntegerWeight) {
  Tensors ts = ReadGolden(kSmallCase);
  FindTensor(ts, "blocks.0.ffn.key.weight")->dtype = StDType::kI32;
  ExpectLoadError(MakeModelDir({{"weights.safetensors", ts}})->path(), StatusCode::kInvalidArgument,
                  {"\"blocks.0.ffn.key.weight\"", "dtype I32"});
}

TEST(WeightsLoaderTest, DuplicateNameAcrossFiles) {
  Tensors all = ReadGolden(kSmallCase);
  Tensors extra = {*FindTensor(all, "head.weight")};
  ExpectLoadError(MakeModelDir({{"a.safetensors", all}, {"b.safetensors", extra}})->path(), StatusCode::kInvalidArgument,
                  {"\"head.weight\"", "a.safetensors", "b.safetensors"});
}

TEST(WeightsLoaderTest, TruncatedFile) {
  const auto model_dir = MakeModelDir({{"weights.safetensors", ReadGolden(kSmallCase)}});
  const std::string& dir = model_dir->path();
  const std::string path = dir + "/weights.safetensors";
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  // The writer stores tensors in the order given (sorted names): w_kv_cache_b.weight is last.
  ExpectLoadError(dir, StatusCode::kDataLoss, {"weights.safetensors", "\"w_kv_cache_b.weight\"", "truncated"});
}

TEST(WeightsLoaderTest, CorruptHeader) {
  const auto model_dir = MakeModelDir({{"weights.safetensors", ReadGolden(kSmallCase)}});
  const std::string& dir = model_dir->path();
  const std::string path = dir + "/weights.safetensors";
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8 + 5);
    f.put('\x01');  // a control character inside the header JSON
  }
  ExpectLoadError(dir, StatusCode::kInvalidArgument, {"weights.safetensors", "JSON"});
}

TEST(WeightsLoaderTest, BadConfigValue) {
  const auto model_dir = MakeModelDir({{"weights.safetensors", ReadGolden(kSmallCase)}});
  const std::string& dir = model_dir->path();
  std::ofstream(dir + "/config.json") << R"({"model": {"n_layer": 4, "n_embd": 100, "vocab_size": 256}})";
  ExpectLoadError(dir, StatusCode::kInvalidArgument, {"config.json", "\"n_embd\""});
}

TEST(WeightsLoaderTest, ConfigDisagreesWithWeights) {
  const auto model_dir = MakeModelDir({{"weights.safetensors", ReadGolden(kSmallCase)}});
  const std::string& dir = model_dir->path();
  std::ofstream(dir + "/config.json") << R"({"model": {"n_layer": 4, "n_embd": 64, "head_size": 32,
      "vocab_size": 512}})";
  ExpectLoadError(dir, StatusCode::kInvalidArgument, {"\"emb.weight\"", "shape [256,64]", "expected [512,64]"});
  std::ofstream(dir + "/config.json") << R"({"model": {"n_layer": 5, "n_embd": 64, "head_size": 32,
      "vocab_size": 256}})";
  // With 5 layers block 2 must be Finch-C2, but the file holds a GOLD block there.
  ExpectLoadError(dir, StatusCode::kInvalidArgument, {"missing tensor", "\"blocks.2.att.time_maa_r\""});
  std::ofstream(dir + "/config.json") << R"({"model": {"n_layer": 3, "n_embd": 64, "head_size": 32,
      "vocab_size": 256}})";
  // With 3 layers (first GOLD layer 2, as before) blocks.3.* is left over.
  ExpectLoadError(dir, StatusCode::kInvalidArgument, {"unexpected tensor", "\"blocks.3."});
}

TEST(WeightsLoaderTest, NoWeightFiles) {
  const auto model_dir = MakeModelDir({});
  const std::string& dir = model_dir->path();
  ExpectLoadError(dir, StatusCode::kNotFound, {"no *.safetensors"});
}

TEST(WeightsLoaderTest, RejectsUnsupportedMatrixDtype) {
  ExpectLoadError(testing::GoldenCaseDir(kSmallCase), StatusCode::kInvalidArgument, {"matrix_dtype"}, DType::kF16);
}

TEST(WeightsLoaderTest, LoadFromExplicitFiles) {
  auto config = LoadModelConfig(testing::GoldenCaseDir(kSmallCase));
  ASSERT_TRUE(config.ok());
  auto w = LoadModelWeightsFromFiles(config.value(), {GoldenWeights(kSmallCase)});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->blocks.size(), 4u);
  auto none = LoadModelWeightsFromFiles(config.value(), {});
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
  // Weights outlive the files they came from (everything was copied).
  ModelWeights moved = std::move(w.value());
  EXPECT_EQ(moved.blocks[0].ln1.weight.numel(), 64);
}

}  // namespace
}  // namespace gf
