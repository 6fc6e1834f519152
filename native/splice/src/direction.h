// One direction of a spliced pair: bytes read from one socket go, through a pipe, to the
// other, without ever entering user space. Only the splice thread touches these, except the
// byte counter, which JavaScript reads while the pair runs.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace flock_splice {

// Asked of the kernel per splice(2) from a socket; it caps the move at what the pipe holds.
constexpr size_t kSpliceRequestBytes = 1 << 20;
// Capacity asked of each pipe (F_SETPIPE_SZ). Fewer, larger moves per byte; a refusal (a
// user over its pipe page quota) leaves the kernel's default, which works, only costs more.
constexpr int kPipeCapacityBytes = 256 * 1024;
// Empty pipes kept for reuse. A direction holds a pipe only while bytes sit in it, so idle
// pairs hold none; this caps the file descriptors kept for the next burst.
constexpr size_t kMaxIdlePipes = 16;

// Pipes handed to directions that have bytes in flight, and taken back once empty.
class PipePool {
 public:
  ~PipePool();
  // A pipe's read and write ends; false (errno set) when no pipe can be made.
  bool Acquire(int* read_end, int* write_end);
  // Only for an empty pipe: one with bytes in it must be discarded instead.
  void Release(int read_end, int write_end);
  void Discard(int read_end, int write_end);
  size_t idle() const { return idle_.size(); }
  size_t open() const { return open_; }

 private:
  std::vector<std::pair<int, int>> idle_;
  size_t open_ = 0;
};

// A socket of the pair, with the readiness that edge-triggered epoll reported and that no
// call has used up yet (a call that returns EAGAIN clears it; the next edge sets it again).
struct Side {
  void* pair = nullptr;
  int fd = -1;
  bool readable = true;
  bool writable = true;
};

enum class PumpResult {
  kWaiting,   // needs an edge: `from` readable or `to` writable
  kYield,     // moved its turn's budget and may have more: run again after the others
  kFinished,  // `from` ended and the end was passed on (shutdown of `to`'s write half)
  kFailed,    // a socket error (reset, broken pipe): the pair must be reset
};

class Direction {
 public:
  Direction(Side* from, Side* to, std::string head) : from_(from), to_(to), head_(std::move(head)) {}
  ~Direction();
  Direction(const Direction&) = delete;
  Direction& operator=(const Direction&) = delete;

  // Moves what it can without blocking, up to about `budget` bytes. `error` gets errno on
  // kFailed; `moved` is set when any byte went out or the end was passed on.
  PumpResult Pump(PipePool* pool, uint64_t budget, int* error, bool* moved);
  // Drops the pipe with whatever it still holds (the pair is ending).
  void DiscardPipe(PipePool* pool);
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  bool holds_pipe() const { return pipe_read_ >= 0; }

 private:
  Side* from_;
  Side* to_;
  // Bytes to write to `to` before anything from `from`: what JavaScript had already read.
  std::string head_;
  size_t head_sent_ = 0;
  int pipe_read_ = -1;
  int pipe_write_ = -1;
  size_t in_pipe_ = 0;
  bool eof_ = false;
  bool shut_ = false;
  std::atomic<uint64_t> bytes_{0};
};

}  // namespace flock_splice
