// A small JSON reader for config files and test data (the engine may not depend on a JSON
// library). Parses RFC 8259 JSON into a JsonValue tree: objects keep key order, numbers keep
// both their double value and whether they were written as integers; strings are UTF-8
// (\uXXXX escapes and surrogate pairs decoded). Limits: nesting depth <= 64, input <= 256 MiB.
// Strict: raw strings must be valid UTF-8, lone surrogate escapes, duplicate object keys (the
// error names the key), numbers that overflow a double and anything after the value are
// rejected; a number that underflows becomes 0; a leading UTF-8 BOM is skipped.
// Errors are InvalidArgument with the byte offset. Values are plain data (thread-safe to read).
// Writing: ToJson prints NaN/infinity as null, JsonQuote replaces invalid UTF-8 by U+FFFD, so the
// output always parses.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace gf {

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }
  // True for a number written without fraction/exponent that fits in int64.
  bool is_integer() const { return type_ == Type::kNumber && is_integer_; }

  bool as_bool() const { return bool_; }
  double as_double() const { return number_; }
  int64_t as_int() const { return integer_; }
  const std::string& as_string() const { return string_; }
  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }

  // Object member lookup (nullptr when absent or not an object).
  const JsonValue* Find(std::string_view key) const;

  static JsonValue Null() { return JsonValue(); }
  static JsonValue Bool(bool b);
  static JsonValue Number(double d);
  static JsonValue Integer(int64_t i);
  static JsonValue String(std::string s);
  static JsonValue Array(std::vector<JsonValue> items);
  static JsonValue Object(std::vector<std::pair<std::string, JsonValue>> members);

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  bool is_integer_ = false;
  double number_ = 0;
  int64_t integer_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

StatusOr<JsonValue> ParseJson(std::string_view text);

// Serialises a value compactly (used to write metadata); strings are escaped.
std::string ToJson(const JsonValue& value);
// Escapes a string as a JSON string literal including the quotes.
std::string JsonQuote(std::string_view s);

// Reads a whole file into a string (NotFound / DataLoss on failure).
StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace gf
