// The one thread that moves the bytes of every kernel-spliced pair: edge-triggered epoll
// over the pairs' sockets, non-blocking splice(2) through pipes, and an eventfd on which
// the JavaScript thread posts new pairs and stop requests. It reports each end through a
// callback; the pairs' byte counters and last activity are atomics JavaScript reads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "direction.h"

namespace flock_splice {

// Events taken per epoll_wait.
constexpr int kMaxEventsPerWait = 256;
// Bytes one direction may move per turn before the other ready pairs get theirs.
constexpr uint64_t kMaxBytesPerTurn = 4 << 20;

enum class EndKind : int32_t {
  kClosed = 0,   // both directions ended and each end was passed on
  kReset = 1,    // a socket error; both sockets were reset
  kStopped = 2,  // JavaScript asked (idle timeout, drain, revocation, shutdown)
};

struct EndReport {
  uint64_t id;
  EndKind kind;
  int error;  // errno behind a reset, or 0
  uint64_t a_to_b;
  uint64_t b_to_a;
};

struct Pair {
  // Takes ownership of both descriptors. head_to_b is written to b before anything from a.
  Pair(uint64_t id, int fd_a, int fd_b, std::string head_to_a, std::string head_to_b);
  ~Pair();
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;

  const uint64_t id;
  Side a;
  Side b;
  Direction a_to_b;
  Direction b_to_a;
  // CLOCK_MONOTONIC_COARSE milliseconds of the last byte or end moved.
  std::atomic<int64_t> last_activity_ms;
  // Splice thread only.
  bool ended = false;
  bool queued_ready = false;
};

int64_t MonotonicMs();

class SpliceLoop {
 public:
  using Reporter = void (*)(void* context, const EndReport& report);
  SpliceLoop(Reporter reporter, void* context) : reporter_(reporter), context_(context) {}
  ~SpliceLoop();
  SpliceLoop(const SpliceLoop&) = delete;
  SpliceLoop& operator=(const SpliceLoop&) = delete;

  // Creates the epoll set and the thread; false with errno set on failure.
  bool Start();
  void Add(std::shared_ptr<Pair> pair);
  // Ends the pair; `reset` sends each side a RST instead of a FIN.
  void Stop(std::shared_ptr<Pair> pair, bool reset);
  // Pipes open (held by directions with bytes in flight, plus the idle ones kept for reuse).
  size_t pipes_open() const { return pipes_open_.load(std::memory_order_relaxed); }
  size_t pipes_idle() const { return pipes_idle_.load(std::memory_order_relaxed); }

 private:
  enum class CommandKind { kAdd, kStop, kReset, kQuit };
  struct Command {
    CommandKind kind;
    std::shared_ptr<Pair> pair;
  };

  void Post(Command command);
  void Run();
  // False once told to quit.
  bool RunCommands();
  void Register(std::shared_ptr<Pair> pair);
  void OnEvent(Side* side, uint32_t events);
  void Step(Pair* pair);
  void End(Pair* pair, EndKind kind, int error, bool reset);
  void UpdateStats();

  const Reporter reporter_;
  void* const context_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;

  std::mutex commands_mutex_;
  std::vector<Command> commands_;

  // Splice thread only.
  PipePool pool_;
  std::unordered_map<Pair*, std::shared_ptr<Pair>> live_;
  // Pairs ended during this batch of events: later events of the batch may still name them.
  std::vector<std::shared_ptr<Pair>> ended_;
  // Pairs that used up their turn with readiness left over: edge-triggered epoll will not
  // report them again, so they run again after the next batch.
  std::vector<Pair*> ready_;

  std::atomic<size_t> pipes_open_{0};
  std::atomic<size_t> pipes_idle_{0};
};

}  // namespace flock_splice
