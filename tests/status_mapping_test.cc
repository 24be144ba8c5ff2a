// The StatusCode -> (HTTP status, OpenAI error type, gRPC code) table, entry by entry.
#include "server/status_mapping.h"

#include <gtest/gtest.h>

#include <string>

namespace gf::server {
namespace {

struct Row {
  StatusCode code;
  int http_status;
  std::string error_type;
  int grpc_code;
};

TEST(StatusMappingTest, EveryCode) {
  const Row rows[] = {
      {StatusCode::kOk, 200, "", 0},
      {StatusCode::kCancelled, 499, "cancelled", 1},
      {StatusCode::kUnknown, 500, "server_error", 2},
      {StatusCode::kInvalidArgument, 400, "invalid_request_error", 3},
      {StatusCode::kDeadlineExceeded, 504, "timeout", 4},
      {StatusCode::kNotFound, 404, "not_found_error", 5},
      {StatusCode::kAlreadyExists, 409, "conflict_error", 6},
      {StatusCode::kPermissionDenied, 403, "permission_error", 7},
      {StatusCode::kResourceExhausted, 429, "rate_limit_error", 8},
      {StatusCode::kFailedPrecondition, 400, "invalid_request_error", 9},
      {StatusCode::kAborted, 409, "conflict_error", 10},
      {StatusCode::kOutOfRange, 400, "invalid_request_error", 11},
      {StatusCode::kUnimplemented, 501, "not_implemented_error", 12},
      {StatusCode::kInternal, 500, "server_error", 13},
      {StatusCode::kUnavailable, 503, "service_unavailable", 14},
      {StatusCode::kDataLoss, 500, "server_error", 15},
      {StatusCode::kUnauthenticated, 401, "authentication_error", 16},
  };
  // The table above covers every code 0..16, in order.
  ASSERT_EQ(std::size(rows), 17u);
  for (std::size_t i = 0; i < std::size(rows); ++i) {
    const Row& row = rows[i];
    ASSERT_EQ(static_cast<int>(row.code), static_cast<int>(i));
    const ErrorMapping m = MapStatus(row.code);
    EXPECT_EQ(m.http_status, row.http_status) << StatusCodeName(row.code);
    ASSERT_NE(m.error_type, nullptr) << StatusCodeName(row.code);
    EXPECT_EQ(std::string(m.error_type), row.error_type) << StatusCodeName(row.code);
    EXPECT_EQ(m.grpc_code, row.grpc_code) << StatusCodeName(row.code);
  }
}

TEST(StatusMappingTest, OutOfRangeCodeIsAnInternalServerError) {
  const ErrorMapping m = MapStatus(static_cast<StatusCode>(99));
  EXPECT_EQ(m.http_status, 500);
  EXPECT_EQ(std::string(m.error_type), "server_error");
  EXPECT_EQ(m.grpc_code, 13);
}

}  // namespace
}  // namespace gf::server
