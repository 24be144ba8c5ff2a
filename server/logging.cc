#include "server/logging.h"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/details/thread_pool.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "server/options.h"

namespace gf::server {
namespace {

constexpr std::size_t kAsyncQueueItems = 8192;

// One installed logger. Members are destroyed in reverse order: the logger first, then the
// thread pool, whose destructor drains the queue and joins its worker.
struct LoggerState {
  std::shared_ptr<spdlog::details::thread_pool> pool;  // null in sync mode
  std::shared_ptr<spdlog::logger> logger;
  bool json = false;
};

std::shared_ptr<LoggerState> MakeDefaultState() {
  auto state = std::make_shared<LoggerState>();
  state->logger = std::make_shared<spdlog::logger>(
      "goldfinch", std::make_shared<spdlog::sinks::stdout_sink_mt>());
  state->logger->set_pattern("%v");
  state->logger->set_level(spdlog::level::info);
  state->logger->flush_on(spdlog::level::trace);
  return state;
}

std::atomic<std::shared_ptr<LoggerState>>& CurrentState() {
  static std::atomic<std::shared_ptr<LoggerState>> state{MakeDefaultState()};
  return state;
}

StatusOr<bool> ParseFormat(std::string_view format) {
  if (format == "json") return true;
  if (format == "text") return false;
  return InvalidArgument("log-format must be text or json, got '" + std::string(format) + "'");
}

StatusOr<spdlog::level::level_enum> ParseLevel(std::string_view level) {
  if (level == "trace") return spdlog::level::trace;
  if (level == "debug") return spdlog::level::debug;
  if (level == "info") return spdlog::level::info;
  if (level == "warn") return spdlog::level::warn;
  if (level == "error") return spdlog::level::err;
  return InvalidArgument("log-level must be trace, debug, info, warn or error, got '" +
                         std::string(level) + "'");
}

spdlog::level::level_enum ToSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::err;
}

const char* LevelName(LogLevel level, bool json) {
  switch (level) {
    case LogLevel::kTrace:
      return json ? "trace" : "TRACE";
    case LogLevel::kDebug:
      return json ? "debug" : "DEBUG";
    case LogLevel::kInfo:
      return json ? "info" : "INFO";
    case LogLevel::kWarn:
      return json ? "warn" : "WARN";
    case LogLevel::kError:
      return json ? "error" : "ERROR";
  }
  return "error";
}

// Length of the valid UTF-8 sequence at s[i] (1..4), or 0 when it is invalid.
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

constexpr char kHex[] = "0123456789abcdef";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kLineSeparator = "\xE2\x80\xA8";
constexpr std::string_view kParagraphSeparator = "\xE2\x80\xA9";

// Escapes `s` for JSON (json=true) or for text (\n \r \t \xNN); invalid UTF-8 -> U+FFFD.
// `quote_too` escapes '"' and '\\' (always in JSON; in text only inside quotes).
void AppendEscaped(std::string& out, std::string_view s, bool json, bool quote_too) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    if (n > 1) {
      const std::string_view seq = s.substr(i, n);
      if (seq == kLineSeparator || seq == kParagraphSeparator) {
        out += seq == kLineSeparator ? "\\u2028" : "\\u2029";
      } else {
        out += seq;
      }
      i += n;
      continue;
    }
    const char c = s[i++];
    switch (c) {
      case '"':
        out += quote_too ? "\\\"" : "\"";
        break;
      case '\\':
        out += quote_too ? "\\\\" : "\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7F) {
          out += json ? "\\u00" : "\\x";
          out += kHex[u >> 4];
          out += kHex[u & 0xF];
        } else {
          out += c;
        }
      }
    }
  }
}

bool NeedsQuotesInText(std::string_view v) {
  if (v.empty()) return true;
  for (const char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

std::string FormatMillis(double ms) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, ms, std::chars_format::fixed, 3);
  return ec == std::errc() ? std::string(buf, end) : std::string("0");
}

// Builds one line in the installed format. Field values are raw; `raw_json` marks values that
// are already JSON (numbers, objects) and are written unquoted in both formats.
class LineBuilder {
 public:
  LineBuilder(bool json, LogLevel level, std::string_view msg) : json_(json) {
    const auto now =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    const std::string ts = FormatRfc3339Millis(now.time_since_epoch().count());
    if (json_) {
      line_ = "{\"ts\":\"" + ts + "\",\"level\":\"" + LevelName(level, true) + "\",\"msg\":";
      AppendJsonString(line_, msg);
    } else {
      line_ = ts + " " + LevelName(level, false) + " ";
      const bool quote = msg.find_first_of("\"=") != std::string_view::npos || msg.empty();
      if (quote) line_ += '"';
      AppendEscaped(line_, msg, false, quote);
      if (quote) line_ += '"';
    }
  }

  void String(std::string_view key, std::string_view value) {
    if (json_) {
      line_ += ",\"";
      line_ += key;
      line_ += "\":";
      AppendJsonString(line_, value);
    } else {
      line_ += ' ';
      line_ += key;
      line_ += '=';
      const bool quote = NeedsQuotesInText(value);
      if (quote) line_ += '"';
      AppendEscaped(line_, value, false, quote);
      if (quote) line_ += '"';
    }
  }
  void OptionalString(std::string_view key, std::string_view value) {
    if (!value.empty()) String(key, value);
  }
  void Raw(std::string_view key, std::string_view json_value) {
    line_ += json_ ? ",\"" : " ";
    line_ += key;
    line_ += json_ ? "\":" : "=";
    line_ += json_value;
  }

  std::string Finish() {
    if (json_) line_ += '}';
    return std::move(line_);
  }

 private:
  bool json_;
  std::string line_;
};

void Emit(const LoggerState& state, LogLevel level, const std::string& line) {
  state.logger->log(ToSpdlog(level), spdlog::string_view_t(line.data(), line.size()));
}

Status Install(std::string_view format, std::string_view level,
               std::shared_ptr<spdlog::sinks::sink> sink, bool async) {
  GF_ASSIGN_OR_RETURN(const bool json, ParseFormat(format));
  GF_ASSIGN_OR_RETURN(const spdlog::level::level_enum lvl, ParseLevel(level));
  auto state = std::make_shared<LoggerState>();
  state->json = json;
  if (async) {
    state->pool = std::make_shared<spdlog::details::thread_pool>(kAsyncQueueItems, 1);
    state->logger = std::make_shared<spdlog::async_logger>(
        "goldfinch", std::move(sink), state->pool, spdlog::async_overflow_policy::overrun_oldest);
  } else {
    state->logger = std::make_shared<spdlog::logger>("goldfinch", std::move(sink));
  }
  state->logger->set_pattern("%v");  // the line is complete; spdlog adds only the newline
  state->logger->set_level(lvl);
  state->logger->flush_on(spdlog::level::trace);
  std::shared_ptr<LoggerState> old = CurrentState().exchange(std::move(state));
  if (old) old->logger->flush();
  return Status::Ok();
}

std::string JsonNumber(std::int64_t v) { return std::to_string(v); }

std::string EffectiveValueJson(const EffectiveValue& v) {
  switch (v.index()) {
    case 0:
      return std::get<bool>(v) ? "true" : "false";
    case 1:
      return std::to_string(std::get<std::int64_t>(v));
    case 2: {
      const double d = std::get<double>(v);
      if (!std::isfinite(d)) return "null";
      char buf[64];
      const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
      return ec == std::errc() ? std::string(buf, end) : std::string("null");
    }
    case 3: {
      std::string out;
      AppendJsonString(out, std::get<std::string>(v));
      return out;
    }
    default: {
      std::string out = "[";
      for (const std::string& s : std::get<std::vector<std::string>>(v)) {
        if (out.size() > 1) out += ',';
        AppendJsonString(out, s);
      }
      return out + "]";
    }
  }
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  AppendEscaped(out, s, true, true);
  out += '"';
}

std::string FormatRfc3339Millis(std::int64_t unix_millis) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds(unix_millis)};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> hms{t - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return buf;
}

Status InitLogging(std::string_view format, std::string_view level) {
  return Install(format, level, std::make_shared<spdlog::sinks::stdout_sink_mt>(), true);
}

Status InitLoggingWithSink(std::string_view format, std::string_view level,
                           std::shared_ptr<spdlog::sinks::sink> sink) {
  return Install(format, level, std::move(sink), false);
}

void FlushLogs() {
  const std::shared_ptr<LoggerState> state = CurrentState().load();
  if (!state) return;
  state->logger->flush();
  if (state->pool) {
    // async flush only queues a request; wait until the worker has drained the queue.
    while (state->pool->queue_size() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void ShutdownLogging() {
  std::shared_ptr<LoggerState> old = CurrentState().exchange(MakeDefaultState());
  if (old) old->logger->flush();
  // Dropping `old` (here or when the last concurrent logger releases it) drains and joins.
}

void Log(LogLevel level, std::string_view msg, const std::vector<LogField>& fields) {
  const std::shared_ptr<LoggerState> state = CurrentState().load();
  if (!state->logger->should_log(ToSpdlog(level))) return;
  LineBuilder line(state->json, level, msg);
  for (const auto& [key, value] : fields) line.String(key, value);
  Emit(*state, level, line.Finish());
}

void LogInfo(std::string_view msg) { Log(LogLevel::kInfo, msg); }
void LogWarn(std::string_view msg) { Log(LogLevel::kWarn, msg); }
void LogError(std::string_view msg) { Log(LogLevel::kError, msg); }

void LogRequest(const RequestLogFields& f) {
  const LogLevel level = f.status && *f.status >= 500 ? LogLevel::kError : LogLevel::kInfo;
  const std::shared_ptr<LoggerState> state = CurrentState().load();
  if (!state->logger->should_log(ToSpdlog(level))) return;
  LineBuilder line(state->json, level, f.msg);
  line.OptionalString("request_id", f.request_id);
  line.OptionalString("tenant", f.tenant);
  line.OptionalString("model", f.model);
  line.OptionalString("route", f.route);
  line.OptionalString("method", f.method);
  if (f.status) line.Raw("status", std::to_string(*f.status));
  if (f.prompt_tokens) line.Raw("prompt_tokens", JsonNumber(*f.prompt_tokens));
  if (f.cached_tokens) line.Raw("cached_tokens", JsonNumber(*f.cached_tokens));
  if (f.completion_tokens) line.Raw("completion_tokens", JsonNumber(*f.completion_tokens));
  if (f.ttft_ms && std::isfinite(*f.ttft_ms)) line.Raw("ttft_ms", FormatMillis(*f.ttft_ms));
  if (f.duration_ms && std::isfinite(*f.duration_ms)) {
    line.Raw("duration_ms", FormatMillis(*f.duration_ms));
  }
  line.OptionalString("finish_reason", f.finish_reason);
  line.OptionalString("error_type", f.error_type);
  Emit(*state, level, line.Finish());
}

void LogEffectiveConfig(const ServeOptions& options) {
  const std::shared_ptr<LoggerState> state = CurrentState().load();
  if (!state->logger->should_log(spdlog::level::info)) return;
  const std::vector<EffectiveSetting> settings = EffectiveConfig(options);
  if (state->json) {
    std::string config = "{";
    for (const EffectiveSetting& s : settings) {
      if (config.size() > 1) config += ',';
      AppendJsonString(config, s.name);
      config += ":{\"value\":" + EffectiveValueJson(s.value) + ",\"source\":";
      AppendJsonString(config, s.source);
      config += '}';
    }
    config += '}';
    LineBuilder line(true, LogLevel::kInfo, "effective config");
    line.Raw("config", config);
    Emit(*state, LogLevel::kInfo, line.Finish());
    return;
  }
  for (const EffectiveSetting& s : settings) {
    LineBuilder line(false, LogLevel::kInfo, "config");
    const auto* str = std::get_if<std::string>(&s.value);
    line.String(s.name, str != nullptr ? std::string_view(*str) : std::string_view(s.display));
    line.String("source", s.source);
    Emit(*state, LogLevel::kInfo, line.Finish());
  }
}

}  // namespace gf::server
