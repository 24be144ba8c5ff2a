// The options of `goldfinch serve`: one table, four inputs (flags, GOLDFINCH_* environment
// variables, a TOML-subset config file, defaults) and three outputs (--help text, the config
// template, the effective configuration with secrets redacted).
//
// Contract:
// - Every option is declared exactly once, in GF_SERVE_OPTION_LIST below: field name (the option
//   name is the field with '_' -> '-'), C++ type, default, help group, range, flags, choices and
//   help. The ServeOptions fields, the parser, the env names (GOLDFINCH_<NAME, upper, '-' -> '_'>),
//   the help text and the config template are all generated from it.
// - Precedence: command line > environment > config file (--config PATH or GOLDFINCH_CONFIG) >
//   defaults. A string-list option (api-key) takes the whole list from the highest source that
//   sets it; within one source, values are comma-separated and the flag may repeat (appends).
// - Errors: unknown flags, unknown config keys, malformed values and out-of-range values return
//   InvalidArgument naming the option and the source ("--port: ...", "environment variable
//   GOLDFINCH_PORT: ...", "config file line 7: unknown key 'prot' (in /etc/g.toml)").
//   Unknown GOLDFINCH_* environment variables are not errors (other tools share the prefix); they
//   are reported in ServeOptions::warnings. Empty environment values count as unset.
// - Units: every *-timeout and *-interval is in seconds (double); *-bytes are bytes and also
//   accept unit suffixes (kOptByteSize); cache-snapshot-interval and cache-min-tokens are tokens.
// - Pure functions; no I/O except reading the config file. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace gf::server {

// Option flags (bit set) used in the table.
inline constexpr unsigned kOptNone = 0;
inline constexpr unsigned kOptSecret = 1;        // value never printed: "<redacted>"
inline constexpr unsigned kOptMinExclusive = 2;  // value must be > min (not >= min)
inline constexpr unsigned kOptNotInFile = 4;     // cannot be set from the config file
inline constexpr unsigned kOptNonEmpty = 8;      // a string that must not be empty
// A byte count: flags/env also accept a unit suffix (KiB, MiB, GiB, TiB = powers of 1024;
// KB, MB, GB, TB = powers of 1000; "1GiB" or "1 GiB"); the config file an integer or such a
// string ("1GiB").
inline constexpr unsigned kOptByteSize = 16;

// X(field, type, default, group, min, max, flags, choices, help)
//   min/max: inclusive range for numbers (ignored for other types);
//   choices: nullptr, or the allowed values separated by '|' (an empty alternative allows "").
#define GF_SERVE_OPTION_LIST(X)                                                                    \
  X(model, std::string, "", "Model", 0, 0, kOptNone, nullptr,                                      \
    "Model directory (HF layout: config.json, model.safetensors, tokenizer); empty = the "         \
    "built-in model")                                                                              \
  X(dtype, std::string, "", "Model", 0, 0, kOptNone, "|f32|bf16",                                  \
    "Weight/compute dtype: f32 or bf16; empty = the model's preference")                           \
  X(threads, int, 0, "Model", 0, 4096, kOptNone, nullptr,                                          \
    "Compute threads for the engine; 0 = all cores")                                               \
  X(served_model_name, std::string, "", "Model", 0, 0, kOptNone, nullptr,                          \
    "Model name reported by /v1/models and accepted in requests; empty = the model config name")   \
  X(max_model_len, int, 0, "Model", 0, 16777216, kOptNone, nullptr,                                \
    "Context length limit (prompt + completion tokens); 0 = the model's limit, or 32768")          \
  X(host, std::string, "127.0.0.1", "Network", 0, 0, kOptNonEmpty, nullptr,                        \
    "Address to listen on (0.0.0.0 = all interfaces)")                                             \
  X(port, int, 8000, "Network", 0, 65535, kOptNone, nullptr,                                       \
    "TCP port to listen on; 0 = pick a free port")                                                 \
  X(http_threads, int, 2, "Network", 1, 1024, kOptNone, nullptr,                                   \
    "I/O threads serving HTTP connections")                                                        \
  X(grpc_port, int, 50051, "gRPC", 0, 65535, kOptNone, nullptr,                                    \
    "TCP port of the gRPC API (goldfinch.v1.Inference, health, reflection) on --host; 0 = off")    \
  X(grpc_max_message_bytes, std::int64_t, 16777216, "gRPC", 1, 2147483647, kOptByteSize, nullptr,  \
    "Largest gRPC message received or sent, in bytes")                                             \
  X(grpc_keepalive_time, double, 7200.0, "gRPC", 0, 1e7, kOptMinExclusive, nullptr,                \
    "Seconds between the server's keepalive pings on an idle gRPC connection")                     \
  X(grpc_keepalive_min_client_interval, double, 60.0, "gRPC", 0, 1e7, kOptNone, nullptr,           \
    "Shortest interval, in seconds, at which clients may ping (also without calls); faster "       \
    "pings draw GOAWAY too_many_pings")                                                            \
  X(api_key, std::vector<std::string>, {}, "Auth", 0, 0, kOptSecret, nullptr,                      \
    "API keys accepted as 'Authorization: Bearer KEY' (comma-separated in flags and env); no "     \
    "keys and no key file = auth disabled. Prefer GOLDFINCH_API_KEY or api-key-file over argv")    \
  X(api_key_file, std::string, "", "Auth", 0, 0, kOptNone, nullptr,                                \
    "File with one API key per line, optionally followed by a tenant name; '#' comments")          \
  X(public_metrics, bool, true, "Auth", 0, 0, kOptNone, nullptr,                                   \
    "Serve /metrics without an API key")                                                           \
  X(max_running, int, 32, "Scheduling", 1, 65536, kOptNone, nullptr,                               \
    "Most sequences decoding at once")                                                             \
  X(max_waiting, int, 256, "Scheduling", 0, 16777216, kOptNone, nullptr,                           \
    "Most requests queued before new ones get 429")                                                \
  X(step_token_budget, int, 512, "Scheduling", 1, 16777216, kOptNone, nullptr,                     \
    "Most tokens (prefill + decode) processed in one engine step")                                 \
  X(prefill_chunk, int, 256, "Scheduling", 1, 16777216, kOptNone, nullptr,                         \
    "Most prompt tokens of one sequence prefilled in one step")                                    \
  X(max_tokens_cap, int, 0, "Limits", 0, 16777216, kOptNone, nullptr,                              \
    "Server cap on a request's max_tokens; 0 = none")                                              \
  X(max_body_bytes, std::int64_t, 16777216, "Limits", 1, 17179869184.0, kOptByteSize, nullptr,     \
    "Largest request body accepted, in bytes")                                                     \
  X(max_header_bytes, std::int64_t, 16384, "Limits", 1, 16777216, kOptByteSize, nullptr,           \
    "Largest request header block accepted, in bytes")                                             \
  X(max_json_depth, int, 64, "Limits", 1, 10000, kOptNone, nullptr,                                \
    "Deepest JSON nesting accepted in a request body")                                             \
  X(max_n, int, 8, "Limits", 1, 128, kOptNone, nullptr,                                            \
    "Largest 'n' (choices per request) accepted")                                                  \
  X(stream_buffer_bytes, std::int64_t, 1048576, "Limits", 1, 17179869184.0, kOptByteSize, nullptr, \
    "Outbound buffer per stream, in bytes; a client that falls this far behind is cut off")        \
  X(request_timeout, double, 600.0, "Timeouts", 0, 1e7, kOptMinExclusive, nullptr,                 \
    "Longest a request may run (queueing included), in seconds")                                   \
  X(header_read_timeout, double, 10.0, "Timeouts", 0, 1e6, kOptMinExclusive, nullptr,              \
    "Time allowed to receive a request's headers, in seconds")                                     \
  X(idle_timeout, double, 60.0, "Timeouts", 0, 1e6, kOptMinExclusive, nullptr,                     \
    "Idle keep-alive connections are closed after this many seconds")                              \
  X(sse_keepalive_interval, double, 5.0, "Timeouts", 0, 3600, kOptMinExclusive, nullptr,           \
    "Seconds between ':' keep-alive comments on a quiet stream")                                   \
  X(shutdown_timeout, double, 30.0, "Timeouts", 0, 1e6, kOptNone, nullptr,                         \
    "On SIGTERM, seconds to let running requests finish before they are cancelled")                \
  X(cache, bool, true, "Prefix cache", 0, 0, kOptNone, nullptr,                                    \
    "Reuse the model state of repeated prompt prefixes across requests (memory tier, plus a disk " \
    "tier unless cache-dir is none); false = no prefix cache")                                     \
  X(cache_dir, std::string, "", "Prefix cache", 0, 0, kOptNone, nullptr,                           \
    "Directory of the disk tier; empty = ${XDG_CACHE_HOME:-$HOME/.cache}/goldfinch/prefix-cache; " \
    "none = memory tier only. One server per directory; if it is in use or not writable the "      \
    "server runs memory-only")                                                                     \
  X(cache_memory_bytes, std::int64_t, 1073741824, "Prefix cache", 0, 1099511627776.0,              \
    kOptByteSize, nullptr, "Byte budget of the memory tier; 0 = no memory tier")                   \
  X(cache_disk_bytes, std::int64_t, 17179869184, "Prefix cache", 0, 1125899906842624.0,            \
    kOptByteSize, nullptr, "Byte budget of the disk tier; 0 = no disk tier")                       \
  X(cache_hot_bytes, std::int64_t, 1073741824, "Prefix cache", 0, 1099511627776.0,                 \
    kOptByteSize, nullptr,                                                                        \
    "Byte budget of the hot tier: finished states kept with their attention K/V, so a restored "  \
    "prefix copies K/V instead of rebuilding it; 0 = off")                                         \
  X(cache_secret, std::string, "", "Prefix cache", 0, 0, kOptSecret, nullptr,                      \
    "Key (at least 16 bytes) of the per-tenant cache namespaces; empty = <cache-dir>/secret, "     \
    "created on first start (random per process when memory-only). Prefer "                        \
    "GOLDFINCH_CACHE_SECRET over argv")                                                            \
  X(cache_snapshot_interval, int, 2048, "Prefix cache", 1, 16777216, kOptNone, nullptr,            \
    "Inside long prompts, store a snapshot every this many tokens")                                \
  X(cache_min_tokens, int, 32, "Prefix cache", 1, 16777216, kOptNone, nullptr,                     \
    "Shortest prefix, in tokens, worth storing (shorter ones are recomputed)")                     \
  X(cache_max_contexts, int, 1024, "Prefix cache", 1, 1048576, kOptNone, nullptr,                  \
    "Most named contexts (/v1/contexts) alive at once per tenant and cache_salt")                  \
  X(log_format, std::string, "text", "Logging", 0, 0, kOptNone, "text|json",                       \
    "Log format: text (human readable) or json (one JSON object per line)")                        \
  X(log_level, std::string, "info", "Logging", 0, 0, kOptNone, "trace|debug|info|warn|error",      \
    "Lowest level logged")                                                                         \
  X(config, std::string, "", "Config", 0, 0, kOptNotInFile, nullptr,                               \
    "TOML config file (keys = option names); see config/goldfinch.toml")

struct ServeOptions {
#define GF_SERVE_OPTION_FIELD_(field, type, def, group, lo, hi, flags, choices, help) \
  type field = def;
  GF_SERVE_OPTION_LIST(GF_SERVE_OPTION_FIELD_)
#undef GF_SERVE_OPTION_FIELD_

  // Action flags (not options: no env twin, not in the config file).
  bool help_requested = false;         // --help / -h
  bool print_config_template = false;  // --print-config-template

  // Where each option's value came from, keyed by option name ("port"); absent = default.
  std::map<std::string, std::string> sources;
  // Non-fatal findings (e.g. unknown GOLDFINCH_* environment variables), to be logged.
  std::vector<std::string> warnings;
};

// Where a value came from, as named in sources / EffectiveSetting::source.
inline constexpr const char* kSourceDefault = "default";
inline constexpr const char* kSourceConfigFile = "config file";
inline constexpr const char* kSourceEnv = "env";
inline constexpr const char* kSourceCli = "cli";

// argv holds the arguments after "serve" (argv[0] is the first option, not a program name).
// env: the process environment (or any subset; only GOLDFINCH_* names are looked at).
StatusOr<ServeOptions> ParseServeOptions(int argc, char** argv,
                                         const std::map<std::string, std::string>& env);
StatusOr<ServeOptions> ParseServeOptions(const std::vector<std::string>& args,
                                         const std::map<std::string, std::string>& env);

// The GOLDFINCH_* variables of this process's environment.
std::map<std::string, std::string> GoldfinchEnvironment();

// "GOLDFINCH_MAX_BODY_BYTES" for "max-body-bytes".
std::string EnvNameFor(std::string_view option_name);

// `goldfinch serve --help`: usage, then every option by group with its type, default, env name
// and help.
std::string HelpText();

// `goldfinch serve --print-config-template`: the checked-in config/goldfinch.toml, byte for byte.
// Every setting is present, commented out ("#port = 8000"), with its help above it.
std::string ConfigTemplate();

// A typed option value; secrets hold the string "<redacted>" (or an empty list when unset).
using EffectiveValue =
    std::variant<bool, std::int64_t, double, std::string, std::vector<std::string>>;

struct EffectiveSetting {
  std::string name;  // "max-body-bytes"
  EffectiveValue value;
  std::string display;  // TOML literal: "127.0.0.1" in quotes, 8000, true, ["a"], "<redacted>"
  std::string source;   // kSourceDefault, kSourceConfigFile, kSourceEnv or kSourceCli
};

// All options in table order, secrets redacted.
std::vector<EffectiveSetting> EffectiveConfig(const ServeOptions& options);
// "port = 8000  # default" per option, secrets redacted.
std::vector<std::string> EffectiveConfigLines(const ServeOptions& options);

}  // namespace gf::server
