// Tests for the safetensors reader/writer (engine/model/safetensors.h): a round trip and one
// test per malformed-input class, each checking the error code and that the message names the
// offending tensor (or the file, for file-level damage).
#include "engine/model/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/test_support.h"

namespace gf {
namespace {

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("safetensors_test"); }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // Writes 8-byte length + header + data; `length_field` overrides the length when >= 0.
  std::string WriteRaw(const std::string& name, const std::string& header, const std::string& data,
                       int64_t length_field = -1) const {
    const std::string path = Path(name);
    std::ofstream f(path, std::ios::binary);
    uint64_t len = length_field >= 0 ? static_cast<uint64_t>(length_field) : header.size();
    for (int i = 0; i < 8; ++i) {
      f.put(static_cast<char>(len & 0xFF));
      len >>= 8;
    }
    f << header << data;
    return path;
  }

  // Opens `path`, expecting failure with `code` and a message containing every needle.
  static void ExpectOpenError(const std::string& path, StatusCode code,
                              const std::vector<std::string>& needles) {
    auto f = SafetensorsFile::Open(path);
    ASSERT_FALSE(f.ok()) << "opened " << path;
    EXPECT_EQ(f.status().code(), code) << f.status().ToString();
    for (const auto& needle : needles) {
      EXPECT_NE(f.status().message().find(needle), std::string::npos)
          << "message: " << f.status().message() << " (wanted '" << needle << "')";
    }
  }

  std::string dir_;
};

TEST_F(SafetensorsTest, RoundTrip) {
  const std::vector<float> f32 = {1.5f, -2.0f, 0.25f, 3.0f, -0.0f, 1e-3f};
  const std::vector<uint16_t> bf16 = {0x3F80, 0xC000, 0x3E80, 0x7F80};  // 1, -2, 0.25, inf
  const std::vector<int32_t> i32 = {7, -8, 2147483647};
  const std::vector<int64_t> i64 = {-5, 123456};
  const std::vector<uint8_t> u8 = {1, 2, 3};
  const std::string path = Path("rt.safetensors");
  const Status s = WriteSafetensors(
      path,
      {{"a.f32", StDType::kF32, {2, 3}, f32.data(), f32.size() * 4},
       {"b.bf16", StDType::kBF16, {4}, bf16.data(), bf16.size() * 2},
       {"c.i32", StDType::kI32, {3}, i32.data(), i32.size() * 4},
       {"d.empty", StDType::kF32, {0, 5}, nullptr, 0},
       {"e.i64", StDType::kI64, {1, 2}, i64.data(), i64.size() * 8},
       {"f.u8", StDType::kU8, {3}, u8.data(), u8.size()}},
      {{"format", "pt"}, {"note", "quote\" and \xC3\xA9"}});
  ASSERT_TRUE(s.ok()) << s.ToString();

  // The header is padded to a multiple of 8 and the data follows it in order.
  const auto file_size = std::filesystem::file_size(path);
  std::ifstream in(path, std::ios::binary);
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(file_size, 8 + header_len + 24 + 8 + 12 + 0 + 16 + 3);

  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->path(), path);
  ASSERT_EQ(f->tensors().size(), 6u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->metadata().at("note"), "quote\" and \xC3\xA9");

  const SafetensorInfo* a = f->Find("a.f32");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->name, "a.f32");
  EXPECT_EQ(a->dtype, StDType::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->numel(), 6);
  EXPECT_EQ(a->nbytes, 24u);
  EXPECT_EQ(std::memcmp(a->data, f32.data(), 24), 0);
  auto af = f->ReadF32("a.f32");
  ASSERT_TRUE(af.ok());
  EXPECT_EQ(af.value(), f32);

  auto bf = f->ReadF32("b.bf16");
  ASSERT_TRUE(bf.ok());
  EXPECT_EQ(bf.value(), (std::vector<float>{1.0f, -2.0f, 0.25f, INFINITY}));

  auto ci = f->ReadI32("c.i32");
  ASSERT_TRUE(ci.ok());
  EXPECT_EQ(ci.value(), i32);
  auto cf = f->ReadF32("c.i32");
  ASSERT_TRUE(cf.ok());
  EXPECT_EQ(cf.value()[1], -8.0f);

  const SafetensorInfo* d = f->Find("d.empty");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->numel(), 0);
  EXPECT_EQ(d->nbytes, 0u);
  EXPECT_TRUE(f->ReadF32("d.empty").value().empty());

  auto ei = f->ReadI32("e.i64");
  ASSERT_TRUE(ei.ok());
  EXPECT_EQ(ei.value(), (std::vector<int32_t>{-5, 123456}));
  EXPECT_EQ(f->Find("f.u8")->dtype, StDType::kU8);
  EXPECT_EQ(f->Find("missing"), nullptr);

  // Moving keeps the mapping valid.
  SafetensorsFile moved = std::move(f.value());
  EXPECT_EQ(moved.ReadF32("a.f32").value(), f32);
}

TEST_F(SafetensorsTest, DTypeNamesAndSizes) {
  EXPECT_STREQ(StDTypeName(StDType::kBF16), "BF16");
  EXPECT_STREQ(StDTypeName(StDType::kBool), "BOOL");
  EXPECT_EQ(StDTypeSize(StDType::kF64), 8u);
  EXPECT_EQ(StDTypeSize(StDType::kF16), 2u);
  EXPECT_EQ(StDTypeSize(StDType::kI8), 1u);
}

TEST_F(SafetensorsTest, ReadsF16AndF64AndUnalignedData) {
  // F16 bit patterns: 1, -2, smallest subnormal 2^-24, largest finite 65504.
  const std::string f16("\x00\x3C\x00\xC0\x01\x00\xFF\x7B", 8);
  double d = -0.125;
  std::string f64(8, '\0');
  std::memcpy(f64.data(), &d, 8);
  float one = 1.0f;
  std::string f32(4, '\0');
  std::memcpy(f32.data(), &one, 4);
  // Header of odd length and a 1-byte gap: the F32 tensor starts at an unaligned address.
  const std::string header =
      R"({"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},)"
      R"("d":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},)"
      R"("u":{"dtype":"F32","shape":[1],"data_offsets":[17,21]}} )";
  const std::string path = WriteRaw("f16.safetensors", header, f16 + f64 + "x" + f32);
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->ReadF32("h").value(), (std::vector<float>{1.0f, -2.0f, 5.9604644775390625e-8f, 65504.0f}));
  EXPECT_EQ(f->ReadF32("d").value(), (std::vector<float>{-0.125f}));
  EXPECT_EQ(f->ReadF32("u").value(), (std::vector<float>{1.0f}));
}

TEST_F(SafetensorsTest, ReadErrorsNameTheTensor) {
  const std::vector<uint8_t> u8 = {1, 2};
  const std::vector<float> fl = {1.0f};
  const std::vector<int64_t> big = {int64_t{1} << 40};
  const std::string path = Path("r.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"bytes", StDType::kU8, {2}, u8.data(), 2},
                                      {"float", StDType::kF32, {1}, fl.data(), 4},
                                      {"big", StDType::kI64, {1}, big.data(), 8}})
                  .ok());
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok());
  auto r1 = f->ReadF32("bytes");
  EXPECT_EQ(r1.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r1.status().message().find("\"bytes\""), std::string::npos);
  auto r2 = f->ReadI32("float");
  EXPECT_EQ(r2.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r2.status().message().find("\"float\""), std::string::npos);
  auto r3 = f->ReadI32("big");
  EXPECT_EQ(r3.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(r3.status().message().find("\"big\""), std::string::npos);
  auto r4 = f->ReadF32("absent");
  EXPECT_EQ(r4.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r4.status().message().find("\"absent\""), std::string::npos);
}

TEST_F(SafetensorsTest, MissingFile) {
  ExpectOpenError(Path("nope.safetensors"), StatusCode::kNotFound, {"nope.safetensors"});
}

TEST_F(SafetensorsTest, FileShorterThanLengthField) {
  const std::string path = Path("short.safetensors");
  std::ofstream(path, std::ios::binary) << "abc";
  ExpectOpenError(path, StatusCode::kDataLoss, {"short.safetensors", "too short"});
}

TEST_F(SafetensorsTest, HeaderLengthLargerThanFile) {
  const std::string path = WriteRaw("hl.safetensors", "{}", "", 1000);
  ExpectOpenError(path, StatusCode::kDataLoss, {"hl.safetensors", "header length 1000"});
}

TEST_F(SafetensorsTest, HeaderLengthHuge) {
  const std::string path = WriteRaw("huge.safetensors", "{}", "", int64_t{1} << 62);
  ExpectOpenError(path, StatusCode::kInvalidArgument, {"huge.safetensors", "100 MiB"});
}

TEST_F(SafetensorsTest, BadJsonHeader) {
  const std::string path = WriteRaw("json.safetensors", R"({"a": {"dtype": "F32",)", "");
  ExpectOpenError(path, StatusCode::kInvalidArgument, {"json.safetensors", "JSON"});
  const std::string not_object = WriteRaw("arr.safetensors", "[1, 2]", "");
  ExpectOpenError(not_object, StatusCode::kInvalidArgument, {"arr.safetensors", "not a JSON object"});
}

TEST_F(SafetensorsTest, UnknownDtype) {
  const std::string path =
      WriteRaw("dt.safetensors", R"({"w.weight":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})",
               std::string(4, '\0'));
  ExpectOpenError(path, StatusCode::kInvalidArgument, {"\"w.weight\"", "unknown dtype", "F8_E4M3"});
}

TEST_F(SafetensorsTest, ShapeByteCountMismatch) {
  const std::string path =
      WriteRaw("mm.safetensors", R"({"w.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})",
               std::string(12, '\0'));
  ExpectOpenError(path, StatusCode::kInvalidArgument, {"\"w.weight\"", "16 bytes", "span 12"});
}

TEST_F(SafetensorsTest, ShapeByteCountOverflow) {
  const std::string path = WriteRaw(
      "of.safetensors",
      R"({"w.weight":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", "");
  ExpectOpenError(path, StatusCode::kInvalidArgument, {"\"w.weight\"", "overflows"});
}

TEST_F(SafetensorsTest, BadShapeEntries) {
  const std::string neg =
      WriteRaw("neg.safetensors", R"({"w.weight":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
               std::string(4, '\0'));
  ExpectOpenError(neg, StatusCode::kInvalidArgument, {"\"w.weight\"", "non-negative"});
  const std::string frac =
      WriteRaw("frac.safetensors", R"({"w.weight":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})",
               std::string(4, '\0'));
  ExpectOpenError(frac, StatusCode::kInvalidArgument, {"\"w.weight\"", "non-negative"});
  const std::string noshape =
      WriteRaw("ns.safetensors", R"({"w.weight":{"dtype":"F32","data_offsets":[0,4]}})", std::string(4, '\0'));
  ExpectOpenError(noshape, StatusCode::kInvalidArgument, {"\"w.weight\"", "shape"});
  const std::string nooff =
      WriteRaw("no.safetensors", R"({"w.weight":{"dtype":"F32","shape":[1],"data_offsets":[0]}})",
               std::string(4, '\0'));
  ExpectOpenError(nooff, StatusCode::kInvalidArgument, {"\"w.weight\"", "data_offsets"});
  const std::string entry = WriteRaw("entry.safetensors", R"({"w.weight":[1]})", "");
  ExpectOpenError(entry, StatusCode::kInvalidArgument, {"\"w.weight\"", "not an object"});
}

TEST_F(SafetensorsTest, OffsetsOutsideDataSection) {
  const std::string path =
      WriteRaw("out.safetensors",
               R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
               R"("w.weight":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
               std::string(8, '\0'));
  ExpectOpenError(path, StatusCode::kDataLoss, {"\"w.weight\"", "past the 8-byte data section"});
  const std::string reversed =
      WriteRaw("rev.safetensors", R"({"w.weight":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})",
               std::string(8, '\0'));
  ExpectOpenError(reversed, StatusCode::kInvalidArgument, {"\"w.weight\"", "begin > end"});
}

TEST_F(SafetensorsTest, OverlappingTensors) {
  const std::string path =
      WriteRaw("ov.safetensors",
               R"({"first":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
               R"("second":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
               std::string(24, '\0'));
  ExpectOpenError(path, StatusCode::kInvalidArgument, {"\"second\" overlaps tensor \"first\""});
  // Aliasing the same bytes is an overlap too.
  const std::string same =
      WriteRaw("same.safetensors",
               R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
               R"("y":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
               std::string(8, '\0'));
  ExpectOpenError(same, StatusCode::kInvalidArgument, {"overlaps"});
}

TEST_F(SafetensorsTest, DuplicateTensorNames) {
  const std::string path =
      WriteRaw("dup.safetensors",
               R"({"w.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
               R"("w.weight":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
               std::string(8, '\0'));
  ExpectOpenError(path, StatusCode::kInvalidArgument, {"dup.safetensors", "duplicate key \"w.weight\""});
}

TEST_F(SafetensorsTest, TruncatedFile) {
  const std::vector<float> a(16, 1.0f), b(16, 2.0f);
  const std::string path = Path("trunc.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"a", StDType::kF32, {16}, a.data(), 64},
                                      {"tail.weight", StDType::kF32, {4, 4}, b.data(), 64}})
                  .ok());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);
  ExpectOpenError(path, StatusCode::kDataLoss, {"trunc.safetensors", "\"tail.weight\"", "truncated"});
  // Cut inside the header: the length field now points past the end.
  std::filesystem::resize_file(path, 20);
  ExpectOpenError(path, StatusCode::kDataLoss, {"trunc.safetensors", "header length"});
}

TEST_F(SafetensorsTest, BadMetadata) {
  const std::string path = WriteRaw("meta.safetensors", R"({"__metadata__":{"config":{"n":1}}})", "");
  ExpectOpenError(path, StatusCode::kInvalidArgument, {"__metadata__", "\"config\""});
}

TEST_F(SafetensorsTest, WriterRejectsBadInput) {
  const std::vector<float> v(4, 0.0f);
  const std::string path = Path("w.safetensors");
  Status s = WriteSafetensors(path, {{"x.weight", StDType::kF32, {3}, v.data(), 16}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("\"x.weight\""), std::string::npos) << s.message();
  s = WriteSafetensors(path, {{"x", StDType::kF32, {4}, v.data(), 16}, {"x", StDType::kF32, {4}, v.data(), 16}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("duplicate"), std::string::npos);
  s = WriteSafetensors(path, {{"__metadata__", StDType::kF32, {4}, v.data(), 16}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  s = WriteSafetensors(path, {{"n", StDType::kF32, {4}, nullptr, 16}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(path));
  // An unwritable destination leaves no temporary file behind.
  s = WriteSafetensors(Path("no/such/dir/w.safetensors"), {{"x", StDType::kF32, {4}, v.data(), 16}});
  EXPECT_FALSE(s.ok());
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 0u);
}

TEST_F(SafetensorsTest, WriterReplacesAtomically) {
  const std::vector<float> one = {1.0f}, two = {2.0f, 3.0f};
  const std::string path = Path("r.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"x", StDType::kF32, {1}, one.data(), 4}}).ok());
  ASSERT_TRUE(WriteSafetensors(path, {{"x", StDType::kF32, {2}, two.data(), 8}}).ok());
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->ReadF32("x").value(), two);
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1u);  // no temporary left over
}

// Deterministic corruption smoke test: damaged headers and truncations must give an error
// (never a crash, which the sanitizer build would also report) or a file whose tensors read.
TEST_F(SafetensorsTest, RandomCorruptionIsRejectedOrReadable) {
  const std::vector<float> a(6, 1.0f), b(4, 2.0f);
  const std::string good = Path("good.safetensors");
  ASSERT_TRUE(WriteSafetensors(good, {{"a", StDType::kF32, {2, 3}, a.data(), 24},
                                      {"b.weight", StDType::kF32, {4}, b.data(), 16}},
                               {{"k", "v"}})
                  .ok());
  std::string bytes(std::filesystem::file_size(good), '\0');
  {
    std::ifstream in(good, std::ios::binary);
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  std::mt19937 rng(12345);
  int rejected = 0;
  for (int iter = 0; iter < 400; ++iter) {
    std::string damaged = bytes;
    if (iter % 4 == 0) {
      damaged.resize(rng() % bytes.size());
    } else {
      const int flips = 1 + static_cast<int>(rng() % 3);
      for (int k = 0; k < flips; ++k) damaged[rng() % damaged.size()] = static_cast<char>(rng() & 0xFF);
    }
    const std::string path = Path("damaged.safetensors");
    std::ofstream(path, std::ios::binary | std::ios::trunc) << damaged;
    auto f = SafetensorsFile::Open(path);
    if (!f.ok()) {
      ++rejected;
      EXPECT_TRUE(f.status().code() == StatusCode::kInvalidArgument || f.status().code() == StatusCode::kDataLoss)
          << f.status().ToString();
      continue;
    }
    for (const auto& [name, info] : f->tensors()) {
      if (info.dtype == StDType::kF32) {
        EXPECT_TRUE(f->ReadF32(name).ok()) << name;
      }
    }
  }
  EXPECT_GT(rejected, 100);
}

TEST_F(SafetensorsTest, OpensGoldenWeights) {
  auto f = SafetensorsFile::Open(testing::GoldenCaseDir("gf_L4_D64_hs32_V256_T23") + "/weights.safetensors");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->tensors().size(), 130u);
  const SafetensorInfo* b = f->Find("w_kv_cache_b.weight");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{64, 68}));
  EXPECT_EQ(b->dtype, StDType::kF32);
  EXPECT_EQ(f->metadata().count("config"), 1u);
}

}  // namespace
}  // namespace gf
