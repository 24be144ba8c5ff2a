#include "cache_store/disk_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>
#include <utility>

#include "cache_store/record_format.h"
#include "common/fd_io.h"

namespace gf::cache {

namespace {

constexpr char kRecordSuffix[] = ".gfc";
constexpr char kTempInfix[] = ".tmp.";
constexpr size_t kHexKeyLength = 64;

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool StartsWithHexKey(const std::string& name) {
  if (name.size() < kHexKeyLength) return false;
  return std::all_of(name.begin(), name.begin() + kHexKeyLength, IsLowerHex);
}

int HexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

Status WriteError(const std::string& what, int err) {
  std::string message = "disk cache: " + what + ": " + ErrnoText(err);
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) return ResourceExhausted(std::move(message));
  return Unavailable(std::move(message));
}

std::optional<PinClock::time_point> LaterPin(std::optional<PinClock::time_point> a,
                                             std::optional<PinClock::time_point> b) {
  if (!a) return b;
  if (!b) return a;
  return std::max(*a, *b);
}

bool PinnedAt(const std::optional<PinClock::time_point>& pin, PinClock::time_point now) {
  return pin.has_value() && *pin > now;
}

// Reads a whole regular file (no symlinks) of at most `max_size` bytes.
enum class ReadOutcome { kOk, kMissing, kCorrupt, kIoError };
ReadOutcome ReadRecordFile(int dir_fd, const std::string& name, uint64_t max_size,
                           std::vector<uint8_t>* out, int* err) {
  const int fd = openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    *err = errno;
    if (errno == ENOENT) return ReadOutcome::kMissing;
    if (errno == ELOOP) return ReadOutcome::kCorrupt;  // a symlink where a record should be
    return ReadOutcome::kIoError;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    *err = errno;
    close(fd);
    return ReadOutcome::kIoError;
  }
  if (!S_ISREG(st.st_mode) || st.st_size < 0 || static_cast<uint64_t>(st.st_size) > max_size) {
    close(fd);
    return ReadOutcome::kCorrupt;
  }
  out->resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  if (const int error = ReadFully(fd, out->data(), out->size(), &done); error != 0) {
    *err = error;
    close(fd);
    return ReadOutcome::kIoError;
  }
  out->resize(done);  // shorter if it shrank while reading: the envelope check reports it
  close(fd);
  return ReadOutcome::kOk;
}

}  // namespace

std::chrono::milliseconds FaultDelayFromEnvironment() {
  const char* value = std::getenv("GOLDFINCH_CACHE_FAULT_DELAY_MS");
  if (value == nullptr || *value == '\0') return std::chrono::milliseconds(0);
  char* end = nullptr;
  errno = 0;
  const long long ms = std::strtoll(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || ms < 0 || ms > 600000) {
    return std::chrono::milliseconds(0);
  }
  return std::chrono::milliseconds(ms);
}

std::string RecordFileName(const Key& key) { return KeyToHex(key) + kRecordSuffix; }

bool IsRecordFileName(const std::string& name) {
  return name.size() == kHexKeyLength + std::strlen(kRecordSuffix) && StartsWithHexKey(name) &&
         name.compare(kHexKeyLength, std::string::npos, kRecordSuffix) == 0;
}

bool IsTempFileName(const std::string& name) {
  const size_t infix = std::strlen(kTempInfix);
  if (name.size() <= kHexKeyLength + infix || !StartsWithHexKey(name)) return false;
  if (name.compare(kHexKeyLength, infix, kTempInfix) != 0) return false;
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(kHexKeyLength + infix), name.end(),
                     IsLowerHex);
}

StatusOr<std::unique_ptr<DiskStore>> DiskStore::Open(const DiskStoreOptions& options) {
  if (options.directory.empty()) return InvalidArgument("disk cache: no directory given");
  std::error_code ec;
  std::filesystem::create_directories(options.directory, ec);
  if (ec) {
    return Unavailable("disk cache: cannot create " + options.directory + ": " + ec.message());
  }
  const int dir_fd = open(options.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return Unavailable("disk cache: cannot open " + options.directory + ": " + ErrnoText(errno));
  }
  const int lock_fd = openat(dir_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd < 0) {
    const int err = errno;
    close(dir_fd);
    return Unavailable("disk cache: cannot open the lock file: " + ErrnoText(err));
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    close(lock_fd);
    close(dir_fd);
    if (err == EWOULDBLOCK) {
      return FailedPrecondition("disk cache: " + options.directory + " is in use by another store");
    }
    return Unavailable("disk cache: cannot lock " + options.directory + ": " + ErrnoText(err));
  }
  std::unique_ptr<DiskStore> store(new DiskStore(options, dir_fd, lock_fd));
  GF_RETURN_IF_ERROR(store->Load());
  return store;
}

DiskStore::DiskStore(const DiskStoreOptions& options, int dir_fd, int lock_fd)
    : options_(options), dir_fd_(dir_fd), lock_fd_(lock_fd) {
  stats_.tier = "disk";
  std::random_device rd;
  temp_salt_ = (uint64_t{rd()} << 32) ^ rd();
}

DiskStore::~DiskStore() {
  close(lock_fd_);  // releases the flock
  close(dir_fd_);
}

// Single-threaded (called by Open): sweep temp files, index records, trim to the budget.
Status DiskStore::Load() {
  struct Found {
    Key key;
    uint64_t size;
    struct timespec mtime;
  };
  std::vector<Found> found;
  std::error_code ec;
  std::filesystem::directory_iterator it(options_.directory, ec);
  if (ec) return Unavailable("disk cache: cannot list " + options_.directory + ": " + ec.message());
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec)
      return Unavailable("disk cache: cannot list " + options_.directory + ": " + ec.message());
    const std::string name = it->path().filename().string();
    const bool is_temp = IsTempFileName(name);
    if (!is_temp && !IsRecordFileName(name)) continue;  // not ours: leave it alone
    struct stat st {};
    if (fstatat(dir_fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (is_temp) {
      if ((S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) && unlinkat(dir_fd_, name.c_str(), 0) == 0) {
        ++temp_files_swept_;
      }
      continue;
    }
    if (!S_ISREG(st.st_mode)) {
      if (S_ISLNK(st.st_mode)) unlinkat(dir_fd_, name.c_str(), 0);  // never follow planted links
      continue;
    }
    Found f{};
    for (size_t i = 0; i < f.key.size(); ++i) {
      f.key[i] = static_cast<uint8_t>(HexValue(name[2 * i]) * 16 + HexValue(name[2 * i + 1]));
    }
    f.size = static_cast<uint64_t>(st.st_size);
    f.mtime = st.st_mtim;
    found.push_back(f);
  }
  // Oldest first, so the most recently written record ends up at the LRU front.
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    if (a.mtime.tv_sec != b.mtime.tv_sec) return a.mtime.tv_sec < b.mtime.tv_sec;
    return a.mtime.tv_nsec < b.mtime.tv_nsec;
  });
  for (const Found& f : found) {
    lru_.push_front(f.key);
    index_.emplace(f.key, Entry{f.size, next_generation_++, lru_.begin(), std::nullopt});
    stats_.bytes_stored += f.size;
    stats_.entries += 1;
  }
  while (stats_.bytes_stored > options_.byte_budget && !lru_.empty()) {
    const Key victim = lru_.back();
    RemoveLocked(index_.find(victim));
    unlinkat(dir_fd_, RecordFileName(victim).c_str(), 0);
    ++stats_.evictions;
  }
  if (temp_files_swept_ > 0) SyncDirectory();
  return Status::Ok();
}

std::shared_mutex& DiskStore::StripeFor(const Key& key) {
  return stripes_[(size_t{key[31]} ^ (size_t{key[30]} << 8)) % kStripes];
}

void DiskStore::RemoveLocked(Index::iterator it) {
  stats_.bytes_stored -= it->second.size;
  stats_.entries -= 1;
  lru_.erase(it->second.lru_position);
  index_.erase(it);
}

void DiskStore::SyncDirectory() {
  if (options_.sync) fsync(dir_fd_);
}

void DiskStore::DeleteEvicted(const std::vector<Key>& victims) {
  for (const Key& victim : victims) {
    std::unique_lock stripe(StripeFor(victim));
    {
      std::lock_guard lock(mu_);
      if (index_.count(victim) != 0) continue;  // re-published since it was evicted
    }
    unlinkat(dir_fd_, RecordFileName(victim).c_str(), 0);
  }
}

bool DiskStore::DropIfGeneration(const Key& key, uint64_t generation, bool corrupt) {
  {
    std::lock_guard lock(mu_);
    if (corrupt) ++stats_.corrupt_deleted;
    auto it = index_.find(key);
    if (it == index_.end() || it->second.generation != generation) return false;
    RemoveLocked(it);
  }
  unlinkat(dir_fd_, RecordFileName(key).c_str(), 0);
  return true;
}

Status DiskStore::WriteTemp(const std::string& temp_name, const std::vector<uint8_t>& bytes) {
  const int fd = openat(dir_fd_, temp_name.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return WriteError("cannot create " + temp_name, errno);
  if (const int err = WriteFully(fd, bytes.data(), bytes.size()); err != 0) {
    close(fd);
    return WriteError("cannot write " + temp_name, err);
  }
  if (options_.sync && fdatasync(fd) != 0) {
    const int err = errno;
    close(fd);
    return WriteError("cannot sync " + temp_name, err);
  }
  if (close(fd) != 0) return WriteError("cannot close " + temp_name, errno);
  return Status::Ok();
}

Status DiskStore::Put(const Key& key, std::vector<uint8_t> record_bytes,
                      const PutOptions& options) {
  const uint64_t size = record_bytes.size();
  std::vector<Key> victims;
  {
    std::lock_guard lock(mu_);
    if (size > options_.byte_budget) {
      ++stats_.write_failures;
      return ResourceExhausted("disk cache: record of " + std::to_string(size) +
                               " bytes exceeds the budget of " +
                               std::to_string(options_.byte_budget));
    }
    const uint64_t needed = stats_.bytes_stored + reserved_bytes_ + size;
    if (needed > options_.byte_budget) {
      uint64_t to_free = needed - options_.byte_budget;
      const auto now = PinClock::now();
      for (auto it = lru_.rbegin(); it != lru_.rend() && to_free > 0; ++it) {
        const Entry& entry = index_.at(*it);
        if (PinnedAt(entry.pinned_until, now)) continue;
        victims.push_back(*it);
        to_free -= std::min(to_free, entry.size);
      }
      if (to_free > 0) {
        ++stats_.write_failures;
        return ResourceExhausted("disk cache: no room for " + std::to_string(size) +
                                 " bytes beside pinned entries and writes in flight");
      }
      for (const Key& victim : victims) {
        RemoveLocked(index_.find(victim));
        ++stats_.evictions;
      }
    }
    reserved_bytes_ += size;
  }
  DeleteEvicted(victims);

  auto fail = [&](Status status) {
    std::lock_guard lock(mu_);
    reserved_bytes_ -= size;
    ++stats_.write_failures;
    return status;
  };
  char suffix[40];
  std::snprintf(suffix, sizeof(suffix), "%016llx%08llx",
                static_cast<unsigned long long>(temp_salt_),
                static_cast<unsigned long long>(temp_counter_.fetch_add(1) & 0xffffffffu));
  const std::string final_name = RecordFileName(key);
  const std::string temp_name = KeyToHex(key) + kTempInfix + suffix;
  if (Status s = WriteTemp(temp_name, record_bytes); !s.ok()) {
    unlinkat(dir_fd_, temp_name.c_str(), 0);
    return fail(s);
  }
  if (options_.write_delay.count() > 0) std::this_thread::sleep_for(options_.write_delay);
  {
    std::unique_lock stripe(StripeFor(key));
    if (renameat(dir_fd_, temp_name.c_str(), dir_fd_, final_name.c_str()) != 0) {
      const int err = errno;
      unlinkat(dir_fd_, temp_name.c_str(), 0);
      return fail(WriteError("cannot publish " + final_name, err));
    }
    std::lock_guard lock(mu_);
    reserved_bytes_ -= size;
    std::optional<PinClock::time_point> pin = options.pinned_until;
    if (auto old = index_.find(key); old != index_.end()) {
      pin = LaterPin(pin, old->second.pinned_until);
      RemoveLocked(old);
    }
    lru_.push_front(key);
    index_.emplace(key, Entry{size, next_generation_++, lru_.begin(), pin});
    stats_.bytes_stored += size;
    stats_.entries += 1;
    stats_.bytes_written_total += size;
  }
  SyncDirectory();
  return Status::Ok();
}

StatusOr<std::vector<uint8_t>> DiskStore::Get(const Key& key) {
  std::shared_mutex& stripe_mu = StripeFor(key);
  std::vector<uint8_t> bytes;
  uint64_t generation = 0;
  ReadOutcome outcome = ReadOutcome::kIoError;
  int err = 0;
  {
    std::shared_lock stripe(stripe_mu);
    {
      std::lock_guard lock(mu_);
      ++stats_.lookups;
      auto it = index_.find(key);
      if (it == index_.end()) {
        ++stats_.misses_not_found;
        return NotFound("disk cache: no entry");
      }
      generation = it->second.generation;
      lru_.splice(lru_.begin(), lru_, it->second.lru_position);
    }
    outcome = ReadRecordFile(dir_fd_, RecordFileName(key), options_.byte_budget, &bytes, &err);
    if (outcome == ReadOutcome::kOk) {
      auto header = VerifyRecordIntegrity(bytes);
      if (!header.ok() || header->meta.key != key) outcome = ReadOutcome::kCorrupt;
    }
    if (outcome == ReadOutcome::kOk) {
      std::lock_guard lock(mu_);
      ++stats_.hits;
      stats_.bytes_read_total += bytes.size();
      return bytes;
    }
    if (outcome == ReadOutcome::kIoError) {
      std::lock_guard lock(mu_);
      ++stats_.misses_not_found;
      return Unavailable("disk cache: cannot read " + RecordFileName(key) + ": " + ErrnoText(err));
    }
  }
  // Missing or corrupt: drop the entry (and the file) unless a Put replaced it meanwhile.
  std::unique_lock stripe(stripe_mu);
  if (outcome == ReadOutcome::kMissing) {
    {
      std::lock_guard lock(mu_);
      ++stats_.misses_not_found;
      auto it = index_.find(key);
      if (it != index_.end() && it->second.generation == generation) RemoveLocked(it);
    }
    return NotFound("disk cache: record file vanished");
  }
  DropIfGeneration(key, generation, /*corrupt=*/true);
  return DataLoss("disk cache: corrupt record " + RecordFileName(key) + " deleted");
}

bool DiskStore::Contains(const Key& key) {
  std::lock_guard lock(mu_);
  return index_.count(key) != 0;
}

Status DiskStore::Erase(const Key& key) {
  std::unique_lock stripe(StripeFor(key));
  {
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return NotFound("disk cache: no entry");
    RemoveLocked(it);
  }
  unlinkat(dir_fd_, RecordFileName(key).c_str(), 0);
  return Status::Ok();
}

Status DiskStore::Pin(const Key& key, std::optional<PinClock::time_point> pinned_until) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return NotFound("disk cache: no entry");
  it->second.pinned_until = pinned_until;
  return Status::Ok();
}

CacheTierStats DiskStore::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace gf::cache
