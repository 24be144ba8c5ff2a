// Tests for the SSE framing helpers (server/http/sse.h).
#include "server/http/sse.h"

#include <gtest/gtest.h>

namespace gf::server::sse {
namespace {

TEST(SseTest, FormatEventSingleLine) {
  EXPECT_EQ(FormatEvent("{\"a\":1}"), "data: {\"a\":1}\n\n");
}

TEST(SseTest, FormatEventEmpty) { EXPECT_EQ(FormatEvent(""), "data: \n\n"); }

TEST(SseTest, FormatEventSplitsLinesAtLf) {
  EXPECT_EQ(FormatEvent("one\ntwo\nthree"), "data: one\ndata: two\ndata: three\n\n");
}

TEST(SseTest, FormatEventSplitsCrLfAndCr) {
  EXPECT_EQ(FormatEvent("a\r\nb\rc"), "data: a\ndata: b\ndata: c\n\n");
}

TEST(SseTest, FormatEventKeepsEmptyLines) {
  EXPECT_EQ(FormatEvent("\n"), "data: \ndata: \n\n");
  EXPECT_EQ(FormatEvent("x\n\ny"), "data: x\ndata: \ndata: y\n\n");
  EXPECT_EQ(FormatEvent("x\n"), "data: x\ndata: \n\n");
}

TEST(SseTest, FormatEventKeepsUtf8AndColons) {
  EXPECT_EQ(FormatEvent("h\xC3\xA9: ok"), "data: h\xC3\xA9: ok\n\n");
}

TEST(SseTest, FormatComment) {
  EXPECT_EQ(FormatComment("keep-alive"), ": keep-alive\n\n");
  EXPECT_EQ(FormatComment("a\nb"), ": a\n: b\n\n");
  EXPECT_EQ(FormatComment(""), ": \n\n");
}

TEST(SseTest, DoneEvent) {
  EXPECT_EQ(kDone, "data: [DONE]\n\n");
  EXPECT_EQ(FormatEvent("[DONE]"), kDone);
}

}  // namespace
}  // namespace gf::server::sse
