#include "sim/memory.hpp"

#include <algorithm>
#include <cstring>

namespace ssmsoc::sim {

void MemoryImage::read(std::uint64_t address, void* out, std::uint64_t bytes) const {
  auto* dst = static_cast<std::byte*>(out);
  while (bytes > 0) {
    const std::uint64_t page = address / kPageBytes, at = address % kPageBytes;
    const std::uint64_t n = std::min(bytes, kPageBytes - at);
    const auto it = pages_.find(page);
    if (it == pages_.end())
      std::memset(dst, 0, n);
    else
      std::memcpy(dst, it->second.get() + at, n);
    dst += n, address += n, bytes -= n;
  }
}

void MemoryImage::write(std::uint64_t address, const void* in, std::uint64_t bytes) {
  const auto* src = static_cast<const std::byte*>(in);
  while (bytes > 0) {
    const std::uint64_t page = address / kPageBytes, at = address % kPageBytes;
    const std::uint64_t n = std::min(bytes, kPageBytes - at);
    auto& p = pages_[page];
    if (!p) {
      p = std::make_unique<std::byte[]>(kPageBytes);
      std::memset(p.get(), 0, kPageBytes);
    }
    std::memcpy(p.get() + at, src, n);
    src += n, address += n, bytes -= n;
  }
}

}  // namespace ssmsoc::sim
