// ByteTokenizer ids and round trips, Tokenizer::Decode, MakeTokenizer, and the
// StreamingDetokenizer: complete characters only, U+FFFD for ill-formed bytes (the same output
// as Python's bytes.decode("utf-8", "replace")), no stalls, Flush.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/tokenizer/byte_tokenizer.h"
#include "engine/tokenizer/tokenizer.h"

namespace gf {
namespace {

constexpr std::string_view kReplacement = "\xef\xbf\xbd";

// Independent well-formedness check (decodes code points, rejects overlongs, surrogates,
// values above U+10FFFF and truncated characters).
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7Fu >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto d = static_cast<uint8_t>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3Fu);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

TEST(ByteTokenizerTest, IdsAreBytesPlusOne) {
  const ByteTokenizer tok;
  EXPECT_EQ(tok.vocab_size(), 257);
  EXPECT_EQ(tok.eot_id(), 0);
  EXPECT_EQ(tok.Encode(""), std::vector<TokenId>{});
  EXPECT_EQ(tok.Encode("ab"), (std::vector<TokenId>{98, 99}));
  EXPECT_EQ(tok.Encode(std::string("\0\xff", 2)), (std::vector<TokenId>{1, 256}));
  EXPECT_EQ(tok.Encode("\xc3\xa9"), (std::vector<TokenId>{0xc3 + 1, 0xa9 + 1}));
  EXPECT_EQ(tok.TokenBytes(0), "<|endoftext|>");
  EXPECT_EQ(tok.TokenBytes(1), std::string(1, '\0'));
  EXPECT_EQ(tok.TokenBytes(98), "a");
  EXPECT_EQ(tok.TokenBytes(256), "\xff");
  EXPECT_EQ(tok.TokenBytes(257), "");
  EXPECT_EQ(tok.TokenBytes(-1), "");
}

TEST(ByteTokenizerTest, EndOfTextSequenceIsIdZero) {
  const ByteTokenizer tok;
  EXPECT_EQ(tok.Encode("<|endoftext|>"), std::vector<TokenId>{0});
  EXPECT_EQ(tok.Encode("x<|endoftext|>y"), (std::vector<TokenId>{'x' + 1, 0, 'y' + 1}));
  EXPECT_EQ(tok.Encode("<|endoftext|><|endoftext|>"), (std::vector<TokenId>{0, 0}));
  // Only the exact 13 bytes: a truncated marker stays bytes.
  const std::vector<TokenId> partial = tok.Encode("<|endoftext|");
  ASSERT_EQ(partial.size(), 12u);
  EXPECT_EQ(partial[0], '<' + 1);
  EXPECT_EQ(tok.Decode(partial), "<|endoftext|");
}

TEST(ByteTokenizerTest, EncodeOrdinaryNeverProducesEndOfText) {
  const ByteTokenizer tok;
  EXPECT_EQ(tok.EncodeOrdinary(""), std::vector<TokenId>{});
  const std::vector<TokenId> marker = tok.EncodeOrdinary("<|endoftext|>");
  const std::vector<TokenId> expected = {'<' + 1, '|' + 1, 'e' + 1, 'n' + 1, 'd' + 1,
                                         'o' + 1, 'f' + 1, 't' + 1, 'e' + 1, 'x' + 1,
                                         't' + 1, '|' + 1, '>' + 1};
  EXPECT_EQ(marker, expected);
  EXPECT_EQ(tok.Decode(marker), "<|endoftext|>");
  const std::vector<TokenId> mixed = tok.EncodeOrdinary("x<|endoftext|>y");
  ASSERT_EQ(mixed.size(), 15u);
  EXPECT_EQ(mixed.front(), 'x' + 1);
  EXPECT_EQ(mixed.back(), 'y' + 1);
  EXPECT_EQ(std::count(mixed.begin(), mixed.end(), 0), 0);
  EXPECT_EQ(tok.EncodeOrdinary(std::string("\0\xff", 2)), (std::vector<TokenId>{1, 256}));
  // Without the marker, EncodeOrdinary and Encode agree.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::string text;
    for (int i = 0; i < 100; ++i) text.push_back(static_cast<char>(rng() & 0xFF));
    EXPECT_EQ(tok.EncodeOrdinary(text), tok.Encode(text));
    text.insert(rng() % text.size(), "<|endoftext|>");
    const std::vector<TokenId> ids = tok.EncodeOrdinary(text);
    EXPECT_EQ(ids.size(), text.size());
    EXPECT_EQ(std::count(ids.begin(), ids.end(), 0), 0);
    EXPECT_EQ(tok.Decode(ids), text);
  }
}

TEST(ByteTokenizerTest, EveryByteRoundTrips) {
  const ByteTokenizer tok;
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::vector<TokenId> ids = tok.Encode(all);
  ASSERT_EQ(ids.size(), 256u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(ids[static_cast<size_t>(b)], b + 1);
  EXPECT_EQ(tok.Decode(ids), all);
  std::mt19937 rng(1);
  for (int trial = 0; trial < 50; ++trial) {
    std::string text;
    for (int i = 0; i < 200; ++i) text.push_back(static_cast<char>(rng() & 0xFF));
    if (trial % 5 == 0) text.insert(rng() % text.size(), "<|endoftext|>");
    EXPECT_EQ(tok.Decode(tok.Encode(text)), text);
  }
}

TEST(MakeTokenizerTest, ByteAndUnknownKinds) {
  auto made = MakeTokenizer("byte", "");
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ((*made)->vocab_size(), 257);
  EXPECT_EQ((*made)->Encode("a"), std::vector<TokenId>{98});
  auto unknown = MakeTokenizer("bpe", "");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
}

// A tokenizer whose tokens split multi-byte characters, like the World vocabulary's b'...'.
class SplittingTokenizer final : public Tokenizer {
 public:
  std::vector<TokenId> Encode(std::string_view) const override { return {}; }
  std::vector<TokenId> EncodeOrdinary(std::string_view) const override { return {}; }
  std::string_view TokenBytes(TokenId id) const override {
    auto it = tokens_.find(id);
    return it == tokens_.end() ? std::string_view() : it->second;
  }
  int vocab_size() const override { return 10; }

 private:
  std::map<TokenId, std::string> tokens_ = {{1, "\xf0\x9f"}, {2, "\x98\x80\x61"}, {3, "\xe4"},
                                            {4, "\xb8\xad"}, {5, "\x80"},         {6, "ok "}};
};

TEST(StreamingDetokenizerTest, TokensSplittingCharactersAreHeldBack) {
  const SplittingTokenizer tok;
  StreamingDetokenizer detok(tok);
  EXPECT_EQ(detok.Push(6), "ok ");
  EXPECT_EQ(detok.Push(1), "");
  EXPECT_EQ(detok.pending(), 2u);
  EXPECT_EQ(detok.Push(2), "\xf0\x9f\x98\x80\x61");  // 0x61 = 'a'
  EXPECT_EQ(detok.pending(), 0u);
  EXPECT_EQ(detok.Push(3), "");
  EXPECT_EQ(detok.Push(7), "");  // no entry: nothing appended
  EXPECT_EQ(detok.pending(), 1u);
  EXPECT_EQ(detok.Push(4), "\xe4\xb8\xad");
  EXPECT_EQ(detok.Push(5), kReplacement);  // a stray continuation byte does not stall
  EXPECT_EQ(detok.pending(), 0u);
  EXPECT_EQ(detok.Flush(), "");
}

TEST(StreamingDetokenizerTest, ByteByByteYieldsOnlyWholeCharacters) {
  const ByteTokenizer tok;
  const std::string text = "h\xc3\xa9llo, \xe4\xb8\x96\xe7\x95\x8c! \xf0\x9f\x98\x80 ok \xc3\x9f";
  StreamingDetokenizer detok(tok);
  std::string streamed;
  std::vector<std::string> chunks;
  for (TokenId id : tok.Encode(text)) {
    const std::string chunk = detok.Push(id);
    EXPECT_TRUE(IsValidUtf8(chunk)) << "partial character after " << streamed.size() << " bytes";
    streamed += chunk;
    EXPECT_EQ(text.compare(0, streamed.size(), streamed), 0);
    if (!chunk.empty()) chunks.push_back(chunk);
  }
  EXPECT_EQ(detok.pending(), 0u);
  EXPECT_EQ(detok.Flush(), "");
  EXPECT_EQ(streamed, text);
  // One chunk per character.
  EXPECT_EQ(chunks.size(), 17u);
  EXPECT_EQ(chunks[1], "\xc3\xa9");
  EXPECT_EQ(chunks[7], "\xe4\xb8\x96");
  EXPECT_EQ(chunks[11], "\xf0\x9f\x98\x80");
}

TEST(StreamingDetokenizerTest, StepByStepPendingCounts) {
  const ByteTokenizer tok;
  StreamingDetokenizer detok(tok);
  EXPECT_EQ(detok.Push(0xf0 + 1), "");
  EXPECT_EQ(detok.pending(), 1u);
  EXPECT_EQ(detok.Push(0x9f + 1), "");
  EXPECT_EQ(detok.pending(), 2u);
  EXPECT_EQ(detok.Push(0x98 + 1), "");
  EXPECT_EQ(detok.pending(), 3u);
  EXPECT_EQ(detok.Push(0x80 + 1), "\xf0\x9f\x98\x80");
  EXPECT_EQ(detok.pending(), 0u);
  EXPECT_EQ(detok.Push(0), "<|endoftext|>");
}

struct InvalidCase {
  std::string input;
  std::string expected;  // Python: input.decode("utf-8", "replace").encode()
};

std::vector<InvalidCase> InvalidCases() {
  const std::string r(kReplacement);
  return {
      {"\xc3(", r + "("},
      {"\xe0\x80", r + r},                  // E0 needs A0..BF next (overlong)
      {"\xed\xa0\x80", r + r + r},          // surrogate U+D800
      {"\xf0\x9f\x98\x61", r + "a"},        // truncated 4-byte character, then 'a'
      {"\xc0\xaf", r + r},                  // overlong '/'
      {"\xf4\x90\x80\x80", r + r + r + r},  // above U+10FFFF
      {"\xf5", r},
      {"\x80\x80", r + r},
      {"\xe2\x82", r},  // incomplete at the end: Flush
      {"a\xf0\x9f\xe2\x82\xacz", "a" + r + "\xe2\x82\xacz"},
      {"\xf8\x88\x80\x80\x80", r + r + r + r + r},
      {"\xef\xbf\xbd", r},  // a real U+FFFD passes through
  };
}

TEST(StreamingDetokenizerTest, InvalidSequencesBecomeReplacementCharacters) {
  const ByteTokenizer tok;
  for (const InvalidCase& c : InvalidCases()) {
    StreamingDetokenizer whole(tok);
    std::string out = whole.PushBytes(c.input);
    out += whole.Flush();
    EXPECT_EQ(out, c.expected) << "input of " << c.input.size() << " bytes";
    EXPECT_EQ(whole.pending(), 0u);

    StreamingDetokenizer bytewise(tok);
    std::string streamed;
    for (TokenId id : tok.Encode(c.input)) {
      const std::string chunk = bytewise.Push(id);
      EXPECT_TRUE(IsValidUtf8(chunk));
      streamed += chunk;
      EXPECT_LE(bytewise.pending(), 3u);
    }
    streamed += bytewise.Flush();
    EXPECT_EQ(streamed, c.expected);
  }
}

TEST(StreamingDetokenizerTest, ReplacementIsReleasedAsSoonAsItIsKnown) {
  const ByteTokenizer tok;
  StreamingDetokenizer detok(tok);
  EXPECT_EQ(detok.PushBytes("\xf0\x9f"), "");
  EXPECT_EQ(detok.PushBytes("x"), std::string(kReplacement) + "x");  // no waiting for more
  EXPECT_EQ(detok.pending(), 0u);
  EXPECT_EQ(detok.PushBytes("\xff"), kReplacement);
  EXPECT_EQ(detok.pending(), 0u);
}

TEST(StreamingDetokenizerTest, FlushReleasesAnIncompleteTailAndTheStreamGoesOn) {
  const ByteTokenizer tok;
  StreamingDetokenizer detok(tok);
  EXPECT_EQ(detok.Flush(), "");
  EXPECT_EQ(detok.PushBytes("ok\xe2\x82"), "ok");
  EXPECT_EQ(detok.pending(), 2u);
  EXPECT_EQ(detok.Flush(), kReplacement);
  EXPECT_EQ(detok.pending(), 0u);
  EXPECT_EQ(detok.Flush(), "");
  EXPECT_EQ(detok.PushBytes("\xac"), kReplacement);  // the old prefix is gone
  EXPECT_EQ(detok.PushBytes("\xe2\x82\xac"), "\xe2\x82\xac");
}

TEST(StreamingDetokenizerTest, RandomChunkingGivesTheSameText) {
  const ByteTokenizer tok;
  std::mt19937 rng(99);
  const std::vector<std::string> pieces = {
      "a",    " ",    "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
      "\x80", "\xff", "\xe2\x82", "\xf0\x9f",     "\xed\xa0\x80"};
  for (int trial = 0; trial < 200; ++trial) {
    const bool valid_only = trial % 2 == 0;
    std::string text;
    const int count = static_cast<int>(rng() % 60);
    for (int i = 0; i < count; ++i) {
      text += pieces[rng() % (valid_only ? 5 : pieces.size())];
    }
    StreamingDetokenizer whole(tok);
    std::string reference = whole.PushBytes(text);
    reference += whole.Flush();
    EXPECT_TRUE(IsValidUtf8(reference));
    if (valid_only) {
      EXPECT_EQ(reference, text);
    }

    StreamingDetokenizer chunked(tok);
    std::string streamed;
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t n = std::min<size_t>(text.size() - pos, rng() % 5);
      const std::string chunk = chunked.PushBytes(std::string_view(text).substr(pos, n));
      EXPECT_TRUE(IsValidUtf8(chunk));
      streamed += chunk;
      pos += n;
    }
    streamed += chunked.Flush();
    EXPECT_EQ(streamed, reference) << "trial " << trial;
  }
}

}  // namespace
}  // namespace gf
