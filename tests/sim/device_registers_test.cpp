// The register map of arch/spec/registers.h as the model decodes it: addresses worked by hand,
// accesses the map does not allow (ignored, a read gives 0), and firmware/README.md's table
// equal to the one generated from the description.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "firmware/hal.h"
#include "sim/device_registers.hpp"

namespace ssmsoc::sim {
namespace {

constexpr std::uint64_t kControl = 0x1'0000'0000;
constexpr std::uint32_t kQueues = 40;  // 10 tiles x 4 engines: 2 kRegQueueChanged words

TEST(DeviceRegisters, AddressesDecodeToTheirRegisterAndIndex) {
  struct Case {
    std::uint64_t address;
    const char* name;  // null: unmapped
    std::uint32_t index;
  };
  const Case cases[] = {
      {kControl + 0x00, "TileCount", 0},    {kControl + 0x14, "Done", 0},
      {kControl + 0x40, "QueueChanged", 0}, {kControl + 0x44, "QueueChanged", 1},
      {kControl + 0x48, nullptr, 0},  // a third word for 40 queues: none
      {kControl + 0x18, nullptr, 0},  // between the registers
      {kControl + 0x01, nullptr, 0},  // inside TileCount, not at its offset
      {3 * 0x100 + 0x84, "Completed", 3},   {39 * 0x100 + 0x00, "Push", 39},
      {3 * 0x100 + 0x04, nullptr, 0},   // inside Push's 128 bytes
      {40 * 0x100 + 0x80, nullptr, 0},  // queue 40 of 40
  };
  for (const Case& c : cases) {
    const RegisterAddress a = decode_register_address(c.address, kQueues);
    if (!c.name) {
      EXPECT_EQ(a.info, nullptr) << std::hex << c.address;
      continue;
    }
    ASSERT_NE(a.info, nullptr) << std::hex << c.address;
    EXPECT_EQ(a.info->name, c.name) << std::hex << c.address;
    EXPECT_EQ(a.index, c.index) << std::hex << c.address;
  }
  // The firmware's offsets are the description's.
  EXPECT_EQ(device_register(DeviceRegister::kQueueChanged).offset, ssmfw::kRegQueueChanged);
  EXPECT_EQ(device_register(DeviceRegister::kCompleted).offset, ssmfw::kQueueCompleted);
}

// A register file whose every register answers 100 + its id and records writes.
struct Recording {
  RegisterFile file;
  std::vector<std::pair<DeviceRegister, std::uint32_t>> writes;
  Recording() {
    for (const RegisterInfo& r : device_registers()) {
      const DeviceRegister id = r.id;
      if (r.readable()) file.on_read(id, [id](std::uint32_t) { return 100 + static_cast<std::uint32_t>(id); });
      if (r.writable())
        file.on_write(id, [this, id](std::uint32_t index, const unsigned char*) { writes.emplace_back(id, index); });
    }
  }
  std::uint32_t read(std::uint64_t address, const RegisterInfo** accessed = nullptr) {
    std::uint32_t value = 0xDEADBEEF;
    const RegisterInfo* r = file.read(address, kQueues, reinterpret_cast<unsigned char*>(&value));
    if (accessed) *accessed = r;
    return value;
  }
};

TEST(DeviceRegisters, AccessesTheMapDoesNotAllowAreIgnoredAndReadZero) {
  Recording bus;
  const std::uint32_t word = 7;
  const auto* data = reinterpret_cast<const unsigned char*>(&word);
  const RegisterInfo* accessed = nullptr;
  // Mapped: a read of TileCount, a write of Done and of queue 5's Push reach their behaviour.
  EXPECT_EQ(bus.read(kControl + 0x00, &accessed), 100u);
  EXPECT_EQ(accessed, &device_register(DeviceRegister::kTileCount));
  EXPECT_EQ(bus.file.write(kControl + 0x14, kQueues, data), &device_register(DeviceRegister::kDone));
  EXPECT_EQ(bus.file.write(5 * 0x100, kQueues, data), &device_register(DeviceRegister::kPush));
  // Unmapped offsets read 0, ignore writes, and report no register.
  for (const std::uint64_t address :
       std::vector<std::uint64_t>{kControl + 0x18, kControl + 0x3C, kControl + 0x48, 3 * 0x100 + 0x88}) {
    EXPECT_EQ(bus.read(address, &accessed), 0u) << std::hex << address;
    EXPECT_EQ(accessed, nullptr);
    EXPECT_EQ(bus.file.write(address, kQueues, data), nullptr) << std::hex << address;
  }
  // A write of a read-only register and a read of a write-only one are ignored the same way.
  EXPECT_EQ(bus.file.write(kControl + 0x00, kQueues, data), nullptr);
  EXPECT_EQ(bus.file.write(3 * 0x100 + 0x80, kQueues, data), nullptr);
  EXPECT_EQ(bus.read(kControl + 0x14, &accessed), 0u);
  EXPECT_EQ(accessed, nullptr);
  EXPECT_EQ(bus.read(5 * 0x100, &accessed), 0u);
  EXPECT_EQ(accessed, nullptr);
  const std::vector<std::pair<DeviceRegister, std::uint32_t>> expected{{DeviceRegister::kDone, 0},
                                                                       {DeviceRegister::kPush, 5}};
  EXPECT_EQ(bus.writes, expected);
}

TEST(DeviceRegisters, AModelMissingARegistersBehaviourIsNamed) {
  Recording bus;
  EXPECT_NO_THROW(bus.file.check_complete());
  bus.file.on_read(DeviceRegister::kQueueDepth, nullptr);
  try {
    bus.file.check_complete();
    FAIL() << "no error";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(), "the model does not define register QueueDepth's read");
  }
}

TEST(DeviceRegisters, FirmwareReadmeTableIsTheDescription) {
  std::ifstream in("firmware/README.md");
  ASSERT_TRUE(in) << "run from the source directory";
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  const std::string begin = "<!-- registers: sim::register_map_markdown() -->\n", end = "\n<!-- end of registers -->";
  const std::size_t from = readme.find(begin), to = readme.find(end);
  ASSERT_NE(from, std::string::npos);
  ASSERT_NE(to, std::string::npos);
  const std::string generated = register_map_markdown();
  EXPECT_EQ(readme.substr(from + begin.size(), to - from - begin.size()), generated)
      << "firmware/README.md's table is not the one generated; it reads:\n"
      << generated;
}

}  // namespace
}  // namespace ssmsoc::sim
