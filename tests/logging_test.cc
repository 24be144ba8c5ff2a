// Server logging: JSON-lines fields and types, text format, escaping (no forged lines, invalid
// UTF-8 replaced), level filtering, the redacted effective config, and the async stdout logger.
#include "server/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

#include "server/options.h"

namespace gf::server {
namespace {

using nlohmann::json;

// True when `s` starts with an RFC 3339 UTC timestamp with milliseconds,
// "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 characters). (std::regex trips GCC 12's -Wmaybe-uninitialized
// under the sanitizer build, so the shape is checked by hand.)
bool StartsWithTimestamp(std::string_view s) {
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() < kShape.size()) return false;
  for (size_t i = 0; i < kShape.size(); ++i) {
    const bool ok = kShape[i] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == kShape[i];
    if (!ok) return false;
  }
  return true;
}
constexpr size_t kTimestampLength = 24;

// Installs a synchronous logger writing into a string stream; restores the default at the end.
class CapturedLog {
 public:
  CapturedLog(std::string_view format, std::string_view level) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    const Status st = InitLoggingWithSink(format, level, sink);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  ~CapturedLog() { ShutdownLogging(); }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  std::vector<std::string> Lines() {
    FlushLogs();
    std::vector<std::string> lines;
    std::istringstream in(out_.str());
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
  }
  std::string Text() {
    FlushLogs();
    return out_.str();
  }
  // Every line parsed as JSON (a parse failure fails the test).
  std::vector<json> Json() {
    std::vector<json> out;
    for (const std::string& line : Lines()) {
      json j = json::parse(line, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << line;
      out.push_back(std::move(j));
    }
    return out;
  }

 private:
  std::ostringstream out_;
};

RequestLogFields FullRequest() {
  RequestLogFields f;
  f.request_id = "req-1";
  f.tenant = "team-a";
  f.model = "goldfinch-byte-small";
  f.route = "/v1/chat/completions";
  f.method = "POST";
  f.status = 200;
  f.prompt_tokens = 12;
  f.cached_tokens = 4;
  f.completion_tokens = 30;
  f.ttft_ms = 12.5;
  f.duration_ms = 1500.25;
  f.finish_reason = "stop";
  f.error_type = "";
  return f;
}

TEST(LoggingTest, Rfc3339Timestamps) {
  EXPECT_EQ(FormatRfc3339Millis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(1714566896789), "2024-05-01T12:34:56.789Z");
  EXPECT_EQ(FormatRfc3339Millis(951782400000 + 86399999), "2000-02-29T23:59:59.999Z");
}

TEST(LoggingTest, JsonRequestLineHasEveryFieldWithItsType) {
  CapturedLog log("json", "info");
  LogRequest(FullRequest());
  const std::vector<std::string> lines = log.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("{\"ts\":\"", 0), 0u) << lines[0];
  const json j = json::parse(lines[0]);
  const std::string ts = j["ts"].get<std::string>();
  EXPECT_TRUE(ts.size() == kTimestampLength && StartsWithTimestamp(ts)) << ts;
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "request");
  EXPECT_EQ(j["request_id"], "req-1");
  EXPECT_EQ(j["tenant"], "team-a");
  EXPECT_EQ(j["model"], "goldfinch-byte-small");
  EXPECT_EQ(j["route"], "/v1/chat/completions");
  EXPECT_EQ(j["method"], "POST");
  EXPECT_TRUE(j["status"].is_number_integer());
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["prompt_tokens"], 12);
  EXPECT_EQ(j["cached_tokens"], 4);
  EXPECT_EQ(j["completion_tokens"], 30);
  EXPECT_EQ(j["ttft_ms"].get<double>(), 12.5);
  EXPECT_EQ(j["duration_ms"].get<double>(), 1500.25);
  EXPECT_EQ(j["finish_reason"], "stop");
  EXPECT_FALSE(j.contains("error_type"));  // empty = omitted
  EXPECT_EQ(j.size(), 15u);
}

TEST(LoggingTest, AbsentFieldsAreOmittedAndServerErrorsLogAtError) {
  CapturedLog log("json", "info");
  RequestLogFields f;
  f.request_id = "r";
  f.status = 503;
  f.error_type = "service_unavailable";
  f.ttft_ms = std::numeric_limits<double>::quiet_NaN();
  LogRequest(f);
  const std::vector<json> lines = log.Json();
  ASSERT_EQ(lines.size(), 1u);
  const json& j = lines[0];
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["status"], 503);
  EXPECT_EQ(j["error_type"], "service_unavailable");
  EXPECT_FALSE(j.contains("ttft_ms"));
  EXPECT_FALSE(j.contains("tenant"));
  EXPECT_FALSE(j.contains("prompt_tokens"));
  EXPECT_EQ(j.size(), 6u);  // ts level msg request_id status error_type
}

TEST(LoggingTest, CrLfCannotForgeALine) {
  CapturedLog log("json", "info");
  LogInfo("a\r\nINFO fake");
  RequestLogFields f;
  f.request_id = "x\n{\"level\":\"error\"}";
  f.model = "m\r";
  LogRequest(f);
  const std::vector<std::string> lines = log.Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find(R"("msg":"a\r\nINFO fake")"), std::string::npos) << lines[0];
  const std::vector<json> parsed = log.Json();
  EXPECT_EQ(parsed[0]["msg"], "a\r\nINFO fake");
  EXPECT_EQ(parsed[1]["request_id"], "x\n{\"level\":\"error\"}");
  EXPECT_EQ(parsed[1]["model"], "m\r");
  EXPECT_EQ(parsed[1]["level"], "info");
}

TEST(LoggingTest, ControlCharactersAndUnicodeSeparatorsAreEscaped) {
  CapturedLog log("json", "info");
  LogInfo(std::string("c\x01\x1f\x7f\t\b\"\\ \xE2\x80\xA8\xE2\x80\xA9 \0end", 20));
  const std::vector<std::string> lines = log.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(R"("msg":"c\u0001\u001f\u007f\t\u0008\"\\ \u2028\u2029 \u0000end")"),
            std::string::npos)
      << lines[0];
  EXPECT_EQ(log.Json()[0]["msg"],
            std::string("c\x01\x1f\x7f\t\b\"\\ \xE2\x80\xA8\xE2\x80\xA9 \0end", 20));
}

TEST(LoggingTest, InvalidUtf8IsReplaced) {
  CapturedLog log("json", "info");
  const std::string replacement = "\xEF\xBF\xBD";
  LogInfo(
      "ok \xC3\xA9 \xF0\x9F\x98\x80 bad \xFF \xC0\xAF \xED\xA0\x80 \xE2\x82 \xF4\x90\x80\x80 "
      "end\xC3");
  const std::vector<json> parsed = log.Json();
  ASSERT_EQ(parsed.size(), 1u);
  const std::string r = replacement;
  EXPECT_EQ(parsed[0]["msg"], "ok \xC3\xA9 \xF0\x9F\x98\x80 bad " + r + " " + r + r + " " + r + r +
                                  r + " " + r + r + " " + r + r + r + r + " end" + r);
}

TEST(LoggingTest, LevelFiltering) {
  CapturedLog log("json", "warn");
  LogInfo("hidden");
  Log(LogLevel::kDebug, "hidden");
  LogWarn("shown-warn");
  LogError("shown-error");
  RequestLogFields ok;
  ok.status = 200;
  LogRequest(ok);  // info: hidden
  RequestLogFields failed;
  failed.status = 500;
  LogRequest(failed);  // error: shown
  const std::vector<json> lines = log.Json();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["msg"], "shown-warn");
  EXPECT_EQ(lines[0]["level"], "warn");
  EXPECT_EQ(lines[1]["level"], "error");
  EXPECT_EQ(lines[2]["status"], 500);
}

TEST(LoggingTest, FreeFormFields) {
  CapturedLog log("json", "trace");
  Log(LogLevel::kTrace, "listening", {{"host", "0.0.0.0"}, {"port", "8000"}});
  const std::vector<json> lines = log.Json();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["level"], "trace");
  EXPECT_EQ(lines[0]["host"], "0.0.0.0");
  EXPECT_EQ(lines[0]["port"], "8000");
}

TEST(LoggingTest, TextFormat) {
  CapturedLog log("text", "info");
  LogRequest(FullRequest());
  LogWarn("slow consumer");
  LogInfo("a\r\nINFO fake");
  Log(LogLevel::kInfo, "k=v", {{"path", "/a b"}, {"empty", ""}, {"q", "say \"hi\"\n"}});
  const std::vector<std::string> lines = log.Lines();
  ASSERT_EQ(lines.size(), 4u);
  std::vector<std::string> rest;
  for (const std::string& line : lines) {
    ASSERT_TRUE(StartsWithTimestamp(line) && line.size() > kTimestampLength &&
                line[kTimestampLength] == ' ')
        << line;
    rest.push_back(line.substr(kTimestampLength + 1));
  }
  EXPECT_EQ(rest[0],
            "INFO request request_id=req-1 tenant=team-a model=goldfinch-byte-small "
            "route=/v1/chat/completions method=POST status=200 prompt_tokens=12 cached_tokens=4 "
            "completion_tokens=30 ttft_ms=12.500 duration_ms=1500.250 finish_reason=stop");
  EXPECT_EQ(rest[1], "WARN slow consumer");
  EXPECT_EQ(rest[2], "INFO a\\r\\nINFO fake");
  EXPECT_EQ(rest[3], "INFO \"k=v\" path=\"/a b\" empty=\"\" q=\"say \\\"hi\\\"\\n\"");
}

TEST(LoggingTest, EffectiveConfigJsonRedactsKeys) {
  auto options = ParseServeOptions(std::vector<std::string>{"--port", "9000", "--log-format=json"},
                                   {{"GOLDFINCH_API_KEY", "sk-live-secret-1,sk-live-secret-2"}});
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  CapturedLog log("json", "info");
  LogEffectiveConfig(*options);
  const std::string text = log.Text();
  EXPECT_EQ(text.find("sk-live"), std::string::npos) << text;
  const std::vector<json> lines = log.Json();
  ASSERT_EQ(lines.size(), 1u);
  const json& c = lines[0]["config"];
  EXPECT_EQ(lines[0]["msg"], "effective config");
  EXPECT_EQ(c["api-key"]["value"], "<redacted>");
  EXPECT_EQ(c["api-key"]["source"], "env");
  EXPECT_EQ(c["port"]["value"], 9000);
  EXPECT_EQ(c["port"]["source"], "cli");
  EXPECT_EQ(c["host"]["value"], "127.0.0.1");
  EXPECT_EQ(c["host"]["source"], "default");
  EXPECT_EQ(c["public-metrics"]["value"], true);
  EXPECT_EQ(c["request-timeout"]["value"].get<double>(), 600.0);
  EXPECT_EQ(c["log-format"]["value"], "json");
  EXPECT_EQ(c.size(), EffectiveConfig(*options).size());
}

TEST(LoggingTest, EffectiveConfigTextOneLinePerOption) {
  auto options = ParseServeOptions(std::vector<std::string>{"--api-key=sk-live-secret"}, {});
  ASSERT_TRUE(options.ok());
  CapturedLog log("text", "info");
  LogEffectiveConfig(*options);
  const std::vector<std::string> lines = log.Lines();
  ASSERT_EQ(lines.size(), EffectiveConfig(*options).size());
  const std::string text = log.Text();
  EXPECT_EQ(text.find("sk-live"), std::string::npos) << text;
  EXPECT_NE(text.find(" INFO config api-key=<redacted> source=cli\n"), std::string::npos) << text;
  EXPECT_NE(text.find(" INFO config host=127.0.0.1 source=default\n"), std::string::npos);
  EXPECT_NE(text.find(" INFO config model=\"\" source=default\n"), std::string::npos);
  EXPECT_NE(text.find(" INFO config request-timeout=600.0 source=default\n"), std::string::npos);
}

TEST(LoggingTest, BadFormatOrLevelKeepsThePreviousLogger) {
  CapturedLog log("json", "info");
  const Status bad_format = InitLogging("xml", "info");
  EXPECT_EQ(bad_format.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_format.message(), "log-format must be text or json, got 'xml'");
  const Status bad_level = InitLogging("json", "verbose");
  EXPECT_EQ(bad_level.message(),
            "log-level must be trace, debug, info, warn or error, got 'verbose'");
  LogInfo("still here");
  const std::vector<json> lines = log.Json();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["msg"], "still here");
}

TEST(LoggingTest, ConcurrentWritersProduceWholeLines) {
  CapturedLog log("json", "info");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 250; ++i) {
        RequestLogFields f;
        f.request_id = "t" + std::to_string(t) + "-" + std::to_string(i);
        f.status = 200;
        LogRequest(f);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  const std::vector<json> lines = log.Json();
  ASSERT_EQ(lines.size(), 1000u);
  std::set<std::string> ids;
  for (const json& j : lines) ids.insert(j["request_id"].get<std::string>());
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(LoggingTest, AsyncStdoutLoggerDeliversEveryLineByShutdown) {
  ::testing::internal::CaptureStdout();
  ASSERT_TRUE(InitLogging("json", "info").ok());
  for (int i = 0; i < 100; ++i) LogInfo("async " + std::to_string(i));
  ShutdownLogging();
  const std::string out = ::testing::internal::GetCapturedStdout();
  std::istringstream in(out);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    const json j = json::parse(line);
    EXPECT_EQ(j["msg"], "async " + std::to_string(n));
    ++n;
  }
  EXPECT_EQ(n, 100);
}

}  // namespace
}  // namespace gf::server
