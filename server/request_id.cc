#include "server/request_id.h"

#include <cstdint>
#include <random>

namespace gf::server {
namespace {

bool IsRequestIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

std::mt19937_64& ThreadRng() {
  thread_local std::mt19937_64 rng = [] {
    std::random_device rd;
    std::seed_seq seed{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seed);
  }();
  return rng;
}

}  // namespace

bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (const char c : id) {
    if (!IsRequestIdChar(c)) return false;
  }
  return true;
}

std::string GenerateRequestId() {
  static const char kHex[] = "0123456789abcdef";
  std::mt19937_64& rng = ThreadRng();
  std::string id;
  id.reserve(32);
  for (int half = 0; half < 2; ++half) {
    std::uint64_t bits = rng();
    for (int i = 0; i < 16; ++i) {
      id += kHex[bits & 0xF];
      bits >>= 4;
    }
  }
  return id;
}

std::string AcceptOrGenerateRequestId(std::string_view header) {
  if (IsValidRequestId(header)) return std::string(header);
  return GenerateRequestId();
}

}  // namespace gf::server
