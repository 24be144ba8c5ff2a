#include "engine/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include "common/fd_io.h"
#include "engine/util/json.h"
#include "kernels/tensor.h"

namespace gf {

namespace {

constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;  // the reference reader's cap

struct DTypeEntry {
  StDType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {StDType::kF32, "F32", 4}, {StDType::kBF16, "BF16", 2}, {StDType::kF16, "F16", 2},
    {StDType::kI32, "I32", 4}, {StDType::kI64, "I64", 8},   {StDType::kF64, "F64", 8},
    {StDType::kU8, "U8", 1},   {StDType::kI8, "I8", 1},     {StDType::kI16, "I16", 2},
    {StDType::kU16, "U16", 2}, {StDType::kBool, "BOOL", 1},
};

bool ParseDType(const std::string& name, StDType* out) {
  for (const auto& e : kDTypes) {
    if (name == e.name) {
      *out = e.dtype;
      return true;
    }
  }
  return false;
}

// Element count times element size, or false on overflow / negative dimensions.
bool ByteCount(const std::vector<int64_t>& shape, size_t element_size, uint64_t* out) {
  uint64_t n = 1;
  for (const int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return false;
  }
  return !__builtin_mul_overflow(n, static_cast<uint64_t>(element_size), out);
}

template <typename T>
T LoadUnaligned(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

std::string Quote(const std::string& s) { return JsonQuote(s); }

// Parses one tensor entry of the header (everything except the byte range check against
// the data section, which the caller does).
Status ParseEntry(const std::string& name, const JsonValue& entry, SafetensorInfo* info,
                  uint64_t* begin, uint64_t* end) {
  const std::string where = "tensor " + Quote(name) + ": ";
  if (!entry.is_object()) return InvalidArgument(where + "header entry is not an object");
  const JsonValue* dtype = entry.Find("dtype");
  const JsonValue* shape = entry.Find("shape");
  const JsonValue* offsets = entry.Find("data_offsets");
  if (dtype == nullptr || !dtype->is_string())
    return InvalidArgument(where + "missing string \"dtype\"");
  if (!ParseDType(dtype->as_string(), &info->dtype)) {
    return InvalidArgument(where + "unknown dtype " + Quote(dtype->as_string()));
  }
  if (shape == nullptr || !shape->is_array())
    return InvalidArgument(where + "missing array \"shape\"");
  info->shape.clear();
  for (const auto& d : shape->items()) {
    if (!d.is_integer() || d.as_int() < 0) {
      return InvalidArgument(where + "shape entries must be non-negative integers");
    }
    info->shape.push_back(d.as_int());
  }
  if (offsets == nullptr || !offsets->is_array() || offsets->items().size() != 2) {
    return InvalidArgument(where + "\"data_offsets\" must be an array [begin, end]");
  }
  for (const auto& o : offsets->items()) {
    if (!o.is_integer() || o.as_int() < 0) {
      return InvalidArgument(where + "data_offsets must be non-negative integers");
    }
  }
  *begin = static_cast<uint64_t>(offsets->items()[0].as_int());
  *end = static_cast<uint64_t>(offsets->items()[1].as_int());
  if (*begin > *end) return InvalidArgument(where + "data_offsets begin > end");
  uint64_t nbytes = 0;
  if (!ByteCount(info->shape, StDTypeSize(info->dtype), &nbytes)) {
    return InvalidArgument(where + "shape byte count overflows");
  }
  if (nbytes != *end - *begin) {
    return InvalidArgument(where + "shape and dtype give " + std::to_string(nbytes) +
                           " bytes but data_offsets span " + std::to_string(*end - *begin));
  }
  info->name = name;
  info->nbytes = static_cast<size_t>(nbytes);
  return Status::Ok();
}

Status WriteAll(int fd, const void* data, size_t n) {
  if (const int error = WriteFully(fd, data, n); error != 0) {
    return Internal("write failed: " + ErrnoText(error));
  }
  return Status::Ok();
}

}  // namespace

size_t StDTypeSize(StDType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e.size;
  }
  return 0;
}

const char* StDTypeName(StDType dtype) {
  for (const auto& e : kDTypes) {
    if (e.dtype == dtype) return e.name;
  }
  return "?";
}

int64_t SafetensorInfo::numel() const {
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      map_(std::exchange(other.map_, nullptr)),
      map_size_(std::exchange(other.map_size_, 0)),
      tensors_(std::move(other.tensors_)),
      metadata_(std::move(other.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    if (map_ != nullptr) ::munmap(map_, map_size_);
    path_ = std::move(other.path_);
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    tensors_ = std::move(other.tensors_);
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  const std::string where = "safetensors file '" + path + "'";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string why = std::strerror(err);
    if (err == ENOENT || err == ENOTDIR) return NotFound(where + ": cannot open: " + why);
    return DataLoss(where + ": cannot open: " + why);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(where + ": not a regular file");
  }
  const auto file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    return DataLoss(where + ": " + std::to_string(file_size) +
                    " bytes is too short for the 8-byte header length (truncated?)");
  }
  void* map = ::mmap(nullptr, static_cast<size_t>(file_size), PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  if (map == MAP_FAILED) return DataLoss(where + ": mmap failed: " + std::strerror(map_errno));

  SafetensorsFile file;  // owns the mapping from here on, also on error returns
  file.path_ = path;
  file.map_ = map;
  file.map_size_ = static_cast<size_t>(file_size);
  const auto* bytes = static_cast<const uint8_t*>(map);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];  // little-endian
  if (header_len > kMaxHeaderBytes) {
    return InvalidArgument(where + ": header length " + std::to_string(header_len) +
                           " exceeds the 100 MiB limit");
  }
  if (header_len > file_size - 8) {
    return DataLoss(where + ": header length " + std::to_string(header_len) + " exceeds the " +
                    std::to_string(file_size - 8) + " bytes after the length field (truncated?)");
  }
  const std::string_view header_text(reinterpret_cast<const char*>(bytes + 8),
                                     static_cast<size_t>(header_len));
  auto header = ParseJson(header_text);
  if (!header.ok()) return header.status().WithContext(where + ": header");
  if (!header->is_object()) return InvalidArgument(where + ": header is not a JSON object");

  const uint64_t data_size = file_size - 8 - header_len;
  const uint8_t* data = bytes + 8 + header_len;
  struct Range {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  for (const auto& [name, entry] : header->members()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return InvalidArgument(where + ": \"__metadata__\" is not an object");
      for (const auto& [key, value] : entry.members()) {
        if (!value.is_string()) {
          return InvalidArgument(where + ": __metadata__ value " + Quote(key) + " is not a string");
        }
        file.metadata_[key] = value.as_string();
      }
      continue;
    }
    SafetensorInfo info;
    uint64_t begin = 0;
    uint64_t end = 0;
    GF_RETURN_IF_ERROR(ParseEntry(name, entry, &info, &begin, &end).WithContext(where));
    if (end > data_size) {
      return DataLoss(where + ": tensor " + Quote(name) + ": data_offsets [" +
                      std::to_string(begin) + ", " + std::to_string(end) + ") extend past the " +
                      std::to_string(data_size) + "-byte data section (truncated?)");
    }
    info.data = data + begin;
    auto [it, inserted] = file.tensors_.emplace(name, std::move(info));
    if (!inserted) return InvalidArgument(where + ": duplicate tensor " + Quote(name));
    if (end > begin) ranges.push_back({begin, end, &it->first});
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].begin < ranges[i - 1].end) {
      return InvalidArgument(where + ": tensor " + Quote(*ranges[i].name) + " overlaps tensor " +
                             Quote(*ranges[i - 1].name));
    }
  }
  return file;
}

const SafetensorInfo* SafetensorsFile::Find(const std::string& name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

StatusOr<std::vector<float>> SafetensorsFile::ReadF32(const std::string& name) const {
  const SafetensorInfo* info = Find(name);
  if (info == nullptr)
    return NotFound("safetensors file '" + path_ + "': no tensor " + Quote(name));
  const size_t n = info->nbytes / StDTypeSize(info->dtype);
  std::vector<float> out(n);
  const uint8_t* p = info->data;
  switch (info->dtype) {
    case StDType::kF32:
      if (n > 0) std::memcpy(out.data(), p, n * sizeof(float));
      break;
    case StDType::kBF16:
      for (size_t i = 0; i < n; ++i)
        out[i] = kernels::Bf16ToF32(LoadUnaligned<uint16_t>(p + 2 * i));
      break;
    case StDType::kF16:
      for (size_t i = 0; i < n; ++i) out[i] = kernels::F16ToF32(LoadUnaligned<uint16_t>(p + 2 * i));
      break;
    case StDType::kF64:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(LoadUnaligned<double>(p + 8 * i));
      break;
    case StDType::kI32:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(LoadUnaligned<int32_t>(p + 4 * i));
      break;
    default:
      return InvalidArgument("safetensors file '" + path_ + "': tensor " + Quote(name) +
                             " has dtype " + StDTypeName(info->dtype) + ", not a float type");
  }
  return out;
}

StatusOr<std::vector<int32_t>> SafetensorsFile::ReadI32(const std::string& name) const {
  const SafetensorInfo* info = Find(name);
  if (info == nullptr)
    return NotFound("safetensors file '" + path_ + "': no tensor " + Quote(name));
  const std::string where = "safetensors file '" + path_ + "': tensor " + Quote(name);
  const uint8_t* p = info->data;
  std::vector<int32_t> out;
  if (info->dtype == StDType::kI32) {
    out.resize(info->nbytes / 4);
    if (!out.empty()) std::memcpy(out.data(), p, info->nbytes);
  } else if (info->dtype == StDType::kI64) {
    out.resize(info->nbytes / 8);
    for (size_t i = 0; i < out.size(); ++i) {
      const auto v = LoadUnaligned<int64_t>(p + 8 * i);
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
        return OutOfRange(where + ": value " + std::to_string(v) + " does not fit in int32");
      }
      out[i] = static_cast<int32_t>(v);
    }
  } else {
    return InvalidArgument(where + " has dtype " + StDTypeName(info->dtype) +
                           ", expected I32 or I64");
  }
  return out;
}

Status WriteSafetensors(const std::string& path, const std::vector<SafetensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  const std::string where = "writing safetensors '" + path + "'";
  std::vector<std::pair<std::string, JsonValue>> header;
  if (!metadata.empty()) {
    std::vector<std::pair<std::string, JsonValue>> meta;
    for (const auto& [k, v] : metadata) meta.emplace_back(k, JsonValue::String(v));
    header.emplace_back("__metadata__", JsonValue::Object(std::move(meta)));
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    const std::string what = where + ": tensor " + Quote(t.name);
    if (t.name.empty() || t.name == "__metadata__")
      return InvalidArgument(what + ": reserved or empty name");
    if (!names.insert(t.name).second) return InvalidArgument(what + ": duplicate name");
    if (StDTypeSize(t.dtype) == 0) return InvalidArgument(what + ": invalid dtype");
    uint64_t nbytes = 0;
    if (!ByteCount(t.shape, StDTypeSize(t.dtype), &nbytes) || nbytes != t.nbytes) {
      return InvalidArgument(what + ": shape and dtype do not match nbytes " +
                             std::to_string(t.nbytes));
    }
    if (t.data == nullptr && t.nbytes > 0) return InvalidArgument(what + ": null data");
    std::vector<JsonValue> shape;
    for (const int64_t d : t.shape) shape.push_back(JsonValue::Integer(d));
    std::vector<JsonValue> offsets = {JsonValue::Integer(static_cast<int64_t>(offset)),
                                      JsonValue::Integer(static_cast<int64_t>(offset + nbytes))};
    header.emplace_back(
        t.name, JsonValue::Object({{"dtype", JsonValue::String(StDTypeName(t.dtype))},
                                   {"shape", JsonValue::Array(std::move(shape))},
                                   {"data_offsets", JsonValue::Array(std::move(offsets))}}));
    offset += nbytes;
  }
  std::string header_text = ToJson(JsonValue::Object(std::move(header)));
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  uint8_t len_bytes[8];
  uint64_t len = header_text.size();
  for (auto& b : len_bytes) {
    b = static_cast<uint8_t>(len & 0xFF);
    len >>= 8;
  }

  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Internal(where + ": cannot create '" + tmp + "': " + std::strerror(errno));
  Status status = WriteAll(fd, len_bytes, sizeof(len_bytes));
  if (status.ok()) status = WriteAll(fd, header_text.data(), header_text.size());
  for (size_t i = 0; i < tensors.size() && status.ok(); ++i) {
    status = WriteAll(fd, tensors[i].data, tensors[i].nbytes);
  }
  if (status.ok() && ::fsync(fd) != 0)
    status = Internal(std::string("fsync failed: ") + std::strerror(errno));
  if (::close(fd) != 0 && status.ok())
    status = Internal(std::string("close failed: ") + std::strerror(errno));
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = Internal(std::string("rename failed: ") + std::strerror(errno));
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status.WithContext(where);
  }
  return Status::Ok();
}

}  // namespace gf
