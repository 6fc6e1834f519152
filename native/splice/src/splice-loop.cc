#include "splice-loop.h"

#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

namespace flock_splice {

int64_t MonotonicMs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

Pair::Pair(uint64_t pair_id, int fd_a, int fd_b, std::string head_to_a, std::string head_to_b)
    : id(pair_id),
      a{this, fd_a, false, false},
      b{this, fd_b, false, false},
      a_to_b(&a, &b, std::move(head_to_b)),
      b_to_a(&b, &a, std::move(head_to_a)),
      last_activity_ms(MonotonicMs()) {}

Pair::~Pair() {
  if (a.fd >= 0) close(a.fd);
  if (b.fd >= 0) close(b.fd);
}

SpliceLoop::~SpliceLoop() {
  if (thread_.joinable()) {
    Post({CommandKind::kQuit, nullptr});
    thread_.join();
  }
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

bool SpliceLoop::Start() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return false;
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return false;
  epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.ptr = nullptr;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake) != 0) return false;
  // Signals stay with Node's thread: the new thread inherits a mask that blocks them all.
  sigset_t all;
  sigset_t before;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  thread_ = std::thread([this] { Run(); });
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  return true;
}

void SpliceLoop::Add(std::shared_ptr<Pair> pair) { Post({CommandKind::kAdd, std::move(pair)}); }

void SpliceLoop::Stop(std::shared_ptr<Pair> pair, bool reset) {
  Post({reset ? CommandKind::kReset : CommandKind::kStop, std::move(pair)});
}

void SpliceLoop::Post(Command command) {
  {
    std::lock_guard<std::mutex> lock(commands_mutex_);
    commands_.push_back(std::move(command));
  }
  uint64_t one = 1;
  // Cannot fail short of a counter overflow, which the splice thread's reads rule out.
  (void)!write(wake_fd_, &one, sizeof one);
}

void SpliceLoop::Run() {
  epoll_event events[kMaxEventsPerWait];
  bool running = true;
  while (running) {
    int n = epoll_wait(epoll_fd_, events, kMaxEventsPerWait, ready_.empty() ? -1 : 0);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == nullptr) {
        running = RunCommands() && running;
      } else {
        OnEvent(static_cast<Side*>(events[i].data.ptr), events[i].events);
      }
    }
    std::vector<Pair*> again;
    again.swap(ready_);
    for (Pair* pair : again) {
      pair->queued_ready = false;
      if (!pair->ended) Step(pair);
    }
    ended_.clear();
    UpdateStats();
  }
  // Told to quit (the Node environment is going away): the pairs' destructors close their sockets.
  live_.clear();
}

bool SpliceLoop::RunCommands() {
  uint64_t count;
  (void)!read(wake_fd_, &count, sizeof count);
  std::vector<Command> commands;
  {
    std::lock_guard<std::mutex> lock(commands_mutex_);
    commands.swap(commands_);
  }
  bool running = true;
  for (Command& command : commands) {
    switch (command.kind) {
      case CommandKind::kAdd:
        Register(std::move(command.pair));
        break;
      case CommandKind::kStop:
      case CommandKind::kReset:
        if (!command.pair->ended && live_.count(command.pair.get()) > 0) {
          End(command.pair.get(), EndKind::kStopped, 0, command.kind == CommandKind::kReset);
        }
        break;
      case CommandKind::kQuit:
        running = false;
        break;
    }
  }
  return running;
}

void SpliceLoop::Register(std::shared_ptr<Pair> pair) {
  Pair* p = pair.get();
  live_.emplace(p, std::move(pair));
  // Edge-triggered, both ways, once: no epoll_ctl per state change. Readiness the sockets
  // already have is reported by the first epoll_wait after the add.
  for (Side* side : {&p->a, &p->b}) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.ptr = side;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, side->fd, &event) != 0) {
      End(p, EndKind::kReset, errno, true);
      return;
    }
  }
}

void SpliceLoop::OnEvent(Side* side, uint32_t events) {
  Pair* pair = static_cast<Pair*>(side->pair);
  if (pair->ended) return;
  if (events & EPOLLERR) {
    // Seen even while the direction reading this socket is held back by a slow reader, so
    // a reset is passed on at once rather than after the backlog.
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(side->fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      End(pair, EndKind::kReset, error, true);
      return;
    }
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) side->readable = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) side->writable = true;
  Step(pair);
}

void SpliceLoop::Step(Pair* pair) {
  int error = 0;
  bool moved = false;
  PumpResult forward = pair->a_to_b.Pump(&pool_, kMaxBytesPerTurn, &error, &moved);
  PumpResult backward = PumpResult::kFailed;
  if (forward != PumpResult::kFailed) {
    backward = pair->b_to_a.Pump(&pool_, kMaxBytesPerTurn, &error, &moved);
  }
  if (moved) pair->last_activity_ms.store(MonotonicMs(), std::memory_order_relaxed);
  if (forward == PumpResult::kFailed || backward == PumpResult::kFailed) {
    End(pair, EndKind::kReset, error, true);
  } else if (forward == PumpResult::kFinished && backward == PumpResult::kFinished) {
    End(pair, EndKind::kClosed, 0, false);
  } else if ((forward == PumpResult::kYield || backward == PumpResult::kYield) && !pair->queued_ready) {
    pair->queued_ready = true;
    ready_.push_back(pair);
  }
}

// Teardown order: the end is reported first, so JavaScript has it before a party can see
// the close; then out of the epoll set, then (for a reset) SO_LINGER 0 so close() sends a
// RST instead of a FIN, then close. These descriptors are the last ones open on their
// sockets (JavaScript closed its own before the pair was added), so close() really ends them.
void SpliceLoop::End(Pair* pair, EndKind kind, int error, bool reset) {
  pair->ended = true;
  if (pair->queued_ready) {
    // It would outlive its hold in ended_ there.
    std::erase(ready_, pair);
    pair->queued_ready = false;
  }
  reporter_(context_, {pair->id, kind, error, pair->a_to_b.bytes(), pair->b_to_a.bytes()});
  for (Side* side : {&pair->a, &pair->b}) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, side->fd, nullptr);
    if (reset) {
      linger abort{1, 0};
      setsockopt(side->fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    }
    close(side->fd);
    side->fd = -1;
  }
  pair->a_to_b.DiscardPipe(&pool_);
  pair->b_to_a.DiscardPipe(&pool_);
  auto held = live_.find(pair);
  if (held != live_.end()) {
    ended_.push_back(std::move(held->second));
    live_.erase(held);
  }
}

void SpliceLoop::UpdateStats() {
  pipes_open_.store(pool_.open(), std::memory_order_relaxed);
  pipes_idle_.store(pool_.idle(), std::memory_order_relaxed);
}

}  // namespace flock_splice
