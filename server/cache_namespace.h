// Prefix-cache namespaces: who may share cached prompt prefixes (serving-conventions C5).
//
// A server secret keys every namespace. The salt of a request is
//   HMAC-SHA256(secret, "goldfinch-tenant-v1" | u32le(len tenant) | tenant)
// or, when the client sent a cache_salt,
//   HMAC-SHA256(secret, "goldfinch-tenant-v1" | u32le(len tenant) | tenant
//                       | u32le(len cache_salt) | cache_salt)
// (the length prefixes make the encoding unambiguous), and the engine gets only
// SHA-256(salt) as RequestCacheOptions::salt_hash. The tenant comes from the API key, never from
// the request, so requests of different tenants never share entries; a client cache_salt only
// narrows sharing inside its own tenant (copying another tenant's cache_salt gains nothing).
//
// The secret: --cache-secret when set; else "<cache-dir>/secret" (32 random bytes from OpenSSL's
// RAND_bytes, created 0600 on first start and published atomically with link(2), so that two
// processes racing to create it agree on one secret), which keeps disk entries reachable across
// restarts; a memory-only cache uses a random secret per process. Changing the secret makes every
// stored entry unreachable (LRU eviction reclaims the space).
//
// Threads: a CacheNamespaces is immutable after construction (safe to share); the functions are
// pure except FromSecretFile (file I/O). Errors are returned as Status, never thrown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/sha256.h"
#include "common/status.h"
#include "engine/serving/request.h"

namespace gf::server {

inline constexpr size_t kCacheSecretFileBytes = 32;  // "<cache-dir>/secret"
inline constexpr size_t kMinCacheSecretBytes = 16;   // --cache-secret
inline constexpr size_t kMaxCacheSaltBytes = 256;    // a client cache_salt: 1..256 bytes
inline constexpr const char* kCacheSecretFileName = "secret";

// HMAC-SHA256 (RFC 2104) of `message` under `key` (OpenSSL).
Sha256Digest HmacSha256(std::string_view key, std::string_view message);

// The cache fields of one request (HTTP or gRPC), validated by the parsers.
struct CacheRequestFields {
  bool cache_prompt = true;               // false: no lookup, no store for this request
  std::optional<std::string> cache_salt;  // 1..kMaxCacheSaltBytes bytes when set
  // Snapshot hints as prompt token counts (chat message ends and client markers), any order.
  std::vector<int64_t> snapshot_hints;
};

// nullopt when `salt` is an acceptable cache_salt, else the problem ("must be 1-256 bytes, got
// 0"), for the parsers' error messages.
std::optional<std::string> CacheSaltProblem(std::string_view salt);

class CacheNamespaces {
 public:
  // A random secret (RAND_bytes): namespaces valid for this process only (memory-only caches).
  CacheNamespaces();

  // --cache-secret: its bytes are the key. InvalidArgument when shorter than
  // kMinCacheSecretBytes (the message never contains the secret).
  static StatusOr<CacheNamespaces> FromSecret(std::string_view secret);

  // "<dir>/secret": read when present, else created (the directory too, 0700). `*created` says
  // which. Errors (the message names the file): InvalidArgument when the file is not a regular
  // file or does not hold exactly kCacheSecretFileBytes bytes (corrupt or truncated: delete it to
  // start a new namespace); Unavailable for I/O errors (not writable, ...).
  static StatusOr<CacheNamespaces> FromSecretFile(const std::string& dir, bool* created = nullptr);

  // The salt of `tenant` ("" when auth is off), narrowed by a client cache_salt when set.
  Sha256Digest Salt(std::string_view tenant, const std::optional<std::string>& cache_salt) const;
  // SHA-256(Salt(...)): the namespace the engine sees.
  Sha256Digest SaltHash(std::string_view tenant,
                        const std::optional<std::string>& cache_salt) const;

  // The engine's cache options for a request of `tenant` with `fields`: enabled = cache_prompt,
  // salt_hash = SaltHash(tenant, cache_salt), snapshot_hints sorted and unique.
  RequestCacheOptions OptionsFor(std::string_view tenant, const CacheRequestFields& fields) const;

 private:
  explicit CacheNamespaces(std::string secret);
  std::string secret_;
};

}  // namespace gf::server
