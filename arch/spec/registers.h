/* The device registers the control core sees: one description from which the firmware's
 * offsets (firmware/hal.h), the simulator's address decoder (sim/device_registers.cpp) and
 * the register table of firmware/README.md (checked against this file by a test) come.
 * Plain C (no includes) so the bare-metal firmware can include it.
 *
 * Each list calls X(name, offset, access, bytes, count, reset, description) per register:
 *   name         the firmware's kReg<name> (control) or kQueue<name> (queue registers)
 *   offset       byte offset in its block
 *   access       SSM_REG_READ, SSM_REG_WRITE or SSM_REG_READ_CLEAR
 *   bytes        of one access (4: a 32-bit register)
 *   count        consecutive registers at offset + bytes * i; SSM_REG_PER_32_QUEUES: one per
 *                32 command queues (ceil(queues / 32))
 *   reset        the value after reset, in words (some are the chip's configuration)
 *   description  what it holds
 * An access to an offset no register covers reads 0 and writes nothing; so does a write to
 * a register without SSM_REG_WRITE, or a read of one without SSM_REG_READ. */
#ifndef SSMSOC_ARCH_REGISTERS_H
#define SSMSOC_ARCH_REGISTERS_H

#define SSM_REG_READ 1u
#define SSM_REG_WRITE 2u
#define SSM_REG_READ_CLEAR 5u /* read, and the read clears it */
#define SSM_REG_PER_32_QUEUES 0u

/* The control registers, at SSM_CONTROL_BLOCK_BASE. */
#define SSM_CONTROL_BLOCK_BASE 0x100000000ull
#define SSM_CONTROL_REGISTERS(X)                                                                                     \
  X(TileCount, 0x00u, SSM_REG_READ, 4u, 1u, "the profile's tile_count",                                              \
    "tiles on the chip (queues = tiles * SSM_ENGINE_COUNT)")                                                         \
  X(QueueDepth, 0x04u, SSM_REG_READ, 4u, 1u, "the profile's control.queue_depth", "slots of every command queue")    \
  X(ProgramLow, 0x08u, SSM_REG_READ, 4u, 1u, "set by the loader", "DRAM address of the Program image, bits 0..31")   \
  X(ProgramHigh, 0x0Cu, SSM_REG_READ, 4u, 1u, "set by the loader", "DRAM address of the Program image, bits 32..63") \
  X(ProgramBytes, 0x10u, SSM_REG_READ, 4u, 1u, "set by the loader", "bytes of the Program image")                    \
  X(Done, 0x14u, SSM_REG_WRITE, 4u, 1u, "-", "the program finished, with this status (ssmfw::Status)")               \
  X(QueueChanged, 0x40u, SSM_REG_READ_CLEAR, 4u, SSM_REG_PER_32_QUEUES, "0",                                         \
    "word i: bit b set when queue 32 * i + b completed a command or freed a slot since the previous read of "        \
    "that word")

/* The registers of command queue q (= tile * SSM_ENGINE_COUNT + engine), at
 * SSM_QUEUE_BLOCK_BASE + q * SSM_QUEUE_STRIDE. */
#define SSM_QUEUE_BLOCK_BASE 0x0ull
#define SSM_QUEUE_STRIDE 0x100u
#define SSM_QUEUE_REGISTERS(X)                                                           \
  X(Push, 0x00u, SSM_REG_WRITE, 128u, 1u, "-",                                           \
    "a command (ssm_command) into the next free slot, which rings the queue's doorbell") \
  X(Space, 0x80u, SSM_REG_READ, 4u, 1u, "the queue depth", "free slots of the queue")    \
  X(Completed, 0x84u, SSM_REG_READ, 4u, 1u, "0", "commands the queue completed since reset, modulo 2^32, in order")

#endif /* SSMSOC_ARCH_REGISTERS_H */
