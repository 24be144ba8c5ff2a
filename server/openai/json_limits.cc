#include "server/openai/json_limits.h"

#include <string>

namespace gf::server {

size_t JsonNestingDepth(std::string_view text, size_t stop_above) {
  size_t depth = 0;
  size_t max_depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        ++depth;
        if (depth > max_depth) {
          max_depth = depth;
          if (max_depth > stop_above) return stop_above + 1;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return max_depth;
}

ApiResult<nlohmann::json> ParseJsonObject(std::string_view body, const ApiLimits& limits) {
  if (JsonNestingDepth(body, limits.max_json_depth) > limits.max_json_depth) {
    return InvalidRequest("", "Invalid JSON: nesting depth exceeds " +
                                  std::to_string(limits.max_json_depth));
  }
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(body.begin(), body.end());
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " tag.
    if (!what.empty() && what.front() == '[') {
      const size_t end = what.find("] ");
      if (end != std::string::npos) what.erase(0, end + 2);
    }
    return InvalidRequest("", "Invalid JSON: " + what);
  }
  if (!value.is_object()) {
    return InvalidRequest("", "request body must be a JSON object");
  }
  return value;
}

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string DumpJson(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace gf::server
