#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <fstream>

namespace gf::server {
namespace {

constexpr std::size_t kMaxKeyLength = 1024;
constexpr std::size_t kMaxTenantLength = 64;
constexpr std::size_t kMaxKeyFileBytes = 1 << 20;

constexpr const char* kMissingBearer =
    "Missing bearer authentication in header. Provide your API key as 'Authorization: Bearer "
    "YOUR_KEY'.";
constexpr const char* kIncorrectKey = "Incorrect API key provided.";

bool Sha256(std::string_view data, std::array<std::uint8_t, 32>& out) {
  unsigned int len = 0;
  return EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) == 1 &&
         len == out.size();
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IsValidKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyLength) return false;
  for (const char c : key) {
    if (c <= ' ' || c > '~') return false;  // printable ASCII, no spaces
  }
  return true;
}

bool IsValidTenant(std::string_view tenant) {
  if (tenant.empty() || tenant.size() > kMaxTenantLength) return false;
  for (const char c : tenant) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

StatusOr<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("api-key-file: cannot open '" + path + "'");
  std::string text;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxKeyFileBytes) {
      return InvalidArgument("api-key-file: '" + path + "' is larger than 1 MiB");
    }
  }
  if (in.bad()) return InvalidArgument("api-key-file: cannot read '" + path + "'");
  return text;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  std::array<std::uint8_t, 32> digest{};
  if (!Sha256(data, digest)) return std::string();
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (const std::uint8_t b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

Status ApiKeyStore::AddKey(std::string_view key, std::string tenant, const std::string& where) {
  if (!IsValidKey(key)) {
    return InvalidArgument(where + ": an API key must be 1.." + std::to_string(kMaxKeyLength) +
                           " printable ASCII characters without spaces");
  }
  if (tenant.empty()) {
    tenant = "key-" + Sha256Hex(key).substr(0, 8);
  } else if (!IsValidTenant(tenant)) {
    return InvalidArgument(where + ": a tenant name must be 1.." +
                           std::to_string(kMaxTenantLength) + " characters of [A-Za-z0-9._:-]");
  }
  Entry entry;
  if (!Sha256(key, entry.digest)) return Internal(where + ": SHA-256 failed");
  for (const Entry& e : entries_) {
    if (CRYPTO_memcmp(e.digest.data(), entry.digest.data(), entry.digest.size()) == 0) {
      return InvalidArgument(where + ": duplicate API key");
    }
  }
  entry.tenant = std::move(tenant);
  entries_.push_back(std::move(entry));
  return Status::Ok();
}

Status ApiKeyStore::Load(const std::vector<std::string>& keys, const std::string& key_file) {
  ApiKeyStore fresh;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    GF_RETURN_IF_ERROR(fresh.AddKey(keys[i], "", "api-key #" + std::to_string(i + 1)));
  }
  if (!key_file.empty()) {
    GF_ASSIGN_OR_RETURN(const std::string text, ReadKeyFile(key_file));
    const std::size_t before = fresh.entries_.size();
    std::size_t start = 0;
    int line_no = 0;
    while (start < text.size()) {
      ++line_no;
      std::size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string_view line(text.data() + start, end - start);
      start = end + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      line = Trim(line);
      if (line.empty() || line.front() == '#') continue;
      const std::string where = "api-key-file line " + std::to_string(line_no);
      std::size_t gap = 0;
      while (gap < line.size() && !IsSpace(line[gap])) ++gap;
      const std::string_view key = line.substr(0, gap);
      const std::string_view tenant = Trim(line.substr(gap));
      for (const char c : tenant) {
        if (IsSpace(c)) return InvalidArgument(where + ": expected 'KEY [TENANT]'");
      }
      if (gap < line.size() && tenant.empty()) {
        return InvalidArgument(where + ": expected 'KEY [TENANT]'");
      }
      GF_RETURN_IF_ERROR(fresh.AddKey(key, std::string(tenant), where));
    }
    if (fresh.entries_.size() == before) {
      return InvalidArgument("api-key-file: '" + key_file + "' has no keys");
    }
  }
  entries_ = std::move(fresh.entries_);
  return Status::Ok();
}

StatusOr<std::string> ApiKeyStore::Authenticate(std::string_view authorization_header) const {
  if (!enabled()) return std::string();
  const std::string_view header = Trim(authorization_header);
  std::size_t gap = 0;
  while (gap < header.size() && !IsSpace(header[gap])) ++gap;
  if (!EqualsIgnoreCase(header.substr(0, gap), "bearer")) return Unauthenticated(kMissingBearer);
  const std::string_view key = Trim(header.substr(gap));
  if (key.empty()) return Unauthenticated(kMissingBearer);

  Digest presented{};
  if (!Sha256(key, presented)) return Internal("SHA-256 failed");
  // Visit every entry; select the match without branching on the comparison.
  std::size_t match = entries_.size();
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const int differs =
        CRYPTO_memcmp(entries_[i].digest.data(), presented.data(), presented.size()) != 0;
    const std::size_t keep_mask = static_cast<std::size_t>(0) - static_cast<std::size_t>(differs);
    match = (match & keep_mask) | (i & ~keep_mask);
  }
  if (match == entries_.size()) return Unauthenticated(kIncorrectKey);
  return entries_[match].tenant;
}

bool IsPublicPath(std::string_view path, bool public_metrics) {
  if (path == "/health" || path == "/ready") return true;
  return public_metrics && path == "/metrics";
}

}  // namespace gf::server
