// Server logging: one line per event, as JSON lines or human-readable text, on stdout.
//
// Contract:
// - Formats: "json" = one JSON object per line: ts (RFC 3339 UTC with milliseconds, 'Z'), level,
//   msg, then any of request_id, tenant, model, route, method, status, prompt_tokens,
//   cached_tokens, completion_tokens, ttft_ms, duration_ms, finish_reason, error_type (absent
//   fields are omitted). "text" = "<ts> <LEVEL> <msg> key=value ...", values quoted when needed.
// - Injection-proof: every string is escaped by this module (JSON escapes, or \n \r \t \xNN in
//   text), so CR/LF/control characters in a message or field can never start a new line or fake
//   a field; invalid UTF-8 is replaced by U+FFFD. No prompt or output text is logged here.
// - Threads: every function is thread-safe. InitLogging installs an spdlog async logger (one
//   worker thread, 8192-entry queue, overrun_oldest: when the queue is full the oldest line is
//   dropped instead of blocking the caller, so logging never stalls the engine). Lines are built
//   on the calling thread. Before InitLogging, lines go synchronously to stdout in text format
//   at level info. ShutdownLogging flushes and stops the worker (call before exit).
// - Errors: InitLogging returns InvalidArgument for an unknown format or level and keeps the
//   previous logger. Logging itself never fails or throws.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace spdlog::sinks {
class sink;
}

namespace gf::server {

struct ServeOptions;

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };

// format: "text" | "json"; level: "trace" | "debug" | "info" | "warn" | "error".
Status InitLogging(std::string_view format, std::string_view level);
// Same, but writes synchronously to `sink` (tests: an ostream_sink over an ostringstream).
Status InitLoggingWithSink(std::string_view format, std::string_view level,
                           std::shared_ptr<spdlog::sinks::sink> sink);
// Waits until the async queue is empty and asks the sink to flush: best effort, for tests and
// diagnostics (the worker may still be writing the last line for a few milliseconds).
// ShutdownLogging is the exact barrier: every line logged before it has been written on return
// unless another thread is still inside a logging call.
void FlushLogs();
// Flushes and returns to the pre-InitLogging default.
void ShutdownLogging();

// A log line with free-form string fields (keys must be plain identifiers; values are escaped).
using LogField = std::pair<std::string_view, std::string_view>;
void Log(LogLevel level, std::string_view msg, const std::vector<LogField>& fields = {});
void LogInfo(std::string_view msg);
void LogWarn(std::string_view msg);
void LogError(std::string_view msg);

// One finished (or failed) request. Empty strings and nullopt fields are omitted. Logged at
// info, or at error when status >= 500.
struct RequestLogFields {
  std::string msg = "request";
  std::string request_id;
  std::string tenant;
  std::string model;
  std::string route;   // "/v1/chat/completions"
  std::string method;  // "POST"
  std::optional<int> status;
  std::optional<std::int64_t> prompt_tokens;
  std::optional<std::int64_t> cached_tokens;
  std::optional<std::int64_t> completion_tokens;
  std::optional<double> ttft_ms;  // milliseconds, 3 decimals; non-finite values are omitted
  std::optional<double> duration_ms;
  std::string finish_reason;
  std::string error_type;
};
void LogRequest(const RequestLogFields& fields);

// The effective configuration, secrets redacted. json: one line, msg "effective config", with
// "config": {"<option>": {"value": <typed>, "source": "<source>"}, ...}. text: one line per
// option, "config <name>=<value> source=<source>" (strings unquoted unless they need quotes).
void LogEffectiveConfig(const ServeOptions& options);

// Escaping helpers (exposed for tests and for other JSON-line writers).
// Appends `s` as a JSON string literal (quotes included).
void AppendJsonString(std::string& out, std::string_view s);
// "2024-05-01T12:34:56.789Z" for a time in milliseconds since the Unix epoch.
std::string FormatRfc3339Millis(std::int64_t unix_millis);

}  // namespace gf::server
