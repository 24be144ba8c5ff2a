// A parser for the TOML subset used by goldfinch config files.
//
// Accepted, one per line: `key = value`, blank lines and `# comments` (also after a value).
// Keys are bare: [A-Za-z0-9_-]+. Values:
//   strings  "..." with the escapes \" \\ \n \t \r \uXXXX (no surrogates); raw control
//            characters inside a string are rejected;
//   integers optional sign and decimal digits (64-bit);
//   floats   decimal with '.' and/or an exponent (inf and nan are rejected);
//   booleans true / false;
//   arrays   of strings on one line: ["a", "b"], [] (a trailing comma is allowed).
// Anything else (tables, dotted keys, literal strings, multi-line values, duplicate keys, NUL
// bytes) is an InvalidArgument naming the line: "config file line 7: ...". Input is untrusted;
// the parser never reads out of bounds. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace gf::server {

using ConfigValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::string>>;

struct ConfigEntry {
  std::string key;  // as written in the file
  ConfigValue value;
  int line = 0;  // 1-based
};

// Parses the text of a config file. Entries are in file order.
StatusOr<std::vector<ConfigEntry>> ParseConfigText(std::string_view text);

// Reads and parses a file (NotFound / InvalidArgument naming the path on failure). Files larger
// than 1 MiB are rejected.
StatusOr<std::vector<ConfigEntry>> ParseConfigFile(const std::string& path);

// Renders a string as a TOML basic string that ParseConfigText reads back to the same bytes
// (\" \\ \n \t \r, other control characters as \uXXXX; other bytes, UTF-8 or not, as is).
// NUL is the exception: it is written as \u0000, which the parser rejects.
std::string TomlQuote(std::string_view s);

// "the type name" of a value for error messages: "boolean", "integer", "float", "string", "array".
const char* ConfigValueTypeName(const ConfigValue& value);

}  // namespace gf::server
