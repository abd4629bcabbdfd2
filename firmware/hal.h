// The hardware abstraction layer of the control-core runtime: everything the firmware
// knows about the chip. Plain C++ with <stdint.h>/<stddef.h> only, so it builds for a
// bare-metal core (no standard library, exceptions, RTTI or heap).
//
// A HAL is a table of functions and a context pointer passed back to each of them. The
// simulator implements it with TLM-2.0 transactions to the SoC's register block and command
// queues (sim/); tests implement it with a fake (tests/firmware); a real core would
// implement it with volatile loads and stores to the addresses of the register map
// (arch/spec/registers.h).
#ifndef SSMSOC_FIRMWARE_HAL_H
#define SSMSOC_FIRMWARE_HAL_H

#include <stddef.h>
#include <stdint.h>

#include "arch/spec/isa.h"
#include "arch/spec/registers.h"

namespace ssmfw {

// The control core's register block (byte offsets of 32-bit registers), from the one
// description of the register map (arch/spec/registers.h).
enum Register : uint32_t {
#define SSMFW_REGISTER_OFFSET(name, offset, ...) kReg##name = offset,
  SSM_CONTROL_REGISTERS(SSMFW_REGISTER_OFFSET)
#undef SSMFW_REGISTER_OFFSET
};

// The registers of command queue q, at byte offsets from its block (SSM_QUEUE_BLOCK_BASE +
// q * SSM_QUEUE_STRIDE): what a HAL's queue functions access on a real core.
enum QueueRegister : uint32_t {
#define SSMFW_QUEUE_REGISTER_OFFSET(name, offset, ...) kQueue##name = offset,
  SSM_QUEUE_REGISTERS(SSMFW_QUEUE_REGISTER_OFFSET)
#undef SSMFW_QUEUE_REGISTER_OFFSET
};

// The command queue of (tile, engine) is queue tile * SSM_ENGINE_COUNT + engine.
inline uint32_t queue_index(uint32_t tile, uint32_t engine) { return tile * SSM_ENGINE_COUNT + engine; }

struct Hal {
  void* context;
  // Register reads and writes (enum Register).
  uint32_t (*read32)(void* context, uint32_t offset);
  void (*write32)(void* context, uint32_t offset, uint32_t value);
  // A readable pointer to `bytes` bytes of DRAM at `address` (the core's view of the
  // Program image), or null when that range is not mapped.
  const void* (*map_dram)(void* context, uint64_t address, uint64_t bytes);
  // Free slots of a command queue.
  uint32_t (*queue_space)(void* context, uint32_t queue);
  // Writes a command into the next free slot and rings the queue's doorbell. Called only
  // when queue_space() > 0.
  void (*queue_push)(void* context, uint32_t queue, const ssm_command* command);
  // Commands of a queue completed since reset, modulo 2^32. Engines complete their queue's
  // commands in order.
  uint32_t (*queue_completed)(void* context, uint32_t queue);
  // Sleeps until a completion interrupt arrives (returns at once when one arrived since
  // the previous call).
  void (*wait_for_interrupt)(void* context);
};

}  // namespace ssmfw

#endif  // SSMSOC_FIRMWARE_HAL_H
