// API-key authentication and the public-route allowlist.
//
// Contract:
// - ApiKeyStore keeps only SHA-256 digests of the keys (never the keys) and a tenant name per
//   key. Keys come from the api-key option and from a key file: one key per line, optionally
//   followed by whitespace and a tenant name ("sk-abc team-a"); blank lines and lines starting
//   with '#' are skipped. A key without a tenant gets "key-<first 8 hex digits of its SHA-256>".
//   Keys are 1..1024 printable ASCII characters without spaces; tenants 1..64 characters of
//   [A-Za-z0-9._:-] (they appear in logs and metric labels).
// - Load errors are InvalidArgument (NotFound for a missing file) and never contain a key: an
//   empty key file, a duplicate key (across all sources), a malformed line (by line number).
// - Authenticate compares the presented key's digest with EVERY stored digest using
//   CRYPTO_memcmp (constant time, no early exit), so timing does not reveal which key or how
//   much of one matched. Its errors are Unauthenticated with OpenAI-style messages that never
//   echo the presented key.
// - Load is called once before serving; afterwards the store is immutable and Authenticate may
//   be called from any thread.
// - IsPublicPath is the default-deny allowlist: exactly "/health", "/ready", and "/metrics" when
//   public_metrics; no prefix matching, no normalisation (a path that needs normalising, or has a
//   query string, is simply not public and needs a key).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gf::server {

class ApiKeyStore {
 public:
  // Adds the keys of the api-key option and of `key_file` ("" = none). Replaces earlier loads.
  // With no keys at all (and no file) the store stays disabled.
  Status Load(const std::vector<std::string>& keys, const std::string& key_file);

  // True when at least one key is loaded: every non-public route then needs a key.
  bool enabled() const { return !entries_.empty(); }
  std::size_t size() const { return entries_.size(); }

  // `authorization_header` is the Authorization value ("" when absent), e.g. "Bearer sk-abc"
  // (scheme case-insensitive). Returns the key's tenant. When the store is disabled, returns ""
  // for any header.
  StatusOr<std::string> Authenticate(std::string_view authorization_header) const;

 private:
  using Digest = std::array<std::uint8_t, 32>;
  struct Entry {
    Digest digest;
    std::string tenant;
  };
  Status AddKey(std::string_view key, std::string tenant, const std::string& where);

  std::vector<Entry> entries_;
};

bool IsPublicPath(std::string_view path, bool public_metrics);

// Hex SHA-256 of `data` (lowercase, 64 characters); exposed for tests and tenant names.
std::string Sha256Hex(std::string_view data);

}  // namespace gf::server
