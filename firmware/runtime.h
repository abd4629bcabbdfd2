// The control-core runtime: runs one Program image on the engines through the HAL.
// firmware/README.md describes the scheduling. Plain C++ with <stdint.h>/<stddef.h> only.
#ifndef SSMSOC_FIRMWARE_RUNTIME_H
#define SSMSOC_FIRMWARE_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "firmware/hal.h"

namespace ssmfw {

enum Status : uint32_t {
  kOk = 0,
  kNotMapped = 1,    // the Program image is not readable through map_dram
  kBadMagic = 2,     // not a Program
  kBadVersion = 3,   // a major version this runtime does not read, or a newer minor one
  kBadLayout = 4,    // sections outside the image, misaligned or inconsistent
  kBadStream = 5,    // a stream names a tile or engine the chip does not have
  kBadCommand = 6,   // an unknown opcode, or a semaphore the Program does not declare
  kNoWorkspace = 7,  // the workspace is smaller than workspace_bytes()
  kDeadlock = 8,     // every remaining stream waits on a semaphore nothing will signal
};
const char* status_name(uint32_t status);

// Per-stream and per-queue state the runtime keeps in a caller-given workspace (there is
// no heap). Exposed for workspace sizing.
struct StreamState {
  const ssm_command* commands;  // the stream's first command
  uint32_t count;               // commands in the stream
  uint32_t next;                // index of the next command to dispatch
  uint32_t queue;               // its (tile, engine) queue
  uint32_t last_issued;         // queue sequence number of its latest dispatched command
  uint32_t next_waiter;         // next stream on the same wait list
  uint32_t finished;            // every command dispatched
};
// A SIGNAL that takes effect when its queue has completed the command of `sequence`; the
// stream goes on dispatching meanwhile (an engine may be running several of its commands).
struct PendingSignal {
  uint32_t sequence, semaphore, value;
};
constexpr uint32_t kPendingSignals = 8;  // per queue; a stream with a ninth waits for the first
struct QueueState {
  uint32_t issued;                        // commands pushed (mod 2^32)
  uint32_t completed;                     // cached completion counter
  uint32_t space;                         // cached free slots
  uint32_t waiters;                       // first stream waiting for this queue to change
  uint32_t pending_first, pending_count;  // a ring of SIGNALs in sequence order
  PendingSignal pending[kPendingSignals];
};

// Bytes of workspace the runtime needs for `streams` streams, `queues` queues and
// `semaphores` semaphores (each section 8-byte aligned).
size_t workspace_bytes(uint32_t streams, uint32_t queues, uint32_t semaphores);

// Counters the runtime reports (for the simulator's statistics and the tests).
struct RunCounters {
  uint64_t dispatched;  // engine commands pushed
  uint64_t signals;     // SIGNALs executed
  uint64_t waits;       // WAITs passed
  uint64_t wakeups;     // wait_for_interrupt calls
};

// Reads the Program image at the address in kRegProgramLow/High (kRegProgramBytes long),
// checks its header and tables, and dispatches every stream's commands in order to its
// queue until all streams are done and all their commands completed; executes SIGNAL and
// WAIT itself, and the sync points of engine commands (isa.h). Writes the status to kRegDone and returns it. `counters`
// may be null.
Status run_program(const Hal& hal, void* workspace, size_t workspace_size, RunCounters* counters);

}  // namespace ssmfw

#endif  // SSMSOC_FIRMWARE_RUNTIME_H
