// Node-API face of the splice thread: JavaScript hands over two TCP socket descriptors
// (which this file duplicates, so JavaScript can close its own) and gets an id back; each
// end comes back as one call of the function given to start(). See docs/data-plane.md.
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "splice-loop.h"

namespace flock_splice {
namespace {

struct Addon {
  napi_threadsafe_function on_end = nullptr;
  std::unique_ptr<SpliceLoop> loop;
  // JavaScript thread only: pairs from open() until their end has been delivered.
  std::unordered_map<uint64_t, std::shared_ptr<Pair>> pairs;
  uint64_t next_id = 1;
  // The end callback keeps the event loop alive while pairs run, as their sockets did.
  bool referenced = false;
};

#define CHECK_NAPI(env, call)                                          \
  do {                                                                 \
    if ((call) != napi_ok) {                                           \
      napi_throw_error((env), "ERR_FLOCK_SPLICE", "Node-API failed: " #call); \
      return nullptr;                                                  \
    }                                                                  \
  } while (0)

napi_value ThrowErrno(napi_env env, const char* what, int error) {
  std::string message = std::string(what) + ": " + strerror(error);
  napi_throw_error(env, "ERR_FLOCK_SPLICE", message.c_str());
  return nullptr;
}

void SetReferenced(napi_env env, Addon* addon, bool referenced) {
  if (addon->referenced == referenced) return;
  addon->referenced = referenced;
  if (referenced) {
    napi_ref_threadsafe_function(env, addon->on_end);
  } else {
    napi_unref_threadsafe_function(env, addon->on_end);
  }
}

// Splice thread: queue the report for the JavaScript thread; never blocks.
void Report(void* context, const EndReport& report) {
  auto* addon = static_cast<Addon*>(context);
  auto* copy = new EndReport(report);
  if (napi_call_threadsafe_function(addon->on_end, copy, napi_tsfn_nonblocking) != napi_ok) delete copy;
}

// JavaScript thread: onEnd(id, kind, errno, aToB, bToA).
void DeliverEnd(napi_env env, napi_value callback, void* context, void* data) {
  std::unique_ptr<EndReport> report(static_cast<EndReport*>(data));
  if (env == nullptr) return;
  auto* addon = static_cast<Addon*>(context);
  addon->pairs.erase(report->id);
  if (addon->pairs.empty()) SetReferenced(env, addon, false);
  napi_value argv[5];
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  napi_create_double(env, static_cast<double>(report->id), &argv[0]);
  napi_create_int32(env, static_cast<int32_t>(report->kind), &argv[1]);
  napi_create_int32(env, report->error, &argv[2]);
  napi_create_double(env, static_cast<double>(report->a_to_b), &argv[3]);
  napi_create_double(env, static_cast<double>(report->b_to_a), &argv[4]);
  napi_call_function(env, undefined, callback, 5, argv, nullptr);
}

// Runs before the end callback is torn down (hooks run in reverse order of registration),
// so the splice thread is joined while the callback it reports to still exists.
void StopLoop(void* data) { static_cast<Addon*>(data)->loop.reset(); }

void DeleteAddon(napi_env, void* data, void*) { delete static_cast<Addon*>(data); }

Addon* GetAddon(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  void* data = nullptr;
  if (napi_get_cb_info(env, info, argc, argv, nullptr, &data) != napi_ok) return nullptr;
  return static_cast<Addon*>(data);
}

Addon* StartedAddon(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  Addon* addon = GetAddon(env, info, argc, argv);
  if (addon != nullptr && addon->loop == nullptr) {
    napi_throw_error(env, "ERR_FLOCK_SPLICE", "start() has not been called");
    return nullptr;
  }
  return addon;
}

// One call's arguments (at most N; argc says how many came) and the addon, which is null
// when start() has not run yet (an exception is then pending).
template <size_t N>
struct StartedCall {
  size_t argc = N;
  napi_value argv[N] = {};
  Addon* addon;
  StartedCall(napi_env env, napi_callback_info info) : addon(StartedAddon(env, info, &argc, argv)) {}
};

napi_value Start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Addon* addon = GetAddon(env, info, &argc, argv);
  if (addon == nullptr) return nullptr;
  if (addon->loop != nullptr) {
    napi_throw_error(env, "ERR_FLOCK_SPLICE", "start() was already called");
    return nullptr;
  }
  napi_value name;
  CHECK_NAPI(env, napi_create_string_utf8(env, "flock-splice-end", NAPI_AUTO_LENGTH, &name));
  CHECK_NAPI(env, napi_create_threadsafe_function(env, argv[0], nullptr, name, 0, 1, nullptr, nullptr, addon,
                                                  DeliverEnd, &addon->on_end));
  CHECK_NAPI(env, napi_unref_threadsafe_function(env, addon->on_end));
  auto loop = std::make_unique<SpliceLoop>(Report, addon);
  if (!loop->Start()) return ThrowErrno(env, "cannot start the splice thread", errno);
  addon->loop = std::move(loop);
  CHECK_NAPI(env, napi_add_env_cleanup_hook(env, StopLoop, addon));
  return nullptr;
}

bool NumberArg(napi_env env, napi_value value, double* out) {
  return napi_get_value_double(env, value, out) == napi_ok;
}

// A Buffer or Uint8Array, or undefined for none.
bool BytesArg(napi_env env, napi_value value, std::string* out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok) return false;
  if (type == napi_undefined) return true;
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return false;
  napi_typedarray_type kind;
  size_t length;
  void* bytes;
  if (napi_get_typedarray_info(env, value, &kind, &length, &bytes, nullptr, nullptr) != napi_ok ||
      kind != napi_uint8_array) {
    return false;
  }
  out->assign(static_cast<const char*>(bytes), length);
  return true;
}

// A descriptor of our own on the same connected TCP socket, non-blocking, or -1 with errno.
int DupStreamSocket(int fd) {
  int type = 0;
  socklen_t length = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0) return -1;
  if (type != SOCK_STREAM) {
    errno = ENOTSUP;
    return -1;
  }
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return -1;
  int flags = fcntl(copy, F_GETFL);
  if (flags < 0 || fcntl(copy, F_SETFL, flags | O_NONBLOCK) != 0) {
    int error = errno;
    close(copy);
    errno = error;
    return -1;
  }
  return copy;
}

// open(fdA, fdB, headToA?, headToB?) → id
napi_value Open(napi_env env, napi_callback_info info) {
  StartedCall<4> call(env, info);
  Addon* addon = call.addon;
  if (addon == nullptr) return nullptr;
  double fd_a = -1;
  double fd_b = -1;
  std::string head_to_a;
  std::string head_to_b;
  const size_t argc = call.argc;
  if (argc < 2 || !NumberArg(env, call.argv[0], &fd_a) || !NumberArg(env, call.argv[1], &fd_b) ||
      (argc > 2 && !BytesArg(env, call.argv[2], &head_to_a)) ||
      (argc > 3 && !BytesArg(env, call.argv[3], &head_to_b))) {
    napi_throw_type_error(env, "ERR_FLOCK_SPLICE", "open(fdA, fdB, headToA?, headToB?) takes two descriptors and bytes");
    return nullptr;
  }
  int a = DupStreamSocket(static_cast<int>(fd_a));
  if (a < 0) return ThrowErrno(env, "cannot take socket a", errno);
  int b = DupStreamSocket(static_cast<int>(fd_b));
  if (b < 0) {
    int error = errno;
    close(a);
    return ThrowErrno(env, "cannot take socket b", error);
  }
  uint64_t id = addon->next_id++;
  auto pair = std::make_shared<Pair>(id, a, b, std::move(head_to_a), std::move(head_to_b));
  addon->pairs.emplace(id, pair);
  SetReferenced(env, addon, true);
  addon->loop->Add(std::move(pair));
  napi_value result;
  CHECK_NAPI(env, napi_create_double(env, static_cast<double>(id), &result));
  return result;
}

// The pair named by argv[0], or null once it has ended (or for a bad id).
std::shared_ptr<Pair> FindPair(napi_env env, Addon* addon, size_t argc, napi_value* argv) {
  double id = 0;
  if (argc < 1 || !NumberArg(env, argv[0], &id)) return nullptr;
  auto found = addon->pairs.find(static_cast<uint64_t>(id));
  return found == addon->pairs.end() ? nullptr : found->second;
}

// measure(pair) for the pair named by the call's one argument, or -1 once it has ended.
template <typename Measure>
napi_value MeasurePair(napi_env env, napi_callback_info info, Measure measure) {
  StartedCall<1> call(env, info);
  if (call.addon == nullptr) return nullptr;
  auto pair = FindPair(env, call.addon, call.argc, call.argv);
  napi_value result;
  CHECK_NAPI(env, napi_create_double(env, pair ? measure(*pair) : -1, &result));
  return result;
}

// bytes(id) → bytes moved both ways so far, or -1 once the pair has ended.
napi_value Bytes(napi_env env, napi_callback_info info) {
  return MeasurePair(env, info, [](const Pair& pair) {
    return static_cast<double>(pair.a_to_b.bytes() + pair.b_to_a.bytes());
  });
}

// idleMs(id) → milliseconds since a byte or an end last moved, or -1 once the pair has ended.
napi_value IdleMs(napi_env env, napi_callback_info info) {
  return MeasurePair(env, info, [](const Pair& pair) {
    return static_cast<double>(MonotonicMs() - pair.last_activity_ms.load(std::memory_order_relaxed));
  });
}

// stop(id, reset): ends the pair, with a RST to each side when `reset`. Its end is reported
// as stopped, unless it ended on its own first.
napi_value Stop(napi_env env, napi_callback_info info) {
  StartedCall<2> call(env, info);
  if (call.addon == nullptr) return nullptr;
  auto pair = FindPair(env, call.addon, call.argc, call.argv);
  bool reset = false;
  if (call.argc > 1) napi_get_value_bool(env, call.argv[1], &reset);
  if (pair) call.addon->loop->Stop(std::move(pair), reset);
  return nullptr;
}

bool SetNumber(napi_env env, napi_value object, const char* name, double value) {
  napi_value number;
  return napi_create_double(env, value, &number) == napi_ok &&
         napi_set_named_property(env, object, name, number) == napi_ok;
}

// stats() → { pairs, pipesOpen, pipesIdle }
napi_value Stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  Addon* addon = StartedAddon(env, info, &argc, nullptr);
  if (addon == nullptr) return nullptr;
  napi_value result;
  if (napi_create_object(env, &result) != napi_ok ||
      !SetNumber(env, result, "pairs", static_cast<double>(addon->pairs.size())) ||
      !SetNumber(env, result, "pipesOpen", static_cast<double>(addon->loop->pipes_open())) ||
      !SetNumber(env, result, "pipesIdle", static_cast<double>(addon->loop->pipes_idle()))) {
    napi_throw_error(env, "ERR_FLOCK_SPLICE", "Node-API failed building stats()");
    return nullptr;
  }
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  auto* addon = new Addon();
  CHECK_NAPI(env, napi_set_instance_data(env, addon, DeleteAddon, nullptr));
  struct Export {
    const char* name;
    napi_callback callback;
  };
  const Export functions[] = {{"start", Start}, {"open", Open},  {"bytes", Bytes},
                              {"idleMs", IdleMs}, {"stop", Stop}, {"stats", Stats}};
  for (const Export& f : functions) {
    napi_value fn;
    CHECK_NAPI(env, napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.callback, addon, &fn));
    CHECK_NAPI(env, napi_set_named_property(env, exports, f.name, fn));
  }
  if (!SetNumber(env, exports, "maxIdlePipes", static_cast<double>(kMaxIdlePipes))) {
    napi_throw_error(env, "ERR_FLOCK_SPLICE", "Node-API failed exporting maxIdlePipes");
    return nullptr;
  }
  return exports;
}

}  // namespace
}  // namespace flock_splice

NAPI_MODULE_INIT() { return flock_splice::Init(env, exports); }
