// The register map of arch/spec/registers.h as data, its decoder and its documentation table.
#include "sim/device_registers.hpp"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace ssmsoc::sim {

namespace {

constexpr RegisterInfo kRegisters[] = {
#define SSMSOC_CONTROL_REGISTER_INFO(name, offset, access, bytes, count, reset, description) \
  {DeviceRegister::k##name, #name, false, offset, access, bytes, count, reset, description},
#define SSMSOC_QUEUE_REGISTER_INFO(name, offset, access, bytes, count, reset, description) \
  {DeviceRegister::k##name, #name, true, offset, access, bytes, count, reset, description},
    SSM_CONTROL_REGISTERS(SSMSOC_CONTROL_REGISTER_INFO) SSM_QUEUE_REGISTERS(SSMSOC_QUEUE_REGISTER_INFO)
#undef SSMSOC_CONTROL_REGISTER_INFO
#undef SSMSOC_QUEUE_REGISTER_INFO
};
static_assert(std::size(kRegisters) == static_cast<std::size_t>(DeviceRegister::kCount));

std::uint32_t count_of(const RegisterInfo& r, std::uint32_t queue_count) {
  return r.count == SSM_REG_PER_32_QUEUES ? (queue_count + 31) / 32 : r.count;
}

std::string access_name(std::uint32_t access) {
  switch (access) {
    case SSM_REG_READ:
      return "read";
    case SSM_REG_WRITE:
      return "write";
    case SSM_REG_READ_CLEAR:
      return "read, clears";
    default:
      return "read, write";
  }
}

}  // namespace

std::span<const RegisterInfo> device_registers() { return kRegisters; }
const RegisterInfo& device_register(DeviceRegister id) { return kRegisters[static_cast<std::size_t>(id)]; }

RegisterAddress decode_register_address(std::uint64_t address, std::uint32_t queue_count) {
  const bool control = address >= SSM_CONTROL_BLOCK_BASE;
  std::uint64_t offset = control ? address - SSM_CONTROL_BLOCK_BASE : address - SSM_QUEUE_BLOCK_BASE;
  std::uint32_t queue = 0;
  if (!control) {
    if (offset / SSM_QUEUE_STRIDE >= queue_count) return {};
    queue = static_cast<std::uint32_t>(offset / SSM_QUEUE_STRIDE);
    offset %= SSM_QUEUE_STRIDE;
  }
  for (const RegisterInfo& r : kRegisters) {
    if (r.queue == control || offset < r.offset || (offset - r.offset) % r.bytes != 0) continue;
    const std::uint64_t element = (offset - r.offset) / r.bytes;
    if (element < count_of(r, queue_count)) return {&r, control ? static_cast<std::uint32_t>(element) : queue};
  }
  return {};
}

void RegisterFile::check_complete() const {
  for (const RegisterInfo& r : kRegisters) {
    const auto i = static_cast<std::size_t>(r.id);
    if ((r.readable() && !readers_[i]) || (r.writable() && !writers_[i]))
      throw std::logic_error(fmt::format("the model does not define register {}'s {}", r.name,
                                         r.readable() && !readers_[i] ? "read" : "write"));
  }
}

const RegisterInfo* RegisterFile::read(std::uint64_t address, std::uint32_t queue_count, unsigned char* data) const {
  const RegisterAddress a = decode_register_address(address, queue_count);
  const bool readable = a.info && a.info->readable();
  const std::uint32_t value = readable ? readers_[static_cast<std::size_t>(a.info->id)](a.index) : 0;
  std::memcpy(data, &value, 4);
  return readable ? a.info : nullptr;
}

const RegisterInfo* RegisterFile::write(std::uint64_t address, std::uint32_t queue_count,
                                        const unsigned char* data) const {
  const RegisterAddress a = decode_register_address(address, queue_count);
  if (!a.info || !a.info->writable()) return nullptr;
  writers_[static_cast<std::size_t>(a.info->id)](a.index, data);
  return a.info;
}

std::string register_map_markdown() {
  std::string out = fmt::format(
      "| register | address | access | bytes | reset | description |\n| --- | --- | --- | --- | --- | --- |\n");
  for (const RegisterInfo& r : kRegisters) {
    const std::string base = r.queue ? fmt::format("0x{:x} + q · 0x{:x}", SSM_QUEUE_BLOCK_BASE, SSM_QUEUE_STRIDE)
                                     : fmt::format("0x{:x}", SSM_CONTROL_BLOCK_BASE);
    std::string address = fmt::format("{} + 0x{:02x}", base, r.offset);
    if (r.count == SSM_REG_PER_32_QUEUES)
      address += fmt::format(" + {} · i (i < ⌈queues / 32⌉)", r.bytes);
    else if (r.count > 1)
      address += fmt::format(" + {} · i (i < {})", r.bytes, r.count);
    out += fmt::format("| `{}{}` | {} | {} | {} | {} | {} |\n", r.queue ? "kQueue" : "kReg", r.name, address,
                       access_name(r.access), r.bytes, r.reset, r.description);
  }
  return out;
}

}  // namespace ssmsoc::sim
