#include "firmware/runtime.h"

namespace ssmfw {

namespace {

size_t align8(size_t n) { return (n + 7) & ~static_cast<size_t>(7); }

// a >= b for sequence numbers modulo 2^32.
bool reached(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) >= 0; }

template <class T>
T load(const uint8_t* p) {
  T value;
  __builtin_memcpy(&value, p, sizeof value);
  return value;
}

constexpr uint32_t kNoStream = 0xFFFFFFFFu;
constexpr uint32_t kSyncFlags = SSM_SYNC_WAIT0 | SSM_SYNC_WAIT1 | SSM_SYNC_SIGNAL;

// Streams are examined only when something they wait for may have changed: a stream that
// cannot go on is put on the wait list of its queue (full, or a SIGNAL waiting for the
// queue's completions) or of its semaphore (a WAIT); a changed queue or a SIGNAL moves the
// list's streams to the ready set. A wake-up thus costs the core work in proportion to what
// changed, not to the number of streams and queues. Ready streams run in index order, as a
// full pass over all streams would.
class Runtime {
 public:
  Runtime(const Hal& hal, StreamState* streams, uint32_t stream_count, QueueState* queues, uint32_t queue_count,
          uint32_t* semaphores, uint32_t* semaphore_waiters, uint32_t semaphore_count, uint32_t* ready)
      : hal_(hal),
        streams_(streams),
        stream_count_(stream_count),
        queues_(queues),
        queue_count_(queue_count),
        semaphores_(semaphores),
        semaphore_waiters_(semaphore_waiters),
        semaphore_count_(semaphore_count),
        ready_(ready) {}

  Status run(RunCounters& counters) {
    counters_ = &counters;
    uint32_t unfinished = 0;
    for (uint32_t q = 0; q < queue_count_; ++q) refresh(q);
    for (uint32_t i = 0; i < stream_count_; ++i)
      if (streams_[i].count != 0) {
        ++unfinished;
        make_ready(i);
      }
    for (;;) {
      read_changes();
      for (uint32_t i = next_ready(0); i < stream_count_; i = next_ready(i + 1)) {
        ready_[i / 32] &= ~(1u << (i % 32));
        StreamState& s = streams_[i];
        const Status status = advance(i, s, counters);
        if (status != kOk) return status;
        if (s.next == s.count && !s.finished) {
          s.finished = 1;
          --unfinished;
        }
      }
      if (unfinished == 0 && busy_queues_ == 0) return kOk;
      if (next_ready(0) < stream_count_) continue;  // a SIGNAL released a WAIT of an earlier stream
      if (busy_queues_ == 0) return kDeadlock;
      ++counters.wakeups;
      hal_.wait_for_interrupt(hal_.context);
    }
  }

 private:
  void make_ready(uint32_t stream) { ready_[stream / 32] |= 1u << (stream % 32); }

  // The first ready stream at or after `from` (stream_count_ when none).
  uint32_t next_ready(uint32_t from) const {
    for (uint32_t word = from / 32; word * 32 < stream_count_; ++word) {
      uint32_t bits = ready_[word];
      if (word == from / 32) bits &= ~0u << (from % 32);
      if (bits != 0) {
        const uint32_t i = word * 32 + static_cast<uint32_t>(__builtin_ctz(bits));
        return i < stream_count_ ? i : stream_count_;
      }
    }
    return stream_count_;
  }

  void wake_all(uint32_t& head) {
    for (uint32_t i = head; i != kNoStream; i = streams_[i].next_waiter) make_ready(i);
    head = kNoStream;
  }
  void wait_on(uint32_t& head, uint32_t stream) {
    streams_[stream].next_waiter = head;
    head = stream;
  }

  bool busy(const QueueState& q) const { return q.issued != 0 && !reached(q.completed, q.issued); }

  // Reads a queue's completion counter and free slots, and gives the SIGNALs of the
  // commands it completed.
  void refresh(uint32_t q) {
    QueueState& state = queues_[q];
    const bool was_busy = busy(state);
    state.completed = hal_.queue_completed(hal_.context, q);
    state.space = hal_.queue_space(hal_.context, q);
    busy_queues_ += static_cast<uint32_t>(busy(state)) - static_cast<uint32_t>(was_busy);
    while (state.pending_count != 0) {
      const PendingSignal& p = state.pending[state.pending_first];
      if (!reached(state.completed, p.sequence)) break;
      signal(p.semaphore, p.value);
      state.pending_first = (state.pending_first + 1) % kPendingSignals;
      --state.pending_count;
    }
  }

  // A SIGNAL after the stream's latest command: now if that has completed, else when it does
  // (false: the queue's ring is full; the stream must wait).
  bool signal_after(const StreamState& s, QueueState& q, uint32_t semaphore, uint32_t value) {
    if (s.last_issued == 0 || reached(q.completed, s.last_issued)) {
      signal(semaphore, value);
      return true;
    }
    if (q.pending_count == kPendingSignals) return false;
    q.pending[(q.pending_first + q.pending_count) % kPendingSignals] = PendingSignal{s.last_issued, semaphore, value};
    ++q.pending_count;
    return true;
  }

  // Only the queues the chip reports as changed are read again: with hundreds of queues,
  // reading every one on every interrupt would dominate the core's time.
  void read_changes() {
    for (uint32_t word = 0; word * 32 < queue_count_; ++word) {
      uint32_t bits = hal_.read32(hal_.context, kRegQueueChanged + 4 * word);
      while (bits != 0) {
        const uint32_t q = word * 32 + static_cast<uint32_t>(__builtin_ctz(bits));
        bits &= bits - 1;
        if (q >= queue_count_) continue;
        refresh(q);
        wake_all(queues_[q].waiters);
      }
    }
  }

  // Adds to a semaphore and releases the streams waiting on it.
  void signal(uint32_t semaphore, uint32_t value) {
    semaphores_[semaphore] += value;
    wake_all(semaphore_waiters_[semaphore]);
    ++counters_->signals;
  }

  // Dispatches the stream's commands until one must wait; then puts the stream on the wait
  // list of what it waits for.
  Status advance(uint32_t index, StreamState& s, RunCounters& counters) {
    QueueState& q = queues_[s.queue];
    for (;;) {
      if (s.next == s.count) return kOk;
      const ssm_command& c = s.commands[s.next];
      const uint8_t op = c.head.opcode;
      if (op == SSM_OP_SIGNAL || op == SSM_OP_WAIT) {
        if (c.sync.semaphore >= semaphore_count_ || c.head.sync != 0) return kBadCommand;
        if (op == SSM_OP_SIGNAL) {
          // Takes effect once every earlier command of the stream has completed.
          if (!signal_after(s, q, c.sync.semaphore, c.sync.value)) {
            wait_on(q.waiters, index);
            return kOk;
          }
        } else {
          if (semaphores_[c.sync.semaphore] < c.sync.value) {
            wait_on(semaphore_waiters_[c.sync.semaphore], index);
            return kOk;
          }
          ++counters.waits;
        }
      } else {
        if (op < SSM_OP_DMA || op > SSM_OP_VECTOR || (c.head.sync & ~kSyncFlags) != 0) return kBadCommand;
        for (uint32_t slot = 0; slot < 2; ++slot) {
          if (!(c.head.sync & (slot == 0 ? SSM_SYNC_WAIT0 : SSM_SYNC_WAIT1))) continue;
          const uint32_t semaphore = c.words[SSM_SYNC_WORD + 2 * slot], value = c.words[SSM_SYNC_WORD + 2 * slot + 1];
          if (semaphore >= semaphore_count_) return kBadCommand;
          if (semaphores_[semaphore] < value) {
            wait_on(semaphore_waiters_[semaphore], index);
            return kOk;
          }
        }
        const bool signals = (c.head.sync & SSM_SYNC_SIGNAL) != 0;
        if (signals && c.words[SSM_SYNC_WORD + 4] >= semaphore_count_) return kBadCommand;
        // A sync-point SIGNAL needs a place in the queue's ring before its command goes.
        if (q.space == 0 || (signals && q.pending_count == kPendingSignals)) {
          wait_on(q.waiters, index);
          return kOk;
        }
        counters.waits += ((c.head.sync & SSM_SYNC_WAIT0) != 0) + ((c.head.sync & SSM_SYNC_WAIT1) != 0);
        const bool was_busy = busy(q);
        hal_.queue_push(hal_.context, s.queue, &c);
        --q.space;
        s.last_issued = ++q.issued;
        busy_queues_ += static_cast<uint32_t>(!was_busy);
        ++counters.dispatched;
        if (signals) signal_after(s, q, c.words[SSM_SYNC_WORD + 4], c.words[SSM_SYNC_WORD + 5]);
      }
      ++s.next;
    }
  }

  const Hal& hal_;
  StreamState* streams_;
  uint32_t stream_count_;
  QueueState* queues_;
  uint32_t queue_count_;
  uint32_t* semaphores_;
  uint32_t* semaphore_waiters_;  // per semaphore: first stream of its wait list
  uint32_t semaphore_count_;
  uint32_t* ready_;           // a bit per stream
  uint32_t busy_queues_ = 0;  // queues with commands not yet completed
  RunCounters* counters_ = nullptr;
};

Status finish(const Hal& hal, Status status) {
  hal.write32(hal.context, kRegDone, status);
  return status;
}

}  // namespace

const char* status_name(uint32_t status) {
  switch (status) {
    case kOk:
      return "ok";
    case kNotMapped:
      return "the Program image is not mapped";
    case kBadMagic:
      return "not a Program (bad magic)";
    case kBadVersion:
      return "unsupported Program version";
    case kBadLayout:
      return "malformed Program layout";
    case kBadStream:
      return "a stream names a tile or engine the chip does not have";
    case kBadCommand:
      return "unknown opcode or semaphore";
    case kNoWorkspace:
      return "workspace too small";
    case kDeadlock:
      return "deadlock: streams wait on semaphores nothing will signal";
  }
  return "unknown status";
}

size_t workspace_bytes(uint32_t streams, uint32_t queues, uint32_t semaphores) {
  return align8(sizeof(StreamState) * streams) + align8(sizeof(QueueState) * queues) +
         2 * align8(sizeof(uint32_t) * semaphores) + align8(sizeof(uint32_t) * ((streams + 31) / 32));
}

Status run_program(const Hal& hal, void* workspace, size_t workspace_size, RunCounters* counters) {
  RunCounters local = {0, 0, 0, 0};
  RunCounters& count = counters ? *counters : local;
  const uint64_t address =
      (static_cast<uint64_t>(hal.read32(hal.context, kRegProgramHigh)) << 32) | hal.read32(hal.context, kRegProgramLow);
  const uint32_t bytes = hal.read32(hal.context, kRegProgramBytes);
  if (bytes < sizeof(ssm_program_header)) return finish(hal, kBadLayout);
  const uint8_t* image = static_cast<const uint8_t*>(hal.map_dram(hal.context, address, bytes));
  if (!image) return finish(hal, kNotMapped);
  const ssm_program_header h = load<ssm_program_header>(image);
  if (h.magic != SSM_PROGRAM_MAGIC) return finish(hal, kBadMagic);
  if (h.version_major != SSM_PROGRAM_VERSION_MAJOR || h.version_minor > SSM_PROGRAM_VERSION_MINOR)
    return finish(hal, kBadVersion);
  const uint64_t streams_end = static_cast<uint64_t>(h.stream_offset) + uint64_t{h.stream_count} * sizeof(ssm_stream);
  const uint64_t commands_end =
      static_cast<uint64_t>(h.command_offset) + uint64_t{h.command_count} * sizeof(ssm_command);
  if (h.total_bytes != bytes || h.stream_offset % 8 != 0 || h.command_offset % 8 != 0 || streams_end > bytes ||
      commands_end > bytes || h.semaphore_count > SSM_MAX_SEMAPHORES)
    return finish(hal, kBadLayout);

  const uint32_t tiles = hal.read32(hal.context, kRegTileCount);
  const uint32_t queue_count = tiles * SSM_ENGINE_COUNT;
  if (workspace_size < workspace_bytes(h.stream_count, queue_count, h.semaphore_count) ||
      (reinterpret_cast<uintptr_t>(workspace) & 7) != 0)
    return finish(hal, kNoWorkspace);
  uint8_t* w = static_cast<uint8_t*>(workspace);
  StreamState* streams = reinterpret_cast<StreamState*>(w);
  QueueState* queues = reinterpret_cast<QueueState*>(w + align8(sizeof(StreamState) * h.stream_count));
  uint32_t* semaphores =
      reinterpret_cast<uint32_t*>(reinterpret_cast<uint8_t*>(queues) + align8(sizeof(QueueState) * queue_count));
  uint32_t* semaphore_waiters = reinterpret_cast<uint32_t*>(reinterpret_cast<uint8_t*>(semaphores) +
                                                            align8(sizeof(uint32_t) * h.semaphore_count));
  uint32_t* ready = reinterpret_cast<uint32_t*>(reinterpret_cast<uint8_t*>(semaphore_waiters) +
                                                align8(sizeof(uint32_t) * h.semaphore_count));
  for (uint32_t q = 0; q < queue_count; ++q) queues[q] = QueueState{0, 0, 0, kNoStream, 0, 0, {}};
  for (uint32_t i = 0; i < h.semaphore_count; ++i) semaphores[i] = 0, semaphore_waiters[i] = kNoStream;
  for (uint32_t word = 0; word < (h.stream_count + 31) / 32; ++word) ready[word] = 0;

  const ssm_command* commands = reinterpret_cast<const ssm_command*>(image + h.command_offset);
  for (uint32_t i = 0; i < h.stream_count; ++i) {
    const ssm_stream e = load<ssm_stream>(image + h.stream_offset + uint64_t{i} * sizeof(ssm_stream));
    if (uint64_t{e.first_command} + e.command_count > h.command_count) return finish(hal, kBadLayout);
    if (e.tile >= tiles || e.engine >= SSM_ENGINE_COUNT) return finish(hal, kBadStream);
    streams[i] =
        StreamState{commands + e.first_command, e.command_count, 0, queue_index(e.tile, e.engine), 0, kNoStream, 0};
  }
  Runtime runtime(hal, streams, h.stream_count, queues, queue_count, semaphores, semaphore_waiters, h.semaphore_count,
                  ready);
  return finish(hal, runtime.run(count));
}

}  // namespace ssmfw
