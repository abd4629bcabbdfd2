#include "runtime.h"

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

class Runtime {
 public:
  Runtime(const Hal& hal, StreamState* streams, uint32_t stream_count, QueueState* queues, uint32_t queue_count,
          uint32_t* semaphores, uint32_t semaphore_count)
      : hal_(hal),
        streams_(streams),
        stream_count_(stream_count),
        queues_(queues),
        queue_count_(queue_count),
        semaphores_(semaphores),
        semaphore_count_(semaphore_count) {}

  Status run(RunCounters& counters) {
    uint32_t unfinished = 0;
    for (uint32_t i = 0; i < stream_count_; ++i) unfinished += streams_[i].count != 0;
    for (;;) {
      ++epoch_;
      bool progress = false;
      for (uint32_t i = 0; i < stream_count_; ++i) {
        StreamState& s = streams_[i];
        if (s.next == s.count) continue;
        const Status status = advance(s, progress, counters);
        if (status != kOk) return status;
        if (s.next == s.count) --unfinished;
      }
      if (unfinished == 0 && all_completed()) return kOk;
      if (progress) continue;  // a SIGNAL may have released a WAIT of an earlier stream
      if (all_completed()) return kDeadlock;
      ++counters.wakeups;
      hal_.wait_for_interrupt(hal_.context);
    }
  }

 private:
  QueueState& queue(uint32_t q) {
    QueueState& state = queues_[q];
    if (state.epoch != epoch_) {
      state.epoch = epoch_;
      state.completed = hal_.queue_completed(hal_.context, q);
      state.space = hal_.queue_space(hal_.context, q);
    }
    return state;
  }

  bool all_completed() {
    for (uint32_t q = 0; q < queue_count_; ++q)
      if (queues_[q].issued != 0 && !reached(queue(q).completed, queues_[q].issued)) return false;
    return true;
  }

  // Dispatches the stream's commands until one must wait.
  Status advance(StreamState& s, bool& progress, RunCounters& counters) {
    while (s.next < s.count) {
      const ssm_command& c = s.commands[s.next];
      const uint8_t op = c.head.opcode;
      if (op == SSM_OP_SIGNAL || op == SSM_OP_WAIT) {
        if (c.sync.semaphore >= semaphore_count_) return kBadCommand;
        uint32_t& sem = semaphores_[c.sync.semaphore];
        if (op == SSM_OP_SIGNAL) {
          // Takes effect once every earlier command of the stream has completed.
          if (s.last_issued != 0 && !reached(queue(s.queue).completed, s.last_issued)) return kOk;
          sem += c.sync.value;
          ++counters.signals;
        } else {
          if (sem < c.sync.value) return kOk;
          ++counters.waits;
        }
      } else {
        if (op < SSM_OP_DMA || op > SSM_OP_VECTOR) return kBadCommand;
        QueueState& q = queue(s.queue);
        if (q.space == 0) return kOk;
        hal_.queue_push(hal_.context, s.queue, &c);
        --q.space;
        s.last_issued = ++q.issued;
        ++counters.dispatched;
      }
      ++s.next;
      progress = true;
    }
    return kOk;
  }

  const Hal& hal_;
  StreamState* streams_;
  uint32_t stream_count_;
  QueueState* queues_;
  uint32_t queue_count_;
  uint32_t* semaphores_;
  uint32_t semaphore_count_;
  uint32_t epoch_ = 0;
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
         align8(sizeof(uint32_t) * semaphores);
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
  for (uint32_t q = 0; q < queue_count; ++q) queues[q] = QueueState{0, 0, 0, 0};
  for (uint32_t i = 0; i < h.semaphore_count; ++i) semaphores[i] = 0;

  const ssm_command* commands = reinterpret_cast<const ssm_command*>(image + h.command_offset);
  for (uint32_t i = 0; i < h.stream_count; ++i) {
    const ssm_stream e = load<ssm_stream>(image + h.stream_offset + uint64_t{i} * sizeof(ssm_stream));
    if (uint64_t{e.first_command} + e.command_count > h.command_count) return finish(hal, kBadLayout);
    if (e.tile >= tiles || e.engine >= SSM_ENGINE_COUNT) return finish(hal, kBadStream);
    streams[i] = StreamState{commands + e.first_command, e.command_count, 0, queue_index(e.tile, e.engine), 0};
  }
  Runtime runtime(hal, streams, h.stream_count, queues, queue_count, semaphores, h.semaphore_count);
  return finish(hal, runtime.run(count));
}

}  // namespace ssmfw
