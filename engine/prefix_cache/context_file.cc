#include "engine/prefix_cache/context_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/checksum.h"
#include "common/fd_io.h"

namespace gf {
namespace {

constexpr char kMagic[8] = {'G', 'F', 'C', 'T', 'X', '\0', '\0', '\1'};
constexpr std::string_view kIdPrefix = "ctx_";
constexpr size_t kIdHexDigits = 24;
constexpr std::string_view kFileSuffix = ".ctx";
constexpr std::string_view kTempSuffix = ".tmp";
// The largest file ScanContextFiles reads (a bound on memory for a hostile directory).
constexpr uint64_t kMaxFileBytes = 64 + kMaxContextFileNameBytes + 4 * kMaxContextFileTokens + 256;

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Bounds-checked little-endian reader; every read fails (and stays failed) past the end.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  size_t left() const { return bytes_.size() - pos_; }
  uint64_t U(int width) {
    if (!ok_ || left() < static_cast<size_t>(width)) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < width; ++i) {
      v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + static_cast<size_t>(i)]))
           << (8 * i);
    }
    pos_ += static_cast<size_t>(width);
    return v;
  }
  std::string_view Bytes(uint64_t n) {
    if (!ok_ || left() < n) {
      ok_ = false;
      return {};
    }
    std::string_view out = bytes_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return out;
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

std::string FilePath(const std::string& dir, std::string_view id, std::string_view suffix) {
  return dir + "/" + std::string(id) + std::string(suffix);
}

Status WriteAll(int fd, const std::string& bytes) {
  if (const int error = WriteFully(fd, bytes.data(), bytes.size()); error != 0) {
    return Unavailable(ErrnoText(error));
  }
  return Status::Ok();
}

void SyncDirectory(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);
  close(fd);
}

// Reads a whole regular file of at most kMaxFileBytes; DataLoss when larger or not regular.
StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Unavailable(path + ": cannot be opened: " + ErrnoText(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
    close(fd);
    return DataLoss(path + ": not a regular context file of a plausible size");
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  if (const int error = ReadFully(fd, bytes.data(), bytes.size(), &got); error != 0) {
    close(fd);
    return Unavailable(path + ": read error: " + ErrnoText(error));
  }
  close(fd);
  bytes.resize(got);
  return bytes;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

bool IsValidContextId(std::string_view id) {
  if (id.size() != kIdPrefix.size() + kIdHexDigits || id.substr(0, kIdPrefix.size()) != kIdPrefix) {
    return false;
  }
  for (char c : id.substr(kIdPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string EncodeContextFile(const ContextRecord& record) {
  std::string out(kMagic, sizeof(kMagic));
  out.append(reinterpret_cast<const char*>(record.ns.salt_hash.data()), record.ns.salt_hash.size());
  PutU64(out, static_cast<uint64_t>(record.created));
  PutU64(out, static_cast<uint64_t>(record.expires_at));
  PutU32(out, static_cast<uint32_t>(record.id.size()));
  out.append(record.id);
  PutU32(out, static_cast<uint32_t>(record.name.size()));
  out.append(record.name);
  PutU64(out, record.tokens->size());
  for (int32_t token : *record.tokens) PutU32(out, static_cast<uint32_t>(token));
  PutU32(out, Crc32c(out.data(), out.size()));
  return out;
}

StatusOr<ContextRecord> DecodeContextFile(std::string_view bytes) {
  if (bytes.size() < sizeof(kMagic) + 4 || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return DataLoss("context file: bad magic or too short");
  }
  const std::string_view body = bytes.substr(0, bytes.size() - 4);
  Reader crc_reader(bytes.substr(bytes.size() - 4));
  if (static_cast<uint32_t>(crc_reader.U(4)) != Crc32c(body.data(), body.size())) {
    return DataLoss("context file: checksum mismatch");
  }
  Reader in(body.substr(sizeof(kMagic)));
  ContextRecord record;
  const std::string_view ns = in.Bytes(record.ns.salt_hash.size());
  if (in.ok()) std::memcpy(record.ns.salt_hash.data(), ns.data(), ns.size());
  record.created = static_cast<int64_t>(in.U(8));
  record.expires_at = static_cast<int64_t>(in.U(8));
  const uint64_t id_size = in.U(4);
  if (id_size > 64) return DataLoss("context file: id too long");
  record.id = std::string(in.Bytes(id_size));
  const uint64_t name_size = in.U(4);
  if (name_size > kMaxContextFileNameBytes) return DataLoss("context file: name too long");
  record.name = std::string(in.Bytes(name_size));
  const uint64_t count = in.U(8);
  if (!in.ok() || count == 0 || count > kMaxContextFileTokens || in.left() != count * 4) {
    return DataLoss("context file: bad token count");
  }
  auto tokens = std::make_shared<std::vector<int32_t>>();
  tokens->reserve(static_cast<size_t>(count));
  for (uint64_t i = 0; i < count; ++i) tokens->push_back(static_cast<int32_t>(in.U(4)));
  if (!in.ok() || in.left() != 0 || !IsValidContextId(record.id)) {
    return DataLoss("context file: malformed fields");
  }
  record.tokens = std::move(tokens);
  return record;
}

Status WriteContextFile(const std::string& dir, const ContextRecord& record) {
  const std::string temp = FilePath(dir, record.id, kTempSuffix);
  const std::string final_path = FilePath(dir, record.id, kFileSuffix);
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Unavailable(temp + ": cannot be created: " + ErrnoText(errno));
  Status written = WriteAll(fd, EncodeContextFile(record));
  if (written.ok() && fsync(fd) != 0) written = Unavailable(ErrnoText(errno));
  close(fd);
  if (written.ok() && rename(temp.c_str(), final_path.c_str()) != 0) {
    written = Unavailable("rename: " + ErrnoText(errno));
  }
  if (!written.ok()) {
    unlink(temp.c_str());
    return Unavailable(final_path + ": cannot be written: " + written.message());
  }
  SyncDirectory(dir);
  return Status::Ok();
}

Status RemoveContextFile(const std::string& dir, std::string_view id) {
  const std::string path = FilePath(dir, id, kFileSuffix);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Unavailable(path + ": cannot be deleted: " + ErrnoText(errno));
  }
  SyncDirectory(dir);
  return Status::Ok();
}

StatusOr<ContextFileScan> ScanContextFiles(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Unavailable(dir + ": cannot be created: " + ec.message());
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  ContextFileScan scan;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return Unavailable(dir + ": cannot be read: " + ec.message());
  for (const std::filesystem::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) return Unavailable(dir + ": cannot be read: " + ec.message());
    const std::string file = it->path().filename().string();
    const std::string path = it->path().string();
    if (EndsWith(file, kTempSuffix)) {
      if (IsValidContextId(file.substr(0, file.size() - kTempSuffix.size()))) {
        unlink(path.c_str());
        ++scan.stray_temps;
      }
      continue;
    }
    if (!EndsWith(file, kFileSuffix)) continue;
    StatusOr<std::string> bytes = ReadFile(path);
    if (!bytes.ok() && bytes.status().code() == StatusCode::kUnavailable) return bytes.status();
    StatusOr<ContextRecord> record =
        bytes.ok() ? DecodeContextFile(*bytes) : StatusOr<ContextRecord>(bytes.status());
    if (!record.ok() || record->id + std::string(kFileSuffix) != file) {
      unlink(path.c_str());
      ++scan.corrupt;
      continue;
    }
    scan.records.push_back(std::move(*record));
  }
  if (scan.corrupt > 0 || scan.stray_temps > 0) SyncDirectory(dir);
  return scan;
}

}  // namespace gf
