// The control core's device registers as the model decodes them: the one description of
// arch/spec/registers.h as data, the decoder from a bus address to a register, and the
// markdown table of firmware/README.md.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "arch/spec/registers.h"

namespace ssmsoc::sim {

// Every register of the description, control registers first.
enum class DeviceRegister : std::uint8_t {
#define SSMSOC_DEVICE_REGISTER_ID(name, ...) k##name,
  SSM_CONTROL_REGISTERS(SSMSOC_DEVICE_REGISTER_ID) SSM_QUEUE_REGISTERS(SSMSOC_DEVICE_REGISTER_ID)
#undef SSMSOC_DEVICE_REGISTER_ID
      kCount
};

struct RegisterInfo {
  DeviceRegister id;
  std::string_view name;
  bool queue;  // one per command queue (else a control register)
  std::uint32_t offset, access, bytes, count;
  std::string_view reset, description;

  bool readable() const { return access & SSM_REG_READ; }
  bool writable() const { return access & SSM_REG_WRITE; }
  bool clears_on_read() const { return access == SSM_REG_READ_CLEAR; }
};

// In the order of DeviceRegister.
std::span<const RegisterInfo> device_registers();
const RegisterInfo& device_register(DeviceRegister id);

// What a bus address names: a register and its index (the queue of a queue register, the
// word of a register with count > 1), or nothing (info null).
struct RegisterAddress {
  const RegisterInfo* info = nullptr;
  std::uint32_t index = 0;
};
RegisterAddress decode_register_address(std::uint64_t address, std::uint32_t queue_count);

// What the model does on each register: a reader per readable register, a writer per
// writable one, and the bus accesses decoded through them.
class RegisterFile {
 public:
  using Reader = std::function<std::uint32_t(std::uint32_t index)>;
  using Writer = std::function<void(std::uint32_t index, const unsigned char* data)>;
  void on_read(DeviceRegister r, Reader reader) { readers_[static_cast<std::size_t>(r)] = std::move(reader); }
  void on_write(DeviceRegister r, Writer writer) { writers_[static_cast<std::size_t>(r)] = std::move(writer); }
  // Throws std::logic_error naming the first register of the description whose access has
  // no behaviour.
  void check_complete() const;
  // A 32-bit read into `data` and a write of `data` (a register's bytes). An address no register
  // covers, a read of a register without SSM_REG_READ and a write of one without SSM_REG_WRITE
  // are ignored (a read gives 0); each returns the register it accessed, null when ignored.
  const RegisterInfo* read(std::uint64_t address, std::uint32_t queue_count, unsigned char* data) const;
  const RegisterInfo* write(std::uint64_t address, std::uint32_t queue_count, const unsigned char* data) const;

 private:
  std::array<Reader, static_cast<std::size_t>(DeviceRegister::kCount)> readers_;
  std::array<Writer, static_cast<std::size_t>(DeviceRegister::kCount)> writers_;
};

// The register map as the markdown table of firmware/README.md.
std::string register_map_markdown();

}  // namespace ssmsoc::sim
