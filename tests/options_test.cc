// goldfinch serve options: flags, environment, config file, precedence, validation, --help, the
// checked-in config template and the redacted effective config. Also the TOML-subset parser.
#include "server/options.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "server/config_file.h"
#include "tests/test_support.h"

namespace gf::server {
namespace {

using Env = std::map<std::string, std::string>;
using Args = std::vector<std::string>;

std::string WriteFile(const std::string& name, const std::string& text) {
  static const std::string dir = testing::MakeTempDir("gf-options-test");
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

ServeOptions ParseOk(const Args& args, const Env& env = {}) {
  auto parsed = ParseServeOptions(args, env);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  return parsed.ok() ? *parsed : ServeOptions{};
}

// The error message, expecting InvalidArgument.
std::string ParseError(const Args& args, const Env& env = {}) {
  auto parsed = ParseServeOptions(args, env);
  EXPECT_FALSE(parsed.ok());
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << parsed.status().ToString();
  return parsed.status().message();
}

std::string SourceOf(const ServeOptions& o, const std::string& name) {
  const auto it = o.sources.find(name);
  return it == o.sources.end() ? kSourceDefault : it->second;
}

TEST(OptionsTest, DefaultsWithNoInput) {
  const ServeOptions o = ParseOk({});
  EXPECT_EQ(o.model, "");
  EXPECT_EQ(o.dtype, "");
  EXPECT_EQ(o.threads, 0);
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 8000);
  EXPECT_EQ(o.http_threads, 2);
  EXPECT_EQ(o.served_model_name, "");
  EXPECT_TRUE(o.api_key.empty());
  EXPECT_EQ(o.api_key_file, "");
  EXPECT_TRUE(o.public_metrics);
  EXPECT_EQ(o.max_running, 32);
  EXPECT_EQ(o.max_waiting, 256);
  EXPECT_EQ(o.step_token_budget, 512);
  EXPECT_EQ(o.prefill_chunk, 256);
  EXPECT_EQ(o.max_model_len, 0);
  EXPECT_EQ(o.max_tokens_cap, 0);
  EXPECT_EQ(o.max_body_bytes, 16777216);
  EXPECT_EQ(o.max_header_bytes, 16384);
  EXPECT_EQ(o.max_json_depth, 64);
  EXPECT_EQ(o.max_n, 8);
  EXPECT_EQ(o.request_timeout, 600.0);
  EXPECT_EQ(o.header_read_timeout, 10.0);
  EXPECT_EQ(o.idle_timeout, 60.0);
  EXPECT_EQ(o.sse_keepalive_interval, 5.0);
  EXPECT_EQ(o.stream_buffer_bytes, 1048576);
  EXPECT_EQ(o.shutdown_timeout, 30.0);
  EXPECT_EQ(o.log_format, "text");
  EXPECT_EQ(o.log_level, "info");
  EXPECT_EQ(o.config, "");
  EXPECT_FALSE(o.help_requested);
  EXPECT_FALSE(o.print_config_template);
  EXPECT_TRUE(o.sources.empty());
  EXPECT_TRUE(o.warnings.empty());
}

TEST(OptionsTest, FlagForms) {
  const ServeOptions o = ParseOk({"--port", "9000", "--host=0.0.0.0", "--request-timeout", "1.5",
                                  "--max-body-bytes=17179869184", "--threads", "+4",
                                  "--served-model-name=", "--dtype", "bf16"});
  EXPECT_EQ(o.port, 9000);
  EXPECT_EQ(o.host, "0.0.0.0");
  EXPECT_EQ(o.request_timeout, 1.5);
  EXPECT_EQ(o.max_body_bytes, 17179869184LL);
  EXPECT_EQ(o.threads, 4);
  EXPECT_EQ(o.served_model_name, "");
  EXPECT_EQ(o.dtype, "bf16");
  EXPECT_EQ(SourceOf(o, "port"), "cli");
  EXPECT_EQ(SourceOf(o, "served-model-name"), "cli");
  EXPECT_EQ(SourceOf(o, "idle-timeout"), "default");
}

TEST(OptionsTest, BoolFlags) {
  EXPECT_FALSE(ParseOk({"--public-metrics=false"}).public_metrics);
  EXPECT_TRUE(ParseOk({"--public-metrics=false", "--public-metrics"}).public_metrics);
  EXPECT_FALSE(ParseOk({"--public-metrics=NO"}).public_metrics);
  EXPECT_FALSE(ParseOk({"--public-metrics=0"}).public_metrics);
  EXPECT_TRUE(ParseOk({"--public-metrics=on"}).public_metrics);
  EXPECT_FALSE(ParseOk({}, {{"GOLDFINCH_PUBLIC_METRICS", "false"}}).public_metrics);
  // A bare bool flag does not swallow the next argument.
  EXPECT_EQ(ParseError({"--public-metrics", "false"}),
            "command line: unexpected argument 'false' (options are written --name value or "
            "--name=value)");
  EXPECT_EQ(ParseError({"--public-metrics=maybe"}),
            "command line --public-metrics: public-metrics must be true or false, got 'maybe'");
}

TEST(OptionsTest, CommandLineErrors) {
  EXPECT_EQ(ParseError({"--port"}), "command line --port: missing value");
  EXPECT_EQ(ParseError({"--host", "--port", "1"}), "command line --host: missing value");
  EXPECT_EQ(ParseError({"--prot=8000"}), "command line: unknown option '--prot' (see --help)");
  EXPECT_EQ(ParseError({"-p", "1"}),
            "command line: unexpected argument '-p' (options are written --name value or "
            "--name=value)");
  EXPECT_EQ(ParseError({"--"}),
            "command line: unexpected argument '--' (options are written --name value or "
            "--name=value)");
  // A mistyped secret flag does not echo the secret.
  const std::string msg = ParseError({"--api-keyy=sk-very-secret"});
  EXPECT_EQ(msg, "command line: unknown option '--api-keyy' (see --help)");
  EXPECT_EQ(msg.find("sk-very-secret"), std::string::npos);
}

TEST(OptionsTest, NumberValidation) {
  EXPECT_EQ(ParseError({"--port", "abc"}),
            "command line --port: port must be an integer, got 'abc'");
  EXPECT_EQ(ParseError({"--port", "80.5"}),
            "command line --port: port must be an integer, got '80.5'");
  EXPECT_EQ(ParseError({"--port", ""}), "command line --port: port must be an integer, got ''");
  EXPECT_EQ(ParseError({"--port", "70000"}),
            "command line --port: port must be >= 0 and <= 65535, got 70000");
  EXPECT_EQ(ParseError({"--port=-1"}),
            "command line --port: port must be >= 0 and <= 65535, got -1");
  EXPECT_EQ(ParseOk({"--port=0"}).port, 0);
  EXPECT_EQ(ParseOk({"--port=65535"}).port, 65535);
  EXPECT_EQ(ParseError({"--threads", "99999999999999999999"}),
            "command line --threads: threads must be an integer, got '99999999999999999999'");
  EXPECT_EQ(ParseError({"--http-threads", "0"}),
            "command line --http-threads: http-threads must be >= 1 and <= 1024, got 0");
  EXPECT_EQ(ParseError({"--max-body-bytes", "0"}),
            "command line --max-body-bytes: max-body-bytes must be >= 1 and <= 17179869184, got 0");
  EXPECT_EQ(ParseError({"--request-timeout", "0"}),
            "command line --request-timeout: request-timeout must be > 0 and <= 10000000, got 0");
  EXPECT_EQ(ParseError({"--request-timeout", "nan"}),
            "command line --request-timeout: request-timeout must be a number, got 'nan'");
  EXPECT_EQ(ParseError({"--sse-keepalive-interval", "inf"}),
            "command line --sse-keepalive-interval: sse-keepalive-interval must be a number, got "
            "'inf'");
  EXPECT_EQ(ParseError({"--idle-timeout", "-1"}),
            "command line --idle-timeout: idle-timeout must be > 0 and <= 1000000, got -1");
  EXPECT_EQ(ParseOk({"--shutdown-timeout", "0"}).shutdown_timeout, 0.0);
  EXPECT_EQ(ParseOk({"--header-read-timeout", "2e1"}).header_read_timeout, 20.0);
}

TEST(OptionsTest, ChoicesAndNonEmpty) {
  EXPECT_EQ(ParseError({"--dtype", "fp16"}),
            "command line --dtype: dtype must be one of \"\", f32, bf16, got 'fp16'");
  EXPECT_EQ(ParseOk({"--dtype", "f32", "--dtype="}).dtype, "");
  EXPECT_EQ(ParseError({"--log-format", "xml"}),
            "command line --log-format: log-format must be one of text, json, got 'xml'");
  EXPECT_EQ(ParseOk({"--log-level", "warn"}).log_level, "warn");
  EXPECT_EQ(ParseError({"--log-level", "WARN"}),
            "command line --log-level: log-level must be one of trace, debug, info, warn, error, "
            "got 'WARN'");
  EXPECT_EQ(ParseError({"--host="}), "command line --host: host must not be empty");
}

TEST(OptionsTest, EnvironmentVariables) {
  const ServeOptions o = ParseOk({}, {{"GOLDFINCH_PORT", "9001"},
                                      {"GOLDFINCH_MAX_BODY_BYTES", "1024"},
                                      {"GOLDFINCH_API_KEY", " sk-a, sk-b,,sk-c "},
                                      {"GOLDFINCH_HOST", ""},  // empty = unset
                                      {"GOLDFINCH_PROT", "1"},
                                      {"PORT", "1"}});
  EXPECT_EQ(o.port, 9001);
  EXPECT_EQ(o.max_body_bytes, 1024);
  EXPECT_EQ(o.api_key, (std::vector<std::string>{"sk-a", "sk-b", "sk-c"}));
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(SourceOf(o, "port"), "env");
  EXPECT_EQ(SourceOf(o, "host"), "default");
  EXPECT_EQ(o.warnings,
            (std::vector<std::string>{"ignoring unknown environment variable GOLDFINCH_PROT"}));
  EXPECT_EQ(ParseError({}, {{"GOLDFINCH_PORT", "x"}}),
            "environment variable GOLDFINCH_PORT: port must be an integer, got 'x'");
  EXPECT_EQ(EnvNameFor("max-body-bytes"), "GOLDFINCH_MAX_BODY_BYTES");
  EXPECT_EQ(EnvNameFor("config"), "GOLDFINCH_CONFIG");
}

TEST(OptionsTest, StringListsAppendWithinASourceAndReplaceAcrossSources) {
  const ServeOptions o =
      ParseOk({"--api-key", "k1", "--api-key=k2,k3"}, {{"GOLDFINCH_API_KEY", "e1"}});
  EXPECT_EQ(o.api_key, (std::vector<std::string>{"k1", "k2", "k3"}));
  EXPECT_EQ(SourceOf(o, "api-key"), "cli");
}

TEST(OptionsTest, PrecedenceCliOverEnvOverFileOverDefaults) {
  const std::string path = WriteFile("precedence.toml",
                                     "port = 1\n"
                                     "max_running = 5\n"
                                     "max-waiting = 6\n"
                                     "api_key = [\"f1\", \"f2\"]\n"
                                     "request_timeout = 7\n");
  const Env env = {
      {"GOLDFINCH_CONFIG", path}, {"GOLDFINCH_PORT", "2"}, {"GOLDFINCH_MAX_RUNNING", "9"}};
  const ServeOptions all = ParseOk({"--port", "3"}, env);
  EXPECT_EQ(all.port, 3);
  EXPECT_EQ(SourceOf(all, "port"), "cli");
  EXPECT_EQ(all.max_running, 9);
  EXPECT_EQ(SourceOf(all, "max-running"), "env");
  EXPECT_EQ(all.max_waiting, 6);
  EXPECT_EQ(SourceOf(all, "max-waiting"), "config file");
  EXPECT_EQ(all.api_key, (std::vector<std::string>{"f1", "f2"}));
  EXPECT_EQ(all.request_timeout, 7.0);  // an integer is accepted for a float option
  EXPECT_EQ(all.config, path);
  EXPECT_EQ(SourceOf(all, "config"), "env");
  EXPECT_EQ(all.http_threads, 2);
  EXPECT_EQ(SourceOf(all, "http-threads"), "default");

  EXPECT_EQ(ParseOk({}, env).port, 2);
  EXPECT_EQ(ParseOk({}, {{"GOLDFINCH_CONFIG", path}}).port, 1);
  EXPECT_EQ(ParseOk({"--config", path}).port, 1);
}

TEST(OptionsTest, CommandLineConfigPathBeatsEnvironment) {
  const std::string a = WriteFile("a.toml", "port = 1111\n");
  const std::string b = WriteFile("b.toml", "port = 2222\n");
  const ServeOptions o = ParseOk({"--config=" + b}, {{"GOLDFINCH_CONFIG", a}});
  EXPECT_EQ(o.port, 2222);
  EXPECT_EQ(o.config, b);
  EXPECT_EQ(SourceOf(o, "config"), "cli");
}

TEST(OptionsTest, ConfigFileErrorsNameLineAndFile) {
  const std::string unknown = WriteFile("unknown.toml", "# c\n\nport = 1\n\n\n# x\nprot = 8000\n");
  EXPECT_EQ(ParseError({"--config", unknown}),
            "config file line 7: unknown key 'prot' (in " + unknown + ")");
  const std::string typed = WriteFile("typed.toml", "port = \"8000\"\n");
  EXPECT_EQ(ParseError({"--config", typed}),
            "config file line 1: port must be an integer, got string (in " + typed + ")");
  const std::string range = WriteFile("range.toml", "\nport = 65536\n");
  EXPECT_EQ(ParseError({"--config", range}),
            "config file line 2: port must be >= 0 and <= 65535, got 65536 (in " + range + ")");
  const std::string dup = WriteFile("dup.toml", "max_n = 2\nmax-n = 3\n");
  EXPECT_EQ(ParseError({"--config", dup}),
            "config file line 2: 'max-n' is already set on line 1 (in " + dup + ")");
  const std::string self = WriteFile("self.toml", "config = \"x.toml\"\n");
  EXPECT_EQ(ParseError({"--config", self}),
            "config file line 1: 'config' cannot be set in a config file (in " + self + ")");
  const std::string syntax = WriteFile("syntax.toml", "port = 1\n[server]\n");
  EXPECT_EQ(ParseError({"--config", syntax}),
            "config file line 2: tables ([section]) are not supported (in " + syntax + ")");
  const std::string list = WriteFile("list.toml", "api_key = \"k\"\n");
  EXPECT_EQ(ParseError({"--config", list}),
            "config file line 1: api-key must be an array of strings ([\"a\", \"b\"]), got string "
            "(in " +
                list + ")");
  const std::string flag = WriteFile("flag.toml", "public_metrics = 1\n");
  EXPECT_EQ(
      ParseError({"--config", flag}),
      "config file line 1: public-metrics must be true or false, got integer (in " + flag + ")");

  auto missing = ParseServeOptions(Args{"--config", "/nonexistent/gf.toml"}, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "cannot open config file '/nonexistent/gf.toml' (in /nonexistent/gf.toml)");
}

TEST(OptionsTest, HelpAndTemplateActionsSkipEnvironmentAndConfig) {
  const Env broken = {{"GOLDFINCH_CONFIG", "/nonexistent/gf.toml"}, {"GOLDFINCH_PORT", "x"}};
  EXPECT_TRUE(ParseOk({"--help"}, broken).help_requested);
  EXPECT_TRUE(ParseOk({"-h"}, broken).help_requested);
  EXPECT_TRUE(ParseOk({"--print-config-template"}, broken).print_config_template);
  EXPECT_EQ(ParseOk({"--help"}, broken).port, 8000);
}

TEST(OptionsTest, ArgcArgvOverload) {
  char a0[] = "--port";
  char a1[] = "1234";
  char a2[] = "--log-format=json";
  char* argv[] = {a0, a1, a2, nullptr};
  auto parsed = ParseServeOptions(3, argv, {});
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->port, 1234);
  EXPECT_EQ(parsed->log_format, "json");
}

TEST(OptionsTest, HelpTextListsEveryOptionWithDefaultAndEnv) {
  const std::string help = HelpText();
  for (const EffectiveSetting& s : EffectiveConfig(ServeOptions{})) {
    const std::string flag = "\n  --" + s.name + " ";
    EXPECT_NE(help.find(flag), std::string::npos) << s.name;
    EXPECT_NE(help.find(EnvNameFor(s.name) + "."), std::string::npos) << s.name;
  }
  EXPECT_NE(
      help.find("  --port INT\n      TCP port to listen on; 0 = pick a free port. Default: 8000; "
                "range [0, 65535]; env\n      GOLDFINCH_PORT.\n"),
      std::string::npos)
      << help;
  EXPECT_NE(help.find("  --dtype f32|bf16\n"), std::string::npos);
  EXPECT_NE(help.find("  --public-metrics [=true|false]\n"), std::string::npos);
  EXPECT_NE(help.find("\nTimeouts:\n"), std::string::npos);
  EXPECT_NE(help.find("  --print-config-template\n"), std::string::npos);
  for (const std::string_view line : {std::string_view(help)}) {
    std::istringstream lines{std::string(line)};
    std::string l;
    while (std::getline(lines, l)) EXPECT_LE(l.size(), 100u) << l;
  }
}

TEST(OptionsTest, CheckedInConfigTemplateIsCurrent) {
  const std::string path = testing::SourceDir() + "/config/goldfinch.toml";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in)
      << "missing " << path
      << "; regenerate: goldfinch serve --print-config-template > config/goldfinch.toml";
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), ConfigTemplate())
      << "config/goldfinch.toml is stale; regenerate it from the option table with\n"
         "  goldfinch serve --print-config-template > config/goldfinch.toml";
}

TEST(OptionsTest, TemplateUncommentedReproducesDefaults) {
  const std::string tmpl = ConfigTemplate();
  // As shipped, every setting is commented out.
  auto as_is = ParseConfigText(tmpl);
  ASSERT_TRUE(as_is.ok()) << as_is.status().ToString();
  EXPECT_TRUE(as_is->empty());

  std::istringstream lines(tmpl);
  std::string line, uncommented;
  int settings = 0;
  while (std::getline(lines, line)) {
    if (line.size() > 1 && line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' &&
        line.find(" = ") != std::string::npos) {
      uncommented += line.substr(1) + "\n";
      ++settings;
    }
  }
  const std::vector<EffectiveSetting> defaults = EffectiveConfig(ServeOptions{});
  EXPECT_EQ(settings, static_cast<int>(defaults.size()) - 1);  // all but 'config'
  const ServeOptions o = ParseOk({"--config", WriteFile("template.toml", uncommented)});
  const std::vector<EffectiveSetting> loaded = EffectiveConfig(o);
  ASSERT_EQ(loaded.size(), defaults.size());
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    EXPECT_EQ(loaded[i].name, defaults[i].name);
    if (loaded[i].name == "config") {
      EXPECT_EQ(loaded[i].source, "cli");
      continue;
    }
    EXPECT_EQ(loaded[i].display, defaults[i].display) << loaded[i].name;
    EXPECT_EQ(loaded[i].source, "config file") << loaded[i].name;
  }
}

TEST(OptionsTest, EffectiveConfigRedactsSecrets) {
  const ServeOptions o = ParseOk({"--port", "9000", "--host", "0.0.0.0"},
                                 {{"GOLDFINCH_API_KEY", "sk-secret-1,sk-secret-2"}});
  const std::vector<std::string> lines = EffectiveConfigLines(o);
  std::string all;
  for (const std::string& l : lines) all += l + "\n";
  EXPECT_EQ(all.find("sk-secret"), std::string::npos) << all;
  EXPECT_NE(all.find("\nport = 9000  # cli\n"), std::string::npos) << all;
  EXPECT_NE(all.find("\nhost = \"0.0.0.0\"  # cli\n"), std::string::npos) << all;
  EXPECT_NE(all.find("\napi-key = \"<redacted>\"  # env\n"), std::string::npos) << all;
  EXPECT_NE(all.find("\nrequest-timeout = 600.0  # default\n"), std::string::npos) << all;
  EXPECT_NE(all.find("\npublic-metrics = true  # default\n"), std::string::npos) << all;
  EXPECT_EQ(lines.front(), "model = \"\"  # default");

  for (const EffectiveSetting& s : EffectiveConfig(o)) {
    if (s.name != "api-key") continue;
    EXPECT_EQ(std::get<std::string>(s.value), "<redacted>");
  }
  // No keys: shown as an empty list, which says that auth is off.
  const ServeOptions none = ParseOk({});
  for (const EffectiveSetting& s : EffectiveConfig(none)) {
    if (s.name == "api-key") {
      EXPECT_EQ(s.display, "[]");
    } else if (s.name == "max-body-bytes") {
      EXPECT_EQ(std::get<std::int64_t>(s.value), 16777216);
    } else if (s.name == "port") {
      EXPECT_EQ(std::get<std::int64_t>(s.value), 8000);
    }
  }
}

// ---- The TOML-subset parser ----

TEST(ConfigFileTest, ParsesTheSubset) {
  auto entries = ParseConfigText(
      "# comment\r\n"
      "  a = \"x \\\"q\\\" \\\\ \\n \\t \\r \\u00e9\"   # trailing comment\r\n"
      "\n"
      "b-c = -42\n"
      "d_e = 1.5e3\n"
      "f = true\n"
      "g = false\n"
      "h = [\"x\", \"y#z\",]\n"
      "i = []\n"
      "j = +7\n"
      "k = -0.25\n"
      "l = \"\"");
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 10u);
  const auto& e = *entries;
  EXPECT_EQ(e[0].key, "a");
  EXPECT_EQ(e[0].line, 2);
  EXPECT_EQ(std::get<std::string>(e[0].value), "x \"q\" \\ \n \t \r \xC3\xA9");
  EXPECT_EQ(e[1].key, "b-c");
  EXPECT_EQ(e[1].line, 4);
  EXPECT_EQ(std::get<std::int64_t>(e[1].value), -42);
  EXPECT_EQ(std::get<double>(e[2].value), 1500.0);
  EXPECT_EQ(std::get<bool>(e[3].value), true);
  EXPECT_EQ(std::get<bool>(e[4].value), false);
  EXPECT_EQ(std::get<std::vector<std::string>>(e[5].value), (std::vector<std::string>{"x", "y#z"}));
  EXPECT_TRUE(std::get<std::vector<std::string>>(e[6].value).empty());
  EXPECT_EQ(std::get<std::int64_t>(e[7].value), 7);
  EXPECT_EQ(std::get<double>(e[8].value), -0.25);
  EXPECT_EQ(std::get<std::string>(e[9].value), "");
  EXPECT_EQ(e[9].line, 12);
}

TEST(ConfigFileTest, RejectsEverythingElseWithTheLine) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[server]", "config file line 1: tables ([section]) are not supported"},
      {"a.b = 1", "config file line 1: dotted keys are not supported ('a.')"},
      {"\"a\" = 1", "config file line 1: quoted keys are not supported"},
      {"a = 'x'", "config file line 1: literal strings ('...') are not supported; use \"...\""},
      {"a = \"x", "config file line 1: unterminated string (strings must end on their line)"},
      {"a = \"x\\", "config file line 1: unterminated string (strings must end on their line)"},
      {"a = \"\\x41\"",
       "config file line 1: unsupported escape '\\x' (use \\\" \\\\ \\n \\t \\r \\uXXXX)"},
      {"a = \"\\u12\"", "config file line 1: bad \\u escape: need 4 hex digits"},
      {"a = \"\\ud800\"", "config file line 1: bad \\u escape: surrogate"},
      {"a = \"\\u0000\"", "config file line 1: \\u0000 is not allowed in strings"},
      {"a = \"x\x01\"", "config file line 1: control character in a string (escape it)"},
      {"a 1", "config file line 1: expected '=' after the key"},
      {"a =", "config file line 1: missing value after '='"},
      {"a = # no", "config file line 1: missing value after '='"},
      {"a = 1 2", "config file line 1: unexpected text after the value: '2'"},
      {"a = \"x\" y", "config file line 1: unexpected text after the value: 'y'"},
      {"a = bare",
       "config file line 1: bad value 'bare' (strings need double quotes; numbers, true, "
       "false and [\"arrays\"] are bare)"},
      {"a = 1.",
       "config file line 1: bad value '1.' (strings need double quotes; numbers, true, "
       "false and [\"arrays\"] are bare)"},
      {"a = inf",
       "config file line 1: bad value 'inf' (strings need double quotes; numbers, true, "
       "false and [\"arrays\"] are bare)"},
      {"a = 1_000",
       "config file line 1: bad value '1_000' (strings need double quotes; numbers, "
       "true, false and [\"arrays\"] are bare)"},
      {"a = 9223372036854775808",
       "config file line 1: integer out of range: '9223372036854775808'"},
      {"a = 1e999", "config file line 1: float out of range: '1e999'"},
      {"a = [1]", "config file line 1: arrays may hold only strings (\"...\")"},
      {"a = [\"x\" \"y\"]", "config file line 1: expected ',' or ']' in the array"},
      {"a = [\"x\",", "config file line 1: unterminated array (arrays must end on their line)"},
      {"= 1", "config file line 1: expected 'key = value', got '= 1'"},
      {"a = 1\na = 2", "config file line 2: duplicate key 'a'"},
      {std::string("a = 1\n\nb = \"x\0y\"", 16), "config file line 3: NUL byte"},
  };
  for (const auto& [text, message] : cases) {
    auto parsed = ParseConfigText(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(parsed.status().message(), message) << text;
  }
  auto min = ParseConfigText("a = -9223372036854775808");
  ASSERT_TRUE(min.ok());
  EXPECT_EQ(std::get<std::int64_t>((*min)[0].value), INT64_MIN);
}

TEST(ConfigFileTest, TomlQuoteRoundTrips) {
  const std::string nasty = "a\"b\\c\nd\te\rf\x01g\x7Fh \xC3\xA9 \xFF";
  EXPECT_EQ(TomlQuote(nasty), "\"a\\\"b\\\\c\\nd\\te\\rf\\u0001g\\u007fh \xC3\xA9 \xFF\"");
  auto parsed = ParseConfigText("k = " + TomlQuote(nasty));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(std::get<std::string>((*parsed)[0].value), nasty);
}

}  // namespace
}  // namespace gf::server
