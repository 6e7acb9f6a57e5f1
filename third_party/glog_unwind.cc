// The stack walker glog's stack traces call (LOG(FATAL), CHECK, its failure signal
// handler): the four functions of libunwind's local API that Debian's libglog.a was built
// against, done here with the unwinder every C++ program already has (libgcc's
// _Unwind_Backtrace). Without them a binary needs libunwind: shared, it is two more objects
// for the loader at every start (it pulls liblzma in); its archive is not position-
// independent, so it cannot go into a static PIE (the setuid helpers).
//
// glog's use (stacktrace_libunwind-inl.h): unw_getcontext, unw_init_local, then
// unw_get_reg(UNW_REG_IP) and unw_step until it has enough frames or step returns <= 0.
// The walk is done at once in init_local and kept in the caller's cursor.
#include <unwind.h>

#include <cstdint>

namespace {

constexpr int kMaxFrames = 100;

struct Walk {
  int count;
  int at;
  uintptr_t ip[kMaxFrames];
};

// libunwind's cursor is 127 words on x86-64: the walk must fit in it.
static_assert(sizeof(Walk) <= 127 * sizeof(uint64_t), "a walk does not fit a unw_cursor_t");

_Unwind_Reason_Code Collect(struct _Unwind_Context* context, void* arg) {
  Walk* walk = static_cast<Walk*>(arg);
  uintptr_t ip = _Unwind_GetIP(context);
  if (ip == 0 || walk->count >= kMaxFrames) return _URC_END_OF_STACK;  // past _start
  walk->ip[walk->count++] = ip;
  return _URC_NO_REASON;
}

}  // namespace

extern "C" {

// unw_getcontext: nothing to save; the walk starts from init_local's caller.
int _Ux86_64_getcontext(void* /*context*/) { return 0; }

// unw_init_local: the frames above this one, the first being its caller's (as libunwind's,
// which starts where unw_getcontext was called: the same function).
__attribute__((noinline)) int _ULx86_64_init_local(void* cursor, void* /*context*/) {
  Walk* walk = static_cast<Walk*>(cursor);
  walk->count = 0;
  walk->at = 1;  // frame 0 is this function
  _Unwind_Backtrace(Collect, walk);
  return walk->count > walk->at ? 0 : -1;
}

// unw_step: > 0 while there is a frame, 0 at the end.
int _ULx86_64_step(void* cursor) {
  Walk* walk = static_cast<Walk*>(cursor);
  if (walk->at + 1 >= walk->count) return 0;
  ++walk->at;
  return 1;
}

// unw_get_reg: only the instruction pointer (UNW_REG_IP) is known; glog asks for no other.
int _ULx86_64_get_reg(void* cursor, int reg, uint64_t* value) {
  constexpr int kRegIp = 16;  // UNW_X86_64_RIP
  Walk* walk = static_cast<Walk*>(cursor);
  if (reg != kRegIp) return -1;
  *value = walk->ip[walk->at];
  return 0;
}

}  // extern "C"
