#include "server/cache_namespace.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>

#include "common/fd_io.h"

namespace gf::server {
namespace {

constexpr std::string_view kTenantTag = "goldfinch-tenant-v1";
constexpr std::string_view kTempPrefix = "secret.tmp.";
// Temp files of a creator that died are swept once they are this old (a live creator publishes
// its file within milliseconds).
constexpr auto kStaleTempAge = std::chrono::seconds(60);

void AppendLengthPrefixed(std::string& out, std::string_view field) {
  const auto n = static_cast<uint32_t>(field.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out.append(field);
}

// Fills `out` with cryptographically strong random bytes.
Status RandomBytes(std::string& out, size_t size) {
  out.assign(size, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(size)) != 1) {
    return Unavailable("cache secret: OpenSSL RAND_bytes failed");
  }
  return Status::Ok();
}

// Reads the whole secret file; InvalidArgument for a bad shape, Unavailable for I/O errors,
// NotFound when it does not exist.
StatusOr<std::string> ReadSecretFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) return NotFound(path + ": does not exist");
    if (error == ELOOP) return InvalidArgument(path + ": is a symbolic link; refusing to use it");
    return Unavailable(path + ": cannot be opened: " + ErrnoText(error));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return InvalidArgument(path + ": is not a regular file");
  }
  std::string bytes(kCacheSecretFileBytes + 1, '\0');  // one more, to detect a long file
  size_t got = 0;
  if (const int error = ReadFully(fd, bytes.data(), bytes.size(), &got); error != 0) {
    close(fd);
    return Unavailable(path + ": read error: " + ErrnoText(error));
  }
  close(fd);
  if (got != kCacheSecretFileBytes) {
    return InvalidArgument(path + ": corrupt cache secret: expected " +
                           std::to_string(kCacheSecretFileBytes) + " bytes, found " +
                           (got > kCacheSecretFileBytes ? "more" : std::to_string(got)) +
                           "; delete it to start a new cache namespace (entries stored under the "
                           "old secret become unreachable)");
  }
  bytes.resize(kCacheSecretFileBytes);
  return bytes;
}

// Deletes temp files left by creators that died (older than kStaleTempAge).
void SweepStaleTemps(const std::string& dir) {
  std::error_code ec;
  const auto now = std::filesystem::file_time_type::clock::now();
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(kTempPrefix, 0) != 0) continue;
    std::error_code time_ec;
    const auto mtime = std::filesystem::last_write_time(it->path(), time_ec);
    if (!time_ec && now - mtime > kStaleTempAge) unlink(it->path().c_str());
  }
}

Status WriteAll(int fd, const std::string& bytes) {
  if (const int error = WriteFully(fd, bytes.data(), bytes.size()); error != 0) {
    return Unavailable(ErrnoText(error));
  }
  return Status::Ok();
}

// Writes a new random secret to a temp file and links it to `path`. OK when the file was
// published; AlreadyExists when another process published one first (then read that one).
StatusOr<std::string> PublishNewSecret(const std::string& dir, const std::string& path) {
  std::string secret;
  GF_RETURN_IF_ERROR(RandomBytes(secret, kCacheSecretFileBytes));
  std::string suffix;
  GF_RETURN_IF_ERROR(RandomBytes(suffix, 8));
  const std::string temp =
      dir + "/" + std::string(kTempPrefix) +
      ToLowerHex(std::span(reinterpret_cast<const uint8_t*>(suffix.data()), suffix.size()));
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Unavailable(path + ": cannot be created: " + ErrnoText(errno));
  Status written = WriteAll(fd, secret);
  if (written.ok() && fchmod(fd, 0600) != 0) written = Unavailable(ErrnoText(errno));
  if (written.ok() && fsync(fd) != 0) written = Unavailable(ErrnoText(errno));
  close(fd);
  if (!written.ok()) {
    unlink(temp.c_str());
    return Unavailable(path + ": cannot be written: " + written.message());
  }
  // link() never replaces an existing file: the first creator wins, the others read its secret.
  const int linked = link(temp.c_str(), path.c_str());
  const int link_error = errno;
  unlink(temp.c_str());
  if (linked != 0) {
    if (link_error == EEXIST) return AlreadyExists(path + ": created concurrently");
    return Unavailable(path + ": cannot be published: " + ErrnoText(link_error));
  }
  if (const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return secret;
}

}  // namespace

Sha256Digest HmacSha256(std::string_view key, std::string_view message) {
  Sha256Digest out{};
  unsigned int size = 0;
  // HMAC() accepts a null key pointer only with length 0; pass a valid pointer for empty input.
  static const unsigned char kEmpty = 0;
  HMAC(EVP_sha256(), key.empty() ? static_cast<const void*>(&kEmpty) : key.data(),
       static_cast<int>(key.size()),
       message.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), out.data(), &size);
  return out;
}

std::optional<std::string> CacheSaltProblem(std::string_view salt) {
  if (!salt.empty() && salt.size() <= kMaxCacheSaltBytes) return std::nullopt;
  return "must be 1-" + std::to_string(kMaxCacheSaltBytes) + " bytes, got " +
         std::to_string(salt.size());
}

CacheNamespaces::CacheNamespaces() {
  if (!RandomBytes(secret_, kCacheSecretFileBytes).ok()) {
    // RAND_bytes cannot fail on a Linux system with getrandom(2); keep a usable secret anyway.
    std::random_device device;
    for (char& c : secret_) c = static_cast<char>(device() & 0xff);
  }
}

CacheNamespaces::CacheNamespaces(std::string secret) : secret_(std::move(secret)) {}

StatusOr<CacheNamespaces> CacheNamespaces::FromSecret(std::string_view secret) {
  if (secret.size() < kMinCacheSecretBytes) {
    return InvalidArgument("cache-secret must be at least " + std::to_string(kMinCacheSecretBytes) +
                           " bytes, got " + std::to_string(secret.size()));
  }
  return CacheNamespaces(std::string(secret));
}

StatusOr<CacheNamespaces> CacheNamespaces::FromSecretFile(const std::string& dir, bool* created) {
  if (created != nullptr) *created = false;
  const std::string path = dir + "/" + kCacheSecretFileName;
  StatusOr<std::string> existing = ReadSecretFile(path);
  if (existing.ok()) return CacheNamespaces(std::move(*existing));
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Unavailable(dir + ": cannot be created: " + ec.message());
  SweepStaleTemps(dir);
  StatusOr<std::string> fresh = PublishNewSecret(dir, path);
  if (fresh.ok()) {
    if (created != nullptr) *created = true;
    return CacheNamespaces(std::move(*fresh));
  }
  if (fresh.status().code() != StatusCode::kAlreadyExists) return fresh.status();
  GF_ASSIGN_OR_RETURN(std::string theirs, ReadSecretFile(path));
  return CacheNamespaces(std::move(theirs));
}

Sha256Digest CacheNamespaces::Salt(std::string_view tenant,
                                   const std::optional<std::string>& cache_salt) const {
  std::string message(kTenantTag);
  AppendLengthPrefixed(message, tenant);
  if (cache_salt.has_value()) AppendLengthPrefixed(message, *cache_salt);
  return HmacSha256(secret_, message);
}

Sha256Digest CacheNamespaces::SaltHash(std::string_view tenant,
                                       const std::optional<std::string>& cache_salt) const {
  const Sha256Digest salt = Salt(tenant, cache_salt);
  return Sha256Hash(salt.data(), salt.size());
}

RequestCacheOptions CacheNamespaces::OptionsFor(std::string_view tenant,
                                                const CacheRequestFields& fields) const {
  RequestCacheOptions options;
  options.enabled = fields.cache_prompt;
  options.salt_hash = SaltHash(tenant, fields.cache_salt);
  options.snapshot_hints = fields.snapshot_hints;
  std::sort(options.snapshot_hints.begin(), options.snapshot_hints.end());
  options.snapshot_hints.erase(
      std::unique(options.snapshot_hints.begin(), options.snapshot_hints.end()),
      options.snapshot_hints.end());
  return options;
}

}  // namespace gf::server
