// Server-Sent Events framing helpers (pure functions, no I/O, thread-safe).
// Per the SSE spec a line ends at CRLF, LF or CR, so a payload containing any of them is split
// into several "data:" (or ":" comment) lines; the client joins data lines back with '\n'
// (a CR or CRLF inside the payload therefore arrives as LF).
#pragma once

#include <string>
#include <string_view>

namespace gf::server::sse {

// "data: [DONE]\n\n": the OpenAI end-of-stream event.
inline constexpr std::string_view kDone = "data: [DONE]\n\n";

// "data: <line>\n" for each line of `data`, then "\n". Empty data gives "data: \n\n".
std::string FormatEvent(std::string_view data);

// ": <line>\n" for each line of `text`, then "\n" (clients ignore comments; used as keep-alive).
std::string FormatComment(std::string_view text);

}  // namespace gf::server::sse
