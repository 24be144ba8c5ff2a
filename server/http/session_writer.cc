#include "server/http/session_writer.h"

#include <utility>

#include "server/http/http_session.h"
#include "server/http/sse.h"

namespace gf::server {

SessionWriter::SessionWriter(std::weak_ptr<HttpSession> session, size_t max_buffer_bytes)
    : session_(std::move(session)), max_buffer_bytes_(max_buffer_bytes) {}

void SessionWriter::Send(HttpResponse response) {
  std::function<void()> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (gone_ || phase_ != Phase::kNone) return;
    phase_ = Phase::kFinished;
    dropped = std::move(on_close_);
    on_close_ = nullptr;
  }
  if (auto session = session_.lock()) {
    if (session->PostSend(shared_from_this(), std::move(response))) return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  gone_ = true;
}

bool SessionWriter::StartStream(HttpHeaderList headers) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (gone_ || phase_ != Phase::kNone) return false;
    phase_ = Phase::kStreaming;
  }
  if (auto session = session_.lock()) {
    if (session->PostStartStream(shared_from_this(), std::move(headers))) return true;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  gone_ = true;
  return false;
}

bool SessionWriter::SendEvent(std::string_view data) {
  return EnqueuePayload(sse::FormatEvent(data));
}

bool SessionWriter::SendComment(std::string_view text) {
  return EnqueuePayload(sse::FormatComment(text));
}

bool SessionWriter::EnqueuePayload(std::string payload) {
  bool overflow = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (gone_ || phase_ != Phase::kStreaming) return false;
    pending_bytes_ += payload.size();
    if (pending_bytes_ > max_buffer_bytes_) {
      gone_ = true;
      overflowed_ = true;
      overflow = true;
    }
  }
  auto session = session_.lock();
  if (overflow) {
    // The session closes the connection and then runs the OnClose callback on its strand.
    if (session) (void)session->PostOverflow(shared_from_this());
    return false;
  }
  if (session && session->PostEvent(shared_from_this(), std::move(payload))) return true;
  std::lock_guard<std::mutex> lock(mutex_);
  gone_ = true;
  return false;
}

void SessionWriter::EndStream() {
  std::function<void()> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (gone_ || phase_ != Phase::kStreaming) return;
    phase_ = Phase::kFinished;
    dropped = std::move(on_close_);
    on_close_ = nullptr;
  }
  if (auto session = session_.lock()) {
    if (session->PostEnd(shared_from_this())) return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  gone_ = true;
}

void SessionWriter::SetOnClose(std::function<void()> callback) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (phase_ == Phase::kFinished) return;
    if (!gone_) {
      on_close_ = std::move(callback);
      return;
    }
  }
  if (callback) callback();
}

bool SessionWriter::closed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return gone_ || phase_ == Phase::kFinished;
}

void SessionWriter::SessionClosed() {
  std::function<void()> callback;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    gone_ = true;
    callback = std::move(on_close_);
    on_close_ = nullptr;
  }
  if (callback) callback();
}

void SessionWriter::SessionWrote(size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  pending_bytes_ -= bytes <= pending_bytes_ ? bytes : pending_bytes_;
}

bool SessionWriter::SessionAccount(size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (gone_) return false;
  pending_bytes_ += bytes;
  if (pending_bytes_ <= max_buffer_bytes_) return true;
  gone_ = true;
  overflowed_ = true;
  return false;
}

bool SessionWriter::overflowed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return overflowed_;
}

}  // namespace gf::server
