// Shared fixture for the OpenAI request parser tests: a byte-tokenizer model "gf-test"
// (vocab 257, max_model_len 64), default limits and template, and request-body helpers.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "server/openai/api_error.h"
#include "server/openai/chat_parser.h"
#include "server/openai/chat_template.h"
#include "server/openai/completion_parser.h"
#include "server/openai/json_limits.h"
#include "server/openai/request_parser.h"

namespace gf::server {

class OpenAiParserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = MakeTokenizer("byte", "");
    ASSERT_TRUE(made.ok());
    tokenizer_ = std::move(made).value();
    model_.id = "gf-test";
    model_.vocab_size = 257;
    model_.max_model_len = 64;
    model_.eos_id = 0;
  }

  ApiResult<CompletionRequest> Completion(const std::string& body) const {
    return ParseCompletion(body, model_, *tokenizer_, limits_);
  }
  ApiResult<ChatRequest> Chat(const std::string& body) const {
    return ParseChat(body, model_, *tokenizer_, template_, limits_);
  }

  std::unique_ptr<Tokenizer> tokenizer_;
  ModelInfo model_;
  ApiLimits limits_;
  ChatTemplate template_;
};

// Byte tokenizer ids of `text` (byte + 1).
inline std::vector<TokenId> Ids(std::string_view text) {
  std::vector<TokenId> ids;
  for (char c : text) ids.push_back(static_cast<TokenId>(static_cast<uint8_t>(c)) + 1);
  return ids;
}

struct ErrorCase {
  std::string name;
  std::string body;
  int status;
  std::string type;
  std::string param;
  std::string code;
};

inline void ExpectError(const ApiError& error, const ErrorCase& c) {
  EXPECT_EQ(error.http_status, c.status);
  EXPECT_EQ(error.type, c.type);
  EXPECT_EQ(error.param, c.param);
  EXPECT_EQ(error.code, c.code);
  EXPECT_FALSE(error.message.empty());
}

// {"model":"gf-test","prompt":"hi", <extra>}
inline std::string CompletionBody(const std::string& extra) {
  return R"({"model":"gf-test","prompt":"hi")" + (extra.empty() ? "" : "," + extra) + "}";
}

inline std::string ChatBody(const std::string& extra) {
  return R"({"model":"gf-test","messages":[{"role":"user","content":"hi"}])" +
         (extra.empty() ? "" : "," + extra) + "}";
}

inline const std::string kBad = "invalid_request_error";

}  // namespace gf::server
