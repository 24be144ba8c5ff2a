// Reading and writing safetensors files.
//
// SafetensorsFile maps a file read-only (mmap) and validates its header completely before any
// tensor is exposed: header length <= 100 MiB and <= file size - 8; valid JSON object; every
// entry has a known dtype (F32, BF16, F16, I32, I64, F64, U8, I8, I16, U16, BOOL), a shape of
// non-negative integers whose element count times the dtype size (overflow-checked) equals
// end - begin; offsets inside the data section; no two tensors overlap; no duplicate names.
// Any violation gives an error naming the file and tensor: DataLoss when bytes are missing
// (file < 8 bytes, header length past the end, tensor bytes past the end: a truncated file),
// InvalidArgument for everything else; NotFound when the file does not exist. Gaps between
// tensors are allowed; empty tensors never overlap. Once Open() succeeds every TensorInfo's
// bytes lie inside the mapping (they may be unaligned: read them with memcpy). The object owns
// the mapping (movable only; the data pointers stay valid across moves); const methods are
// thread-safe. WriteSafetensors errors: InvalidArgument for bad input, Internal for I/O.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace gf {

enum class StDType { kF32, kBF16, kF16, kI32, kI64, kF64, kU8, kI8, kI16, kU16, kBool };
size_t StDTypeSize(StDType dtype);
const char* StDTypeName(StDType dtype);

struct SafetensorInfo {
  std::string name;
  StDType dtype = StDType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // inside the mapping
  size_t nbytes = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  static StatusOr<SafetensorsFile> Open(const std::string& path);

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  const std::map<std::string, SafetensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when absent.
  const SafetensorInfo* Find(const std::string& name) const;

  // Copies a tensor converted to float (F32/BF16/F16/F64/I32 accepted).
  StatusOr<std::vector<float>> ReadF32(const std::string& name) const;
  // Copies an integer tensor (I32/I64) as int32 values.
  StatusOr<std::vector<int32_t>> ReadI32(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, SafetensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to write: raw little-endian bytes plus dtype and shape.
struct SafetensorToWrite {
  std::string name;
  StDType dtype = StDType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// Writes a safetensors file (header padded to 8 bytes, tensors in the given order), via a
// temporary file renamed into place.
Status WriteSafetensors(const std::string& path, const std::vector<SafetensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace gf
