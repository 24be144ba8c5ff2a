// World tokenizer: the real 65,529-entry vocabulary (every entry decodes to its bytes and
// encodes back to itself), the golden encodings of the upstream trie tokenizer, an
// independent greedy-longest-match oracle on random inputs, and malformed vocabularies.
#include "engine/tokenizer/world_tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/util/json.h"
#include "tests/test_support.h"

namespace gf {
namespace {

std::string VocabPath() { return testing::SharedDir() + "/tokenizers/rwkv_vocab_v20230424.txt"; }

std::string ReadAll(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

std::string Base64Decode(const std::string& text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const size_t value = kAlphabet.find(c);
    if (value == std::string::npos) {
      ADD_FAILURE() << "bad base64 character " << c;
      return out;
    }
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

class WorldVocabTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = WorldTokenizer::Load(VocabPath());
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    tokenizer_ = std::move(loaded).value().release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  static const WorldTokenizer& tok() { return *tokenizer_; }
  static WorldTokenizer* tokenizer_;
};
WorldTokenizer* WorldVocabTest::tokenizer_ = nullptr;

TEST_F(WorldVocabTest, HasTheExpectedEntries) {
  EXPECT_EQ(tok().num_entries(), 65529);
  EXPECT_EQ(tok().vocab_size(), 65536);
  EXPECT_EQ(tok().eot_id(), 0);
  for (TokenId id = 1; id <= 65529; ++id) EXPECT_FALSE(tok().TokenBytes(id).empty()) << id;
  for (TokenId id = 65530; id <= 65535; ++id) EXPECT_EQ(tok().TokenBytes(id), "") << id;
  EXPECT_EQ(tok().TokenBytes(-1), "");
  EXPECT_EQ(tok().TokenBytes(65536), "");
  EXPECT_EQ(tok().TokenBytes(1 << 30), "");
}

// Parses the file the simplest way (id before the first space, LEN after the last) and checks
// every entry's length; entries whose literal has no backslash are compared byte for byte.
TEST_F(WorldVocabTest, EveryEntryDecodesToItsBytes) {
  std::istringstream lines(ReadAll(VocabPath()));
  std::string line;
  int count = 0;
  int compared_exactly = 0;
  while (std::getline(lines, line)) {
    ++count;
    const size_t first = line.find(' ');
    const size_t last = line.rfind(' ');
    ASSERT_NE(first, last) << line;
    const TokenId id = std::stoi(line.substr(0, first));
    const size_t length = std::stoul(line.substr(last + 1));
    const std::string literal = line.substr(first + 1, last - first - 1);
    ASSERT_EQ(id, count) << "ids are 1..65529 in order";
    EXPECT_EQ(tok().TokenBytes(id).size(), length) << line;
    const bool plain_str = literal.size() >= 2 && (literal[0] == '\'' || literal[0] == '"') &&
                           literal.back() == literal[0] && literal.find('\\') == std::string::npos;
    if (plain_str) {
      EXPECT_EQ(tok().TokenBytes(id), literal.substr(1, literal.size() - 2)) << line;
      ++compared_exactly;
    }
  }
  EXPECT_EQ(count, 65529);
  EXPECT_GT(compared_exactly, 64000);
  // Ids 1..256 are the single bytes.
  for (int b = 0; b < 256; ++b)
    EXPECT_EQ(tok().TokenBytes(b + 1), std::string(1, static_cast<char>(b)));
}

TEST_F(WorldVocabTest, EscapesFollowPythonSemantics) {
  EXPECT_EQ(tok().TokenBytes(0), "<|endoftext|>");
  EXPECT_EQ(tok().TokenBytes(11), "\n");                           // '\n'
  EXPECT_EQ(tok().TokenBytes(14), "\r");                           // '\r'
  EXPECT_EQ(tok().TokenBytes(33), " ");                            // ' '
  EXPECT_EQ(tok().TokenBytes(35), "\"");                           // '"'
  EXPECT_EQ(tok().TokenBytes(40), "'");                            // "'"
  EXPECT_EQ(tok().TokenBytes(93), "\\");                           // '\\'
  EXPECT_EQ(tok().TokenBytes(128), "\x7f");                        // '\x7f'
  EXPECT_EQ(tok().TokenBytes(129), "\x80");                        // b'\x80': a raw byte
  EXPECT_EQ(tok().TokenBytes(261), "\n\n");                        // '\n\n'
  EXPECT_EQ(tok().TokenBytes(263), "\r\n");                        // '\r\n'
  EXPECT_EQ(tok().TokenBytes(379), "\"'");                         // '"\''
  EXPECT_EQ(tok().TokenBytes(435), "'\"");                         // '\'"'
  EXPECT_EQ(tok().TokenBytes(2412), "\x82\xac");                   // b'\x82\xac'
  EXPECT_EQ(tok().TokenBytes(2423), "\xc2\x80");                   // '\x80': code point U+0080
  EXPECT_EQ(tok().TokenBytes(9804), "\xe2\x80\x82");               // '\u2002'
  EXPECT_EQ(tok().TokenBytes(43271), "\xe2\x80\x8b\xe2\x80\x8b");  // '\u200b\u200b'
  EXPECT_EQ(tok().TokenBytes(20000), " G\xc3\xbc");                // ' Gü'
  EXPECT_EQ(tok().TokenBytes(65529), std::string(128, ' '));
}

TEST_F(WorldVocabTest, EveryEntryAloneEncodesToItself) {
  for (TokenId id = 0; id <= 65529; ++id) {
    const std::vector<TokenId> ids = tok().Encode(tok().TokenBytes(id));
    ASSERT_EQ(ids, std::vector<TokenId>{id}) << "id " << id;
  }
}

TEST_F(WorldVocabTest, HandCheckedEncodings) {
  EXPECT_EQ(tok().Encode(""), std::vector<TokenId>{});
  EXPECT_EQ(tok().Encode("Hello, world!"), (std::vector<TokenId>{33155, 45, 40213, 34}));
  EXPECT_EQ(tok().Encode(" "), std::vector<TokenId>{33});
  EXPECT_EQ(tok().Encode("\n"), std::vector<TokenId>{11});
  EXPECT_EQ(tok().Encode("\n\n"), std::vector<TokenId>{261});
  EXPECT_EQ(tok().Encode("<|endoftext|>"), std::vector<TokenId>{0});
  EXPECT_EQ(tok().Encode("before<|endoftext|>after"), (std::vector<TokenId>{41100, 0, 33661}));
  EXPECT_EQ(tok().Encode(std::string(129, ' ')), (std::vector<TokenId>{65529, 33}));
  EXPECT_EQ(tok().Encode(std::string("\0", 1)), std::vector<TokenId>{1});
  EXPECT_EQ(tok().Encode("\xff"), std::vector<TokenId>{256});
  const std::vector<TokenId> hello = {33155, 45, 40213, 34};
  EXPECT_EQ(tok().Decode(hello), "Hello, world!");
  const std::vector<TokenId> with_unknown = {33155, 65530, 45, -7, 70000};
  EXPECT_EQ(tok().Decode(with_unknown), "Hello,");
}

TEST_F(WorldVocabTest, GoldenCases) {
  auto text = ReadFileToString(testing::SharedDir() + "/golden/tokenizer/world_cases.json");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  auto json = ParseJson(*text);
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  const JsonValue* cases = json->Find("cases");
  ASSERT_NE(cases, nullptr);
  ASSERT_TRUE(cases->is_array());
  ASSERT_EQ(cases->items().size(), 21u);
  for (const JsonValue& c : cases->items()) {
    const JsonValue* note = c.Find("note");
    const JsonValue* b64 = c.Find("bytes_b64");
    const JsonValue* ids_json = c.Find("ids");
    ASSERT_TRUE(note && b64 && ids_json);
    const std::string bytes = Base64Decode(b64->as_string());
    std::vector<TokenId> expected;
    for (const JsonValue& id : ids_json->items())
      expected.push_back(static_cast<TokenId>(id.as_int()));
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(tok().Encode(bytes), expected) << note->as_string();
    EXPECT_EQ(tok().Decode(expected), bytes) << note->as_string();
    if (note->as_string() == "text") {
      EXPECT_EQ(c.Find("text")->as_string(), bytes);
    }
  }
}

// Greedy longest match checked with hash sets instead of a trie: at every position the
// emitted token is the input's next bytes, and no longer prefix there is a token.
class GreedyOracle {
 public:
  // `first_id` 1 leaves out <|endoftext|> (the oracle of EncodeOrdinary).
  explicit GreedyOracle(const Tokenizer& tokenizer, TokenId first_id = 0) {
    for (TokenId id = first_id; id < tokenizer.vocab_size(); ++id) {
      const std::string_view bytes = tokenizer.TokenBytes(id);
      if (bytes.empty()) continue;
      tokens_.emplace(bytes, id);
      for (size_t n = 1; n <= bytes.size(); ++n) prefixes_.insert(bytes.substr(0, n));
    }
  }
  std::vector<TokenId> Encode(std::string_view text) const {
    std::vector<TokenId> ids;
    size_t pos = 0;
    while (pos < text.size()) {
      TokenId best = -1;
      size_t best_length = 0;
      for (size_t n = 1; pos + n <= text.size() && prefixes_.count(text.substr(pos, n)); ++n) {
        if (auto it = tokens_.find(text.substr(pos, n)); it != tokens_.end()) {
          best = it->second;
          best_length = n;
        }
      }
      if (best < 0) return {};  // cannot happen: every byte is a token
      ids.push_back(best);
      pos += best_length;
    }
    return ids;
  }

 private:
  std::unordered_map<std::string_view, TokenId> tokens_;
  std::unordered_set<std::string_view> prefixes_;
};

TEST_F(WorldVocabTest, RandomInputsRoundTripAndMatchTheOracle) {
  const GreedyOracle oracle(tok());
  std::mt19937 rng(20240716);
  const std::vector<std::string> pieces = {
      "a",  "e", " ", "the", "\n", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80", "<|endoftext|>",
      "<|", ",", "1"};
  for (int trial = 0; trial < 300; ++trial) {
    std::string text;
    const int length = std::uniform_int_distribution<int>(0, 400)(rng);
    switch (trial % 3) {
      case 0:  // arbitrary bytes, mostly invalid UTF-8
        for (int i = 0; i < length; ++i) {
          text.push_back(static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng)));
        }
        break;
      case 1:  // text-like pieces
        while (static_cast<int>(text.size()) < length) {
          text += pieces[std::uniform_int_distribution<size_t>(0, pieces.size() - 1)(rng)];
        }
        break;
      default:  // vocabulary tokens, some cut short
        while (static_cast<int>(text.size()) < length) {
          const auto id = std::uniform_int_distribution<TokenId>(0, 65535)(rng);
          std::string_view bytes = tok().TokenBytes(id);
          if (rng() % 4 == 0) bytes = bytes.substr(0, bytes.size() / 2);
          text += bytes;
        }
        break;
    }
    const std::vector<TokenId> ids = tok().Encode(text);
    ASSERT_EQ(tok().Decode(ids), text) << "trial " << trial;
    ASSERT_EQ(ids, oracle.Encode(text)) << "trial " << trial;
  }
}

TEST_F(WorldVocabTest, EncodeOrdinaryKeepsTheEndOfTextMarkerAsText) {
  EXPECT_EQ(tok().EncodeOrdinary(""), std::vector<TokenId>{});
  EXPECT_EQ(tok().EncodeOrdinary("Hello, world!"), (std::vector<TokenId>{33155, 45, 40213, 34}));
  const std::vector<TokenId> marker = tok().EncodeOrdinary("<|endoftext|>");
  // '<' '|' 'endo' 'fte' 'xt' '|' '>' (greedy longest match over the other entries).
  EXPECT_EQ(marker, (std::vector<TokenId>{61, 125, 25258, 7588, 2318, 125, 63}));
  EXPECT_EQ(tok().Decode(marker), "<|endoftext|>");
  const std::vector<TokenId> ids = tok().EncodeOrdinary("a<|endoftext|>b");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 0), 0);
  EXPECT_EQ(tok().Decode(ids), "a<|endoftext|>b");
  EXPECT_EQ(ids.size(), 2 + marker.size());  // 'a' and 'b' do not merge with '<' or '>'
  const std::vector<TokenId> twice = tok().EncodeOrdinary("<|endoftext|><|endoftext|>");
  EXPECT_EQ(std::count(twice.begin(), twice.end(), 0), 0);
  EXPECT_EQ(tok().Decode(twice), "<|endoftext|><|endoftext|>");
  // Through the interface, as the server calls it.
  const Tokenizer& base = tok();
  EXPECT_EQ(base.EncodeOrdinary("<|endoftext|>"), marker);
}

TEST_F(WorldVocabTest, EncodeOrdinaryMatchesEncodeWithoutTheMarker) {
  const GreedyOracle ordinary_oracle(tok(), /*first_id=*/1);
  std::mt19937 rng(4242);
  const std::vector<std::string> pieces = {"a",      "e",  " ", "the", "\n", "\xc3\xa9",
                                           "\xe4\xb8\xad", "<|", ",", "1", "|>", "endoftext"};
  for (int trial = 0; trial < 200; ++trial) {
    std::string text;
    const int length = std::uniform_int_distribution<int>(0, 300)(rng);
    if (trial % 2 == 0) {
      for (int i = 0; i < length; ++i) {
        text.push_back(static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng)));
      }
    } else {
      while (static_cast<int>(text.size()) < length) {
        text += pieces[std::uniform_int_distribution<size_t>(0, pieces.size() - 1)(rng)];
      }
    }
    const bool has_marker = text.find("<|endoftext|>") != std::string::npos;
    const std::vector<TokenId> ordinary = tok().EncodeOrdinary(text);
    if (!has_marker) {
      ASSERT_EQ(ordinary, tok().Encode(text)) << "trial " << trial;
    }
    // With the marker spliced in: never id 0, same bytes, and the greedy match without id 0.
    text.insert(text.size() / 2, "<|endoftext|>");
    const std::vector<TokenId> spliced = tok().EncodeOrdinary(text);
    ASSERT_EQ(std::count(spliced.begin(), spliced.end(), 0), 0) << "trial " << trial;
    ASSERT_EQ(tok().Decode(spliced), text) << "trial " << trial;
    ASSERT_EQ(spliced, ordinary_oracle.Encode(text)) << "trial " << trial;
    // At the start the marker is certainly a token for Encode, never for EncodeOrdinary.
    const std::string prefixed = "<|endoftext|>" + text;
    ASSERT_EQ(tok().Encode(prefixed).front(), 0);
    const std::vector<TokenId> ordinary_prefixed = tok().EncodeOrdinary(prefixed);
    ASSERT_EQ(std::count(ordinary_prefixed.begin(), ordinary_prefixed.end(), 0), 0);
    ASSERT_EQ(tok().Decode(ordinary_prefixed), prefixed);
  }
}

// ---- Vocabularies given as text ----

// All 256 single bytes as ids 1..256, written as bytes literals.
std::string SingleByteLines() {
  std::string text;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int b = 0; b < 256; ++b) {
    text += std::to_string(b + 1) + " b'\\x" + kHex[b >> 4] + kHex[b & 15] + "' 1\n";
  }
  return text;
}

TEST(WorldTokenizerFromTextTest, ParsesEveryLiteralKind) {
  const std::string extra =
      "300 '\\x80' 2\n"        // str \x: code point U+0080
      "301 b'\\x80\\xff' 2\n"  // bytes \x: raw bytes
      "302 '\\u00e9t\\u00e9' 5\n"
      "303 \"it's\" 4\n"
      "304 '\\'\\\"\\\\' 3\n"
      "305 '\\n\\t\\r' 3\n"
      "306 'caf\xc3\xa9 \xf0\x9f\x98\x80' 10\n"  // raw UTF-8, including a non-BMP character
      "307 '\\U0001F600' 4\n"
      "308 '\\101\\0' 2\n"  // octal escapes
      "309 b\"a'b\" 3\n"
      "65535 'ab' 2\r\n"  // CRLF line ending, highest id
      "310 'abc' 3\n"
      "311 'bcd' 3";  // no final newline
  auto loaded = WorldTokenizer::FromText(SingleByteLines() + extra);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const WorldTokenizer& tok = **loaded;
  EXPECT_EQ(tok.num_entries(), 256 + 13);
  EXPECT_EQ(tok.TokenBytes(300), "\xc2\x80");
  EXPECT_EQ(tok.TokenBytes(301), "\x80\xff");
  EXPECT_EQ(tok.TokenBytes(302), "\xc3\xa9t\xc3\xa9");
  EXPECT_EQ(tok.TokenBytes(303), "it's");
  EXPECT_EQ(tok.TokenBytes(304), "'\"\\");
  EXPECT_EQ(tok.TokenBytes(305), "\n\t\r");
  EXPECT_EQ(tok.TokenBytes(306), "caf\xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(tok.TokenBytes(307), "\xf0\x9f\x98\x80");
  EXPECT_EQ(tok.TokenBytes(308), std::string("A\0", 2));
  EXPECT_EQ(tok.TokenBytes(309), "a'b");
  EXPECT_EQ(tok.TokenBytes(65535), "ab");
  EXPECT_EQ(tok.TokenBytes(312), "");
  // Longest match at each position, no lookahead: "abcd" -> "abc" + "d", not "a" + "bcd".
  EXPECT_EQ(tok.Encode("abcd"), (std::vector<TokenId>{310, 'd' + 1}));
  EXPECT_EQ(tok.Encode("abd"), (std::vector<TokenId>{65535, 'd' + 1}));
  EXPECT_EQ(tok.Encode("xbcd"), (std::vector<TokenId>{'x' + 1, 311}));
  EXPECT_EQ(tok.Encode("<|endoftext|>ab"), (std::vector<TokenId>{0, 65535}));
  EXPECT_EQ(tok.Encode("\xf0\x9f\x98\x80"), std::vector<TokenId>{307});
}

void ExpectInvalid(const std::string& text, const std::string& where) {
  auto loaded = WorldTokenizer::FromText(text);
  ASSERT_FALSE(loaded.ok()) << "accepted: " << text;
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument) << loaded.status().ToString();
  EXPECT_NE(loaded.status().message().find(where), std::string::npos)
      << "expected \"" << where << "\" in: " << loaded.status().message();
}

TEST(WorldTokenizerFromTextTest, RejectsMalformedLinesNamingTheLine) {
  const std::string good = "1 'a' 1\n2 'b' 1\n";
  ExpectInvalid(good + "3 'c 1\n", "line 3: unterminated");
  ExpectInvalid(good + "3 'c' 2\n", "line 3: the token has 1 bytes but the line says 2");
  ExpectInvalid(good + "3 '\\q' 1\n", "line 3: unsupported escape \\q");
  ExpectInvalid(good + "3 '\\x4' 1\n", "line 3: truncated \\x escape");
  ExpectInvalid(good + "3 '\\xzz' 1\n", "line 3: truncated \\x escape");
  ExpectInvalid(good + "3 '\\u12' 1\n", "line 3: truncated \\u escape");
  ExpectInvalid(good + "3 b'\\u1234' 1\n", "line 3: escape \\u in a bytes literal");
  ExpectInvalid(good + "3 '\\ud800' 3\n", "line 3: escape is not a Unicode scalar value");
  ExpectInvalid(good + "3 '\\U00110000' 4\n", "line 3: escape is not a Unicode scalar value");
  ExpectInvalid(good + "3 b'\\777' 1\n", "line 3: escape value above 0xFF");
  ExpectInvalid(good + "3 'c\\' 1\n", "line 3: unterminated");
  ExpectInvalid(good + "3 'c' 'd' 2\n", "line 3: text after the closing quote");
  ExpectInvalid(good + "3 'c'd' 2\n", "line 3: text after the closing quote");
  ExpectInvalid(good + "3 c 1\n", "line 3: the token is not a quoted");
  ExpectInvalid(good + "3 u'c' 1\n", "line 3: the token is not a quoted");
  ExpectInvalid(good + "3  1\n", "line 3: the token is not a quoted");
  ExpectInvalid(good + "3 b'\xc3\xa9' 2\n", "line 3: non-ASCII character in a bytes literal");
  ExpectInvalid(good + "3 '\xff' 1\n", "line 3: invalid UTF-8");
  ExpectInvalid(good + "3 '\xc3' 1\n", "line 3: invalid UTF-8");
  ExpectInvalid(good + "3 '' 0\n", "line 3: empty token");
  ExpectInvalid(good + "1 'c' 1\n", "line 3: duplicate id 1 (first on line 1)");
  ExpectInvalid(good + "3 'c'\n", "line 3: expected `ID LITERAL LEN`");
  ExpectInvalid(good + "3\n", "line 3: expected `ID LITERAL LEN`");
  ExpectInvalid(good + "\n3 'c' 1\n", "line 3: expected `ID LITERAL LEN`");
  ExpectInvalid(good + "x 'c' 1\n", "line 3: the id is not a decimal number");
  ExpectInvalid(good + "-3 'c' 1\n", "line 3: the id is not a decimal number");
  ExpectInvalid(good + "99999999999999999999 'c' 1\n", "line 3: the id is not a decimal number");
  ExpectInvalid(good + "3 'c' x\n", "line 3: the length is not a decimal number");
  ExpectInvalid(good + "3 'c' \n", "line 3: the length is not a decimal number");
  ExpectInvalid(good + "0 'c' 1\n", "line 3: id 0 is reserved");
  ExpectInvalid(good + "65536 'c' 1\n", "line 3: id 65536 is outside 1..65535");
}

TEST(WorldTokenizerFromTextTest, RejectsInconsistentVocabularies) {
  ExpectInvalid("", "empty");
  ExpectInvalid(SingleByteLines() + "300 'ab' 2\n301 'ab' 2\n",
                "line 258: id 301 has the same bytes as id 300 (line 257)");
  ExpectInvalid(SingleByteLines() + "300 '<|endoftext|>' 13\n",
                "line 257: id 300 has the same bytes as id 0 (<|endoftext|>)");
  // Byte 0x41 missing (its line replaced by a two-byte token).
  std::string missing = SingleByteLines();
  const std::string line_a = "66 b'\\x41' 1\n";
  missing.replace(missing.find(line_a), line_a.size(), "66 'AB' 2\n");
  ExpectInvalid(missing, "no single-byte token for 0x41");
}

TEST(WorldTokenizerFromTextTest, MutatedVocabulariesNeverCrash) {
  const std::string base =
      SingleByteLines() + "300 '\\x80' 2\n301 b'\\x80\\xff' 2\n302 '\\u00e9' 2\n303 \"it's\" 4\n";
  const std::string alphabet = "0123456789 '\"\\bxuU\n\r\xc3\xa9\xff";
  std::mt19937 rng(7);
  int accepted = 0;
  for (int trial = 0; trial < 1000; ++trial) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % (text.size() + 1);
      switch (rng() % 3) {
        case 0:
          text.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 1:
          if (at < text.size()) text.erase(at, 1);
          break;
        default:
          if (at < text.size()) text[at] = alphabet[rng() % alphabet.size()];
          break;
      }
    }
    auto loaded = WorldTokenizer::FromText(text);
    if (loaded.ok()) {
      ++accepted;
      EXPECT_EQ((*loaded)->Decode((*loaded)->Encode("x\xff<|endoftext|>")), "x\xff<|endoftext|>");
    } else {
      EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
      const std::string& message = loaded.status().message();
      EXPECT_TRUE(message.find("line ") != std::string::npos ||
                  message.find("no single-byte token") != std::string::npos)
          << message;
    }
  }
  EXPECT_LT(accepted, 1000);
}

TEST(WorldTokenizerLoadTest, MissingFileIsNotFound) {
  auto loaded = WorldTokenizer::Load(testing::SharedDir() + "/tokenizers/no_such_vocab.txt");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kNotFound);
}

TEST(WorldTokenizerLoadTest, MakeTokenizerBuildsAWorldTokenizer) {
  auto made = MakeTokenizer("world", VocabPath());
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ((*made)->vocab_size(), 65536);
  EXPECT_EQ((*made)->Encode("Hello, world!"), (std::vector<TokenId>{33155, 45, 40213, 34}));
  auto missing = MakeTokenizer("world", testing::SharedDir() + "/no_such_vocab.txt");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace gf
