// Shared fixture for the gRPC request conversion tests: the OpenAI parser fixture's byte-tokenizer
// model "gf-test" (vocab 257, max_model_len 64) plus gRPC request helpers.
#pragma once

#include <functional>
#include <string>

#include "server/grpc/grpc_request.h"
#include "tests/openai_parser_fixture.h"

namespace gf::server {

namespace pb = goldfinch::v1;

using Mutation = std::function<void(pb::GenerateRequest*)>;

class GrpcRequestTest : public OpenAiParserTest {
 protected:
  // A text request "hi" (2 byte tokens) with `mutate` applied.
  pb::GenerateRequest TextRequest(const Mutation& mutate = nullptr) const {
    pb::GenerateRequest request;
    request.set_text("hi");
    if (mutate) mutate(&request);
    return request;
  }
  StatusOr<ConvertedGenerate> Convert(const pb::GenerateRequest& request) const {
    return ConvertGenerateRequest(request, model_, *tokenizer_, template_, limits_);
  }
};

inline void AddMessage(pb::GenerateRequest* request, const std::string& role,
                       const std::string& content) {
  pb::ChatMessage* message = request->mutable_chat()->add_messages();
  message->set_role(role);
  message->set_content(content);
}

}  // namespace gf::server
