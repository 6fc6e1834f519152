#include "direction.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tuple>

namespace flock_splice {

PipePool::~PipePool() {
  for (auto& [r, w] : idle_) {
    close(r);
    close(w);
  }
}

void PipePool::Discard(int read_end, int write_end) {
  close(read_end);
  close(write_end);
  open_--;
}

bool PipePool::Acquire(int* read_end, int* write_end) {
  if (!idle_.empty()) {
    std::tie(*read_end, *write_end) = idle_.back();
    idle_.pop_back();
    return true;
  }
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  fcntl(fds[1], F_SETPIPE_SZ, kPipeCapacityBytes);
  open_++;
  *read_end = fds[0];
  *write_end = fds[1];
  return true;
}

void PipePool::Release(int read_end, int write_end) {
  if (idle_.size() < kMaxIdlePipes) {
    idle_.emplace_back(read_end, write_end);
  } else {
    Discard(read_end, write_end);
  }
}

// Only reached with a pipe when the splice thread is gone (the process is exiting).
Direction::~Direction() {
  if (pipe_read_ < 0) return;
  close(pipe_read_);
  close(pipe_write_);
}

void Direction::DiscardPipe(PipePool* pool) {
  if (pipe_read_ < 0) return;
  pool->Discard(pipe_read_, pipe_write_);
  pipe_read_ = pipe_write_ = -1;
  in_pipe_ = 0;
}

PumpResult Direction::Pump(PipePool* pool, uint64_t budget, int* error, bool* moved) {
  const uint64_t start = bytes();
  for (;;) {
    if (bytes() - start >= budget) return PumpResult::kYield;
    // What JavaScript had read goes out first, then the pipe's bytes.
    const bool from_head = head_sent_ < head_.size();
    if (from_head || in_pipe_ > 0) {
      if (!to_->writable) return PumpResult::kWaiting;
      ssize_t n = from_head ? send(to_->fd, head_.data() + head_sent_, head_.size() - head_sent_,
                                   MSG_NOSIGNAL | MSG_DONTWAIT)
                            : splice(pipe_read_, nullptr, to_->fd, nullptr, in_pipe_,
                                     SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          to_->writable = false;
          return PumpResult::kWaiting;
        }
        *error = errno;
        return PumpResult::kFailed;
      }
      if (from_head) {
        head_sent_ += static_cast<size_t>(n);
        if (head_sent_ == head_.size()) std::string().swap(head_);
      } else {
        in_pipe_ -= static_cast<size_t>(n);
      }
      bytes_.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      *moved = true;
      continue;
    }
    if (eof_) {
      if (!shut_) {
        shut_ = true;
        *moved = true;
        if (shutdown(to_->fd, SHUT_WR) != 0) {
          *error = errno;
          return PumpResult::kFailed;
        }
      }
      return PumpResult::kFinished;
    }
    if (!from_->readable) return PumpResult::kWaiting;
    if (pipe_read_ < 0 && !pool->Acquire(&pipe_read_, &pipe_write_)) {
      *error = errno;
      return PumpResult::kFailed;
    }
    ssize_t n = splice(from_->fd, nullptr, pipe_write_, nullptr, kSpliceRequestBytes,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      in_pipe_ = static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // The pipe is empty here: back to the pool, so a quiet direction holds no pipe.
    pool->Release(pipe_read_, pipe_write_);
    pipe_read_ = pipe_write_ = -1;
    if (n == 0) {
      eof_ = true;
      continue;
    }
    if (errno == EAGAIN) {
      from_->readable = false;
      return PumpResult::kWaiting;
    }
    *error = errno;
    return PumpResult::kFailed;
  }
}

}  // namespace flock_splice
