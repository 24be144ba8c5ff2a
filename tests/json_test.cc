// Tests for the strict JSON reader/writer (engine/util/json.h).
#include "engine/util/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "tests/test_support.h"

namespace gf {
namespace {

JsonValue MustParse(const std::string& text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << text << " -> " << v.status().ToString();
  return v.ok() ? v.value() : JsonValue();
}

// Asserts that `text` is rejected with InvalidArgument and a message containing `needle`.
void ExpectRejected(const std::string& text, const std::string& needle) {
  auto v = ParseJson(text);
  ASSERT_FALSE(v.ok()) << "accepted: " << text;
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find(needle), std::string::npos)
      << "message: " << v.status().message() << " (wanted '" << needle << "')";
}

TEST(JsonTest, ParsesScalars) {
  EXPECT_TRUE(MustParse("null").is_null());
  EXPECT_TRUE(MustParse("true").as_bool());
  EXPECT_FALSE(MustParse(" false ").as_bool());
  EXPECT_EQ(MustParse("\"hi\"").as_string(), "hi");
}

TEST(JsonTest, ParsesObjectsKeepingOrder) {
  const JsonValue v = MustParse(R"({"b": 1, "a": [true, null, "x"], "c": {"d": -2}})");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.members().size(), 3u);
  EXPECT_EQ(v.members()[0].first, "b");
  EXPECT_EQ(v.members()[1].first, "a");
  EXPECT_EQ(v.members()[2].first, "c");
  ASSERT_NE(v.Find("a"), nullptr);
  ASSERT_EQ(v.Find("a")->items().size(), 3u);
  EXPECT_TRUE(v.Find("a")->items()[0].as_bool());
  EXPECT_TRUE(v.Find("a")->items()[1].is_null());
  EXPECT_EQ(v.Find("a")->items()[2].as_string(), "x");
  EXPECT_EQ(v.Find("c")->Find("d")->as_int(), -2);
  EXPECT_EQ(v.Find("missing"), nullptr);
  EXPECT_EQ(v.Find("b")->Find("x"), nullptr);  // not an object
  EXPECT_TRUE(MustParse("{}").members().empty());
  EXPECT_TRUE(MustParse("[ ]").items().empty());
}

TEST(JsonTest, Numbers) {
  const JsonValue i = MustParse("123");
  EXPECT_TRUE(i.is_integer());
  EXPECT_EQ(i.as_int(), 123);
  EXPECT_EQ(i.as_double(), 123.0);
  EXPECT_EQ(MustParse("-0").as_int(), 0);
  EXPECT_TRUE(MustParse("-0").is_integer());
  EXPECT_EQ(MustParse("9223372036854775807").as_int(), INT64_MAX);
  EXPECT_EQ(MustParse("-9223372036854775808").as_int(), INT64_MIN);
  // Beyond int64: still a number, no longer an integer.
  const JsonValue big = MustParse("9223372036854775808");
  EXPECT_TRUE(big.is_number());
  EXPECT_FALSE(big.is_integer());
  EXPECT_EQ(big.as_double(), 9223372036854775808.0);

  const JsonValue f = MustParse("3.0");
  EXPECT_TRUE(f.is_number());
  EXPECT_FALSE(f.is_integer());
  EXPECT_EQ(f.as_double(), 3.0);
  EXPECT_EQ(MustParse("1e-05").as_double(), 1e-05);
  EXPECT_EQ(MustParse("-2.5E+3").as_double(), -2500.0);
  EXPECT_FALSE(MustParse("1e2").is_integer());
  EXPECT_EQ(MustParse("0.1").as_double(), 0.1);
  // Underflow rounds to zero; overflow is an error.
  EXPECT_EQ(MustParse("1e-400").as_double(), 0.0);
  EXPECT_TRUE(std::signbit(MustParse("-1e-400").as_double()));
  EXPECT_EQ(MustParse("0.000000000000000000000000000000000000000000000000000000000000000000000000000"
                      "000000000000000000000000000000000000000000000000000000000000000000000000000000"
                      "000000000000000000000000000000000000000000000000000000000000000000000000000000"
                      "000000000000000000000000000000000000000000000000000000000000000000000000000000"
                      "00000000000000000000001")
                .as_double(),
            0.0);
  ExpectRejected("1e400", "out of range");
  ExpectRejected("-1e99999999999999999999", "out of range");
}

TEST(JsonTest, RejectsMalformedNumbers) {
  ExpectRejected("01", "leading zero");
  ExpectRejected("-", "invalid number");
  ExpectRejected("1.", "digit expected");
  ExpectRejected(".5", "unexpected character");
  ExpectRejected("1e", "exponent");
  ExpectRejected("+1", "unexpected character");
  ExpectRejected("0x10", "trailing");
  ExpectRejected("NaN", "unexpected character");
  ExpectRejected("Infinity", "unexpected character");
}

TEST(JsonTest, StringEscapes) {
  EXPECT_EQ(MustParse(R"("a\"b\\c\/d\b\f\n\r\t")").as_string(), "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(MustParse(R"("\u0041\u00e9\u20AC")").as_string(), "A\xC3\xA9\xE2\x82\xAC");
  // Surrogate pair U+1F600.
  EXPECT_EQ(MustParse(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(MustParse(R"("\u0000")").as_string(), std::string(1, '\0'));
  // Raw UTF-8 passes through.
  EXPECT_EQ(MustParse("\"\xE4\xBD\xA0\xF0\x9F\x98\x80\"").as_string(), "\xE4\xBD\xA0\xF0\x9F\x98\x80");
}

TEST(JsonTest, RejectsBadStrings) {
  ExpectRejected(R"("\ud83d")", "unpaired high surrogate");
  ExpectRejected(R"("\ud83d\u0041")", "unpaired high surrogate");
  ExpectRejected(R"("\ude00")", "unpaired low surrogate");
  ExpectRejected(R"("\u12G4")", "invalid hex digit");
  ExpectRejected(R"("\u12")", "truncated \\u escape");
  ExpectRejected(R"("\x")", "invalid escape");
  ExpectRejected("\"abc", "unterminated string");
  ExpectRejected("\"a\nb\"", "control character");
  ExpectRejected("\"\xC3\"", "invalid UTF-8");          // truncated sequence
  ExpectRejected("\"\xC0\xAF\"", "invalid UTF-8");      // overlong '/'
  ExpectRejected("\"\xED\xA0\x80\"", "invalid UTF-8");  // encoded surrogate
  ExpectRejected("\"\xF4\x90\x80\x80\"", "invalid UTF-8");  // > U+10FFFF
  ExpectRejected("\"\xFF\"", "invalid UTF-8");
}

TEST(JsonTest, RejectsStructuralErrors) {
  ExpectRejected("", "unexpected end of input");
  ExpectRejected("   ", "unexpected end of input");
  ExpectRejected("{", "expected a string key");
  ExpectRejected("{\"a\" 1}", "expected ':'");
  ExpectRejected("{\"a\":1,}", "expected a string key");
  ExpectRejected("[1,]", "unexpected character");
  ExpectRejected("[1 2]", "expected ',' or ']'");
  ExpectRejected("{\"a\":1 \"b\":2}", "expected ',' or '}'");
  ExpectRejected("[1", "unexpected end of input in array");
  ExpectRejected("{a:1}", "expected a string key");
  ExpectRejected("tru", "invalid literal");
  ExpectRejected("nulls", "trailing");
  ExpectRejected("{} {}", "trailing");
  ExpectRejected("[1]\x0b", "trailing");
}

TEST(JsonTest, ErrorsReportTheByteOffset) {
  auto v = ParseJson("[1, 2, x]");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("byte offset 7"), std::string::npos) << v.status().message();
}

TEST(JsonTest, RejectsDuplicateKeysNamingThem) {
  ExpectRejected(R"({"n_layer": 4, "x": 1, "n_layer": 5})", "duplicate key \"n_layer\"");
  // Same key in different objects is fine.
  EXPECT_TRUE(ParseJson(R"({"a": {"k": 1}, "b": {"k": 2}})").ok());
}

TEST(JsonTest, DepthLimit) {
  const std::string ok = std::string(64, '[') + std::string(64, ']');
  EXPECT_TRUE(ParseJson(ok).ok());
  const std::string too_deep = std::string(65, '[') + std::string(65, ']');
  ExpectRejected(too_deep, "nesting deeper than 64");
  std::string objects;
  for (int i = 0; i < 65; ++i) objects += "{\"a\":";
  objects += "1" + std::string(65, '}');
  ExpectRejected(objects, "nesting deeper than 64");
  // A very deep input fails cleanly instead of overflowing the stack.
  ExpectRejected(std::string(100000, '['), "nesting deeper than 64");
}

TEST(JsonTest, IgnoresLeadingByteOrderMark) {
  EXPECT_EQ(MustParse("\xEF\xBB\xBF{\"a\":1}").Find("a")->as_int(), 1);
}

TEST(JsonTest, ToJsonRoundTrips) {
  const std::string text =
      R"({"s":"q\"\\\n\u0001\u00e9","i":-42,"d":0.1,"e":1e+300,"a":[true,false,null],"o":{}})";
  const JsonValue v = MustParse(text);
  const std::string out = ToJson(v);
  EXPECT_EQ(out, "{\"s\":\"q\\\"\\\\\\n\\u0001\xC3\xA9\",\"i\":-42,\"d\":0.1,\"e\":1e+300,"
                 "\"a\":[true,false,null],\"o\":{}}");
  const JsonValue back = MustParse(out);
  EXPECT_EQ(back.Find("s")->as_string(), "q\"\\\n\x01\xC3\xA9");
  EXPECT_EQ(back.Find("d")->as_double(), 0.1);
  EXPECT_EQ(back.Find("e")->as_double(), 1e300);
  EXPECT_EQ(ToJson(JsonValue::Number(NAN)), "null");
  EXPECT_EQ(ToJson(JsonValue::Integer(7)), "7");
}

TEST(JsonTest, QuoteEscapesAndKeepsOutputValid) {
  EXPECT_EQ(JsonQuote("a\tb"), "\"a\\tb\"");
  EXPECT_EQ(JsonQuote(std::string("\x7f", 1)), "\"\\u007f\"");
  // Invalid UTF-8 is replaced so that the output always parses.
  EXPECT_EQ(JsonQuote("x\xFFy"), "\"x\\ufffdy\"");
  EXPECT_EQ(MustParse(JsonQuote("x\xFFy")).as_string(), "x\xEF\xBF\xBDy");
}

// Deterministic mutation smoke test over a real config: every result is a value or an
// InvalidArgument (the sanitizer build checks there is no out-of-bounds access).
TEST(JsonTest, MutatedInputsNeverCrash) {
  auto text = ReadFileToString(testing::GoldenCaseDir("gf_L5_D96_hs32_V512_T64_rope10k") + "/config.json");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  ASSERT_TRUE(ParseJson(text.value()).ok());
  std::mt19937 rng(777);
  int rejected = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s = text.value();
    if (iter % 5 == 0) {
      s.resize(rng() % s.size());
    } else {
      const int edits = 1 + static_cast<int>(rng() % 4);
      static constexpr char kBytes[] = "{}[]\\\":,0e-.u\x01\xff\xc3";
      for (int k = 0; k < edits; ++k) s[rng() % s.size()] = kBytes[rng() % (sizeof(kBytes) - 1)];
    }
    auto v = ParseJson(s);
    if (!v.ok()) {
      ++rejected;
      EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_GT(rejected, 1000);
}

TEST(JsonTest, ReadFileToString) {
  const std::string dir = testing::MakeTempDir("json_test");
  const std::string path = dir + "/f.json";
  {
    std::ofstream f(path, std::ios::binary);
    f << std::string("{\"a\":\0}", 7);
  }
  auto text = ReadFileToString(path);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(text.value(), std::string("{\"a\":\0}", 7));
  auto missing = ReadFileToString(dir + "/nope.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.json"), std::string::npos);
  auto directory = ReadFileToString(dir);
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().code(), StatusCode::kDataLoss);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace gf
