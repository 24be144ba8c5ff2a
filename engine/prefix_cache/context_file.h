// The persisted form of one named context (engine/prefix_cache/context_registry.h): a small
// binary file "<dir>/<id>.ctx" per context.
//
// Layout (little-endian):
//   magic      8 bytes  "GFCTX\0\0\1" (the last byte is the format version)
//   namespace  32 bytes the CacheNamespace salt hash
//   created    i64      unix seconds
//   expires_at i64      unix seconds (the pin's end)
//   id         u32 length + bytes (IsValidContextId; must equal the file name without ".ctx")
//   name       u32 length + bytes (<= kMaxContextFileNameBytes)
//   tokens     u64 count + count x i32 (0 < count <= kMaxContextFileTokens)
//   crc        u32 CRC-32C (common/checksum.h) of every byte before it
// A file that fails any check (length, magic, bounds, checksum, id) is corrupt.
//
// Writes are atomic: the bytes go to "<dir>/<id>.tmp", are fsync'ed, renamed over the final name,
// and the directory is fsync'ed, so a crash leaves the old file, the new file or a stray temp
// file (deleted by the next scan), never a torn one.
//
// Threads: pure functions plus file I/O on distinct paths; callers serialise writes to one id.
// Errors: Status (Unavailable for I/O failures with the path and errno text; DataLoss for a
// corrupt file); never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/prefix_cache/prefix_cache.h"

namespace gf {

inline constexpr size_t kMaxContextFileNameBytes = 65536;
inline constexpr uint64_t kMaxContextFileTokens = uint64_t{1} << 26;

// One named context. `tokens` is shared and immutable (records are copied freely).
struct ContextRecord {
  std::string id;                                      // "ctx_" + 24 lowercase hex digits
  CacheNamespace ns;                                   // whose context it is
  std::shared_ptr<const std::vector<int32_t>> tokens;  // never null, non-empty
  int64_t created = 0;                                 // unix seconds
  int64_t expires_at = 0;                              // unix seconds; gone at/after this
  std::string name;                                    // client label, "" = none

  int64_t num_tokens() const { return static_cast<int64_t>(tokens->size()); }
};

// "ctx_" followed by exactly 24 characters of [0-9a-f].
bool IsValidContextId(std::string_view id);

std::string EncodeContextFile(const ContextRecord& record);
// DataLoss naming the problem when `bytes` is not a well-formed context file.
StatusOr<ContextRecord> DecodeContextFile(std::string_view bytes);

// Atomically writes "<dir>/<id>.ctx" (see the file comment).
Status WriteContextFile(const std::string& dir, const ContextRecord& record);
// Deletes "<dir>/<id>.ctx"; OK when it does not exist.
Status RemoveContextFile(const std::string& dir, std::string_view id);

struct ContextFileScan {
  std::vector<ContextRecord> records;  // well-formed files, any order
  size_t corrupt = 0;                  // malformed files (deleted)
  size_t stray_temps = 0;              // "*.tmp" files of interrupted writes (deleted)
};
// Reads every "*.ctx" file of `dir`, deleting corrupt ones and stray temp files; other files are
// left alone. Creates `dir` (0700) when missing. Unavailable when it cannot be created or read.
StatusOr<ContextFileScan> ScanContextFiles(const std::string& dir);

}  // namespace gf
