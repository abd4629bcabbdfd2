// A tiny bare-metal program that links the runtime with a stub HAL: it proves the firmware
// builds for a RISC-V core with riscv64-unknown-elf-gcc and picolibc (no libstdc++,
// exceptions, RTTI or heap). The stub runs a one-SIGNAL Program held in a static array.
#include <stdint.h>

#include "firmware/runtime.h"

namespace {

struct Image {
  ssm_program_header header;
  ssm_stream stream;
  uint32_t pad[2];
  ssm_command command;
};
Image image;
uint32_t done_status = 0xFFFFFFFFu;
alignas(8) uint8_t workspace[256];

uint32_t read32(void*, uint32_t offset) {
  switch (offset) {
    case ssmfw::kRegTileCount:
      return 1;
    case ssmfw::kRegQueueDepth:
      return 4;
    case ssmfw::kRegProgramLow:
      return 0x1000;
    case ssmfw::kRegProgramBytes:
      return sizeof image;
    default:
      return 0;
  }
}
void write32(void*, uint32_t offset, uint32_t value) {
  if (offset == ssmfw::kRegDone) done_status = value;
}
const void* map_dram(void*, uint64_t address, uint64_t bytes) {
  return address == 0x1000 && bytes <= sizeof image ? &image : nullptr;
}
uint32_t queue_space(void*, uint32_t) { return 4; }
void queue_push(void*, uint32_t, const ssm_command*) {}
uint32_t queue_completed(void*, uint32_t) { return 0; }
void wait_for_interrupt(void*) {}

}  // namespace

int main() {
  image.header.magic = SSM_PROGRAM_MAGIC;
  image.header.version_major = SSM_PROGRAM_VERSION_MAJOR;
  image.header.total_bytes = sizeof image;
  image.header.stream_count = 1;
  image.header.stream_offset = sizeof(ssm_program_header);
  image.header.command_count = 1;
  image.header.command_offset = static_cast<uint32_t>(sizeof(ssm_program_header) + sizeof(ssm_stream) + 8);
  image.header.string_offset = sizeof image;
  image.header.semaphore_count = 1;
  image.stream.command_count = 1;
  image.command.head.opcode = SSM_OP_SIGNAL;
  image.command.sync.value = 1;
  const ssmfw::Hal hal = {nullptr,     read32,     write32,         map_dram,
                          queue_space, queue_push, queue_completed, wait_for_interrupt};
  return static_cast<int>(ssmfw::run_program(hal, workspace, sizeof workspace, nullptr));
}
