#include "server/http/sse.h"

namespace gf::server::sse {
namespace {

// Appends `prefix + line + "\n"` for every line of `text` (split at CRLF, LF or CR), then "\n".
std::string FormatLines(std::string_view prefix, std::string_view text) {
  std::string out;
  out.reserve(text.size() + prefix.size() + 3);
  size_t start = 0;
  while (true) {
    size_t end = text.find_first_of("\r\n", start);
    out.append(prefix);
    out.append(text.substr(start, end == std::string_view::npos ? std::string_view::npos
                                                                : end - start));
    out.push_back('\n');
    if (end == std::string_view::npos) break;
    start = end + 1;
    if (text[end] == '\r' && start < text.size() && text[start] == '\n') ++start;
  }
  out.push_back('\n');
  return out;
}

}  // namespace

std::string FormatEvent(std::string_view data) { return FormatLines("data: ", data); }

std::string FormatComment(std::string_view text) { return FormatLines(": ", text); }

}  // namespace gf::server::sse
