// Request ids: the X-Request-Id a client sent, if it is safe to log and echo, else a fresh one.
//
// Contract: a client id is accepted when it is 1..128 characters of [A-Za-z0-9._:-] (so it can
// never break a log line, a header or a metric label); anything else, including an empty or
// absent header, is replaced by 32 random lowercase hex characters. Generated ids come from a
// per-thread std::mt19937_64 seeded from std::random_device: unique in practice, not secret.
// Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace gf::server {

inline constexpr std::size_t kMaxRequestIdLength = 128;

bool IsValidRequestId(std::string_view id);

// A new random 32-hex-character id.
std::string GenerateRequestId();

// `header` is the X-Request-Id value ("" when absent).
std::string AcceptOrGenerateRequestId(std::string_view header);

}  // namespace gf::server
