#include "server/byte_count.h"

#include <charconv>
#include <limits>

namespace gf::server {

std::optional<std::int64_t> ParseByteCount(std::string_view text) {
  std::string_view t = text;
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || end == t.data()) return std::nullopt;
  std::string_view suffix(end, static_cast<std::size_t>(t.data() + t.size() - end));
  if (suffix.empty()) return v;
  if (suffix.front() == ' ') suffix.remove_prefix(1);
  struct Unit {
    std::string_view name;
    std::int64_t factor;
  };
  static constexpr Unit kUnits[] = {{"KiB", std::int64_t{1} << 10},
                                    {"MiB", std::int64_t{1} << 20},
                                    {"GiB", std::int64_t{1} << 30},
                                    {"TiB", std::int64_t{1} << 40},
                                    {"KB", 1000},
                                    {"MB", 1000 * 1000},
                                    {"GB", 1000 * 1000 * 1000},
                                    {"TB", std::int64_t{1000} * 1000 * 1000 * 1000}};
  for (const Unit& unit : kUnits) {
    if (suffix != unit.name) continue;
    const std::int64_t limit = std::numeric_limits<std::int64_t>::max() / unit.factor;
    if (v > limit || v < -limit) return std::nullopt;
    return v * unit.factor;
  }
  return std::nullopt;
}

}  // namespace gf::server
