// The Program format: encoding, sync points, decoding of malformed programs, listing.
#include "arch/spec/program.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include <fmt/format.h>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/profile.hpp"
#include "tests/sample_program.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

// sample_program() with its WAITs and SIGNALs carried by the engine commands' sync points.
Program sample_program_with_sync_points() {
  Program p = test::sample_program();
  for (ProgramStream& s : p.streams)
    std::erase_if(s.commands,
                  [](const ssm_command& c) { return c.head.opcode == SSM_OP_WAIT || c.head.opcode == SSM_OP_SIGNAL; });
  EXPECT_TRUE(set_sync_signal(p.streams[0].commands[0], {0, 1}));  // dma: loaded
  EXPECT_TRUE(add_sync_wait(p.streams[1].commands[0], {0, 1}));    // gemm after the load
  EXPECT_TRUE(set_sync_signal(p.streams[1].commands[0], {1, 1}));
  EXPECT_TRUE(add_sync_wait(p.streams[2].commands[0], {1, 1}));  // silu after the gemm
  return p;
}

std::string decode_error(std::vector<std::byte> bytes) {
  try {
    decode_program(bytes, "p.ssmp");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ProgramEncoding, RoundTripsByteForByte) {
  const Program p = test::sample_program();
  const auto bytes = encode_program(p);
  EXPECT_EQ(bytes.size() % 8, 0u);
  const Program back = decode_program(bytes, "p.ssmp");
  EXPECT_EQ(encode_program(back), bytes);
  ASSERT_EQ(back.streams.size(), 4u);
  EXPECT_EQ(back.buffers[2].name, "w_tile");
  EXPECT_EQ(back.buffers[2].address, 0x1000u);
  EXPECT_EQ(back.streams[1].commands[1].gemm.k, 64u);
  EXPECT_EQ(back.streams[1].commands[1].gemm.ldb, 64u);  // transposed B: k elements per row
  EXPECT_EQ(back.semaphores, 2u);
}

TEST(ProgramEncoding, HeaderStartsWithMagicAndVersion) {
  const auto bytes = encode_program(test::sample_program());
  ssm_program_header h;
  std::memcpy(&h, bytes.data(), sizeof h);
  EXPECT_EQ(h.magic, SSM_PROGRAM_MAGIC);
  EXPECT_EQ(std::memcmp(bytes.data(), "SSMP", 4), 0);
  EXPECT_EQ(h.version_major, 1);
  EXPECT_EQ(h.command_count, 8u);
  EXPECT_EQ(h.total_bytes, bytes.size());
}

TEST(ProgramDecoding, RejectsBadMagicVersionAndTruncation) {
  auto bytes = encode_program(test::sample_program());
  auto bad = bytes;
  bad[0] = std::byte{'X'};
  EXPECT_EQ(decode_error(bad).rfind("p.ssmp: not an ssmsoc Program (magic 0x504d5358", 0), 0u) << decode_error(bad);
  bad = bytes;
  bad[4] = std::byte{2};  // major version 2
  EXPECT_EQ(decode_error(bad),
            fmt::format("p.ssmp: Program version 2.{0}; this build reads 1.0 to 1.{0}", SSM_PROGRAM_VERSION_MINOR));
  bad.assign(bytes.begin(), bytes.begin() + 100);
  EXPECT_EQ(decode_error(bad), "p.ssmp: truncated or padded: the header says " + std::to_string(bytes.size()) +
                                   " bytes, the file has 100");
  bad.assign(bytes.begin(), bytes.begin() + 10);
  EXPECT_EQ(decode_error(bad), "p.ssmp: truncated: 10 bytes, shorter than the 64-byte header");
}

TEST(ProgramDecoding, ReadsOlderMinorVersions) {
  auto bytes = encode_program(test::sample_program());
  bytes[6] = std::byte{0};  // version 1.0: the 1.1 additions are zero fields with the 1.0 meaning
  bytes[7] = std::byte{0};
  EXPECT_EQ(encode_program(decode_program(bytes, "p.ssmp")).size(), bytes.size());
}

TEST(ProgramDecoding, RejectsUnknownOpcodesAndMisplacedCommands) {
  Program p = test::sample_program();
  p.streams[1].commands[1].head.opcode = 42;
  EXPECT_EQ(decode_error(encode_program(p)), "p.ssmp: command 3 (stream 1, tile 0 matrix): unknown opcode 42");
  p = test::sample_program();
  p.streams[1].engine = SSM_ENGINE_SCAN;  // a GEMM on the scan engine
  EXPECT_EQ(decode_error(encode_program(p)),
            "p.ssmp: command 3 (stream 1, tile 0 scan): the scan engine cannot run gemm");
}

TEST(ProgramDecoding, RejectsOperandsOutsideTheirBuffers) {
  Program p = test::sample_program();
  p.streams[1].commands[1].gemm.c = ref(9);
  EXPECT_EQ(decode_error(encode_program(p)),
            "p.ssmp: command 3 (stream 1, tile 0 matrix): operand c: buffer 9 does not exist (the program has 5)");
  p = test::sample_program();
  p.streams[1].commands[1].gemm.m = 17;  // one row of C too many (A still fits x)
  EXPECT_EQ(decode_error(encode_program(p)),
            "p.ssmp: command 3 (stream 1, tile 0 matrix): operand c: bytes [0, 2176) beyond buffer 3 'y' of 2048 "
            "bytes");
  p = test::sample_program();
  p.streams[3].commands[0].scan.x = kNoOperand;
  EXPECT_EQ(decode_error(encode_program(p)), "p.ssmp: command 7 (stream 3, tile 0 scan): operand x is required");
}

TEST(ProgramDecoding, RejectsMissingSemaphoresAndBadBroadcasts) {
  Program p = test::sample_program();
  p.semaphores = 1;
  EXPECT_EQ(decode_error(encode_program(p)),
            "p.ssmp: command 4 (stream 1, tile 0 matrix): semaphore 1 does not exist (the program has 1)");
  p = test::sample_program();
  p.streams[0].commands[0] = dma_command({ref(1), ref(0), 64, 1, 0, 0, 0b11});  // broadcast into DRAM
  EXPECT_EQ(decode_error(encode_program(p)),
            "p.ssmp: command 0 (stream 0, tile 0 dma): a broadcast writes tile SRAM, but dst is not a tile buffer");
}

// A converting DMA: row_bytes counts the source's bytes; WIDEN doubles a destination row,
// NARROW halves it, and the narrow side's bytes are the ones moved. The destination's extent
// follows the converted rows, and a conversion names bf16 or fp16 and whole values.
TEST(ProgramDecoding, ChecksConvertingDmas) {
  const ssm_command widen =
      dma_command({.src = ref(0), .dst = ref(3), .row_bytes = 64, .rows = 16, .convert = DmaConvert::widen});
  EXPECT_EQ(widen.head.flags, SSM_DMA_WIDEN);
  EXPECT_EQ(widen.head.variant, SSM_BF16);
  EXPECT_EQ(widen.dma.dst_stride, 128u);
  EXPECT_EQ(dma_dst_row_bytes(widen.dma), 128u);
  EXPECT_EQ(dma_transfer_bytes(widen.dma), 16u * 64u);
  EXPECT_EQ(operand_extent(widen, 1), 16u * 128u);
  const ssm_command narrow = dma_command(
      {.src = ref(3), .dst = ref(0), .row_bytes = 128, .rows = 16, .convert = DmaConvert::narrow, .format = SSM_FP16});
  EXPECT_EQ(narrow.head.flags, SSM_DMA_NARROW);
  EXPECT_EQ(narrow.head.variant, SSM_FP16);
  EXPECT_EQ(dma_dst_row_bytes(narrow.dma), 64u);
  EXPECT_EQ(dma_transfer_bytes(narrow.dma), 16u * 64u);
  EXPECT_EQ(operand_extent(narrow, 0), 16u * 128u);
  EXPECT_EQ(operand_extent(narrow, 1), 16u * 64u);

  Program p = test::sample_program();
  p.streams[0].commands[0] = widen;  // 16 rows of 32 bf16 into y's 16 x 32 floats: fits exactly
  EXPECT_EQ(decode_error(encode_program(p)), "no error");
  EXPECT_NE(program_listing(p).find("16 x 64 B (strides 64/128) widen from bf16"), std::string::npos)
      << program_listing(p);
  p.streams[0].commands[0].dma.rows = 17;
  EXPECT_EQ(decode_error(encode_program(p)),
            "p.ssmp: command 0 (stream 0, tile 0 dma): operand dst: bytes [0, 2176) beyond buffer 3 'y' of 2048 bytes");
  p.streams[0].commands[0] = widen;
  p.streams[0].commands[0].head.flags |= SSM_DMA_NARROW;
  EXPECT_EQ(decode_error(encode_program(p)), "p.ssmp: command 0 (stream 0, tile 0 dma): a DMA both widens and narrows");
  p.streams[0].commands[0] = widen;
  p.streams[0].commands[0].head.variant = SSM_FP32;
  EXPECT_EQ(decode_error(encode_program(p)),
            fmt::format("p.ssmp: command 0 (stream 0, tile 0 dma): a DMA converts float32 to or from bf16, fp16 or "
                        "fp8, not precision {}",
                        int(SSM_FP32)));
  p.streams[0].commands[0] = narrow;
  p.streams[0].commands[0].dma.row_bytes = 6;
  EXPECT_EQ(decode_error(encode_program(p)),
            "p.ssmp: command 0 (stream 0, tile 0 dma): a narrowing DMA's rows of 6 bytes are not whole float32 values");

  // FP8 (an SSM state kept in 8 bits): a quarter of float32's bytes each way.
  const ssm_command widen8 = dma_command(
      {.src = ref(0), .dst = ref(3), .row_bytes = 32, .rows = 16, .convert = DmaConvert::widen, .format = SSM_FP8});
  EXPECT_EQ(widen8.head.variant, SSM_FP8);
  EXPECT_EQ(dma_dst_row_bytes(widen8.dma), 128u);
  EXPECT_EQ(widen8.dma.dst_stride, 128u);
  EXPECT_EQ(dma_transfer_bytes(widen8.dma), 16u * 32u);
  const ssm_command narrow8 = dma_command(
      {.src = ref(3), .dst = ref(0), .row_bytes = 128, .rows = 16, .convert = DmaConvert::narrow, .format = SSM_FP8});
  EXPECT_EQ(dma_dst_row_bytes(narrow8.dma), 32u);
  EXPECT_EQ(dma_transfer_bytes(narrow8.dma), 16u * 32u);
  p.streams[0].commands[0] = widen8;  // 16 rows of 32 fp8 into y's 16 x 32 floats
  EXPECT_EQ(decode_error(encode_program(p)), "no error");
  EXPECT_NE(program_listing(p).find("widen from fp8"), std::string::npos) << program_listing(p);
}

TEST(ProgramDecoding, RejectsInconsistentSections) {
  auto bytes = encode_program(test::sample_program());
  ssm_program_header h;
  std::memcpy(&h, bytes.data(), sizeof h);
  auto bad = bytes;
  ssm_program_header shifted = h;
  shifted.command_offset += 4;  // misaligned
  std::memcpy(bad.data(), &shifted, sizeof shifted);
  EXPECT_NE(decode_error(bad).find("command table: bytes"), std::string::npos) << decode_error(bad);
  bad = bytes;
  ssm_stream s;
  std::memcpy(&s, bytes.data() + h.stream_offset + sizeof s, sizeof s);
  s.first_command += 1;  // a gap between streams
  std::memcpy(bad.data() + h.stream_offset + sizeof s, &s, sizeof s);
  EXPECT_NE(decode_error(bad).find("stream 1: commands [3, 6) do not follow"), std::string::npos) << decode_error(bad);
}

// The enum fields of buffers and streams are range-checked as raw bytes, before they become
// enums (an out-of-range enum value is undefined behaviour, and clang drops a later check).
TEST(ProgramDecoding, RejectsUnknownMemoriesKindsAndEngines) {
  const auto bytes = encode_program(test::sample_program());
  ssm_program_header h;
  std::memcpy(&h, bytes.data(), sizeof h);
  for (const std::uint8_t value : {std::uint8_t{4}, std::uint8_t{0x80}, std::uint8_t{0xFF}}) {
    auto bad = bytes;
    ssm_buffer b;
    std::memcpy(&b, bad.data() + h.buffer_offset + sizeof b, sizeof b);
    b.memory = value;
    std::memcpy(bad.data() + h.buffer_offset + sizeof b, &b, sizeof b);
    EXPECT_EQ(decode_error(bad), fmt::format("p.ssmp: buffer 1: unknown memory {}", value));
    bad = bytes;
    b.memory = SSM_MEM_DRAM;
    b.kind = value;
    std::memcpy(bad.data() + h.buffer_offset + sizeof b, &b, sizeof b);
    EXPECT_EQ(decode_error(bad), fmt::format("p.ssmp: buffer 1: unknown kind {}", value));
    bad = bytes;
    ssm_stream s;
    std::memcpy(&s, bad.data() + h.stream_offset + sizeof s, sizeof s);
    s.engine = value;
    std::memcpy(bad.data() + h.stream_offset + sizeof s, &s, sizeof s);
    EXPECT_EQ(decode_error(bad), fmt::format("p.ssmp: stream 1: unknown engine {}", value));
  }
}

TEST(ProgramValidation, ChecksBuffersAgainstAProfile) {
  const Profile mobile = load_profile("krsna-mobile");
  Program p = test::sample_program();
  EXPECT_NO_THROW(validate_program(p, "p", &mobile));
  p.buffers[4].address = mobile.tile.sram.size_bytes - 100;  // runs past the 512 KiB SRAM
  try {
    validate_program(p, "p", &mobile);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "p: buffer 4 'scan_io': bytes [524188, 528284) beyond the tile of 524288 bytes "
              "(krsna-mobile)");
  }
  p = test::sample_program();
  p.streams[0].tile = 16;
  EXPECT_THROW(validate_program(p, "p", &mobile), ConfigError);
}

TEST(ProgramListing, ShowsBuffersStreamsAndCommands) {
  const std::string listing = program_listing(test::sample_program());
  EXPECT_NE(listing.find(fmt::format("program v1.{}: 5 buffers, 4 streams, 8 commands, 2 semaphores",
                                     SSM_PROGRAM_VERSION_MINOR)),
            std::string::npos)
      << listing;
  EXPECT_NE(listing.find("stream 1: tile 0 matrix (3 commands)"), std::string::npos);
  EXPECT_NE(listing.find("0003  gemm.bf16 m=16 n=32 k=64 a=x b=w_tile c=y b^T"), std::string::npos) << listing;
  EXPECT_NE(listing.find("0000  dma       w_in -> w_tile  32 x 128 B (strides 128/128)"), std::string::npos);
  EXPECT_NE(listing.find("scan.selective channels=4 head_dim=1 length=8 state=4 groups=1 x=scan_io dt=scan_io+0x80"),
            std::string::npos)
      << listing;
  EXPECT_NE(listing.find("0005  wait      sem 1 >= 1"), std::string::npos);
}

TEST(ProgramEncoding, ImageBytesAreKnownBeforeEncoding) {
  Program p = test::sample_program();
  EXPECT_EQ(program_image_bytes(p), encode_program(p).size());
  p = sample_program_with_sync_points();
  EXPECT_EQ(program_image_bytes(p), encode_program(p).size());
  // The 32-bit offsets hold 4 GiB - 1 bytes: about 33.5 million commands.
  EXPECT_EQ(kMaxProgramImageBytes / sizeof(ssm_command), 33554431u);
}

TEST(ProgramSyncPoints, EncodeAndListWithTheCommandsThatCarryThem) {
  const Program p = sample_program_with_sync_points();
  ASSERT_EQ(p.command_count(), 4u);
  EXPECT_EQ(decode_program(encode_program(p), "p.ssmp").streams[1].commands[0].head.sync,
            SSM_SYNC_WAIT0 | SSM_SYNC_SIGNAL);
  const std::string listing = program_listing(p);
  EXPECT_NE(listing.find("0001  gemm.bf16 m=16 n=32 k=64 a=x b=w_tile c=y b^T | wait sem 0 >= 1 | signal sem 1 += 1"),
            std::string::npos)
      << listing;
}

TEST(ProgramSyncPoints, BadSyncPointsAreRejected) {
  Program p = sample_program_with_sync_points();
  p.streams[1].commands[0].words[SSM_SYNC_WORD + 4] = 7;  // the GEMM's signal semaphore
  EXPECT_EQ(decode_error(encode_program(p)),
            "p.ssmp: command 1 (stream 1, tile 0 matrix): sync signal semaphore 7 does not exist (the program has 2)");
  p = test::sample_program();
  p.streams[1].commands[0].head.sync = SSM_SYNC_WAIT0;  // a WAIT command with sync points
  EXPECT_EQ(decode_error(encode_program(p)), "p.ssmp: command 2 (stream 1, tile 0 matrix): a wait carries sync points");
  p = test::sample_program();
  p.streams[1].commands[1].head.sync = 0x80;
  EXPECT_EQ(decode_error(encode_program(p)), "p.ssmp: command 3 (stream 1, tile 0 matrix): unknown sync flags 0x80");
}

TEST(ProgramFiles, WriteThenReadAndFailWithoutPartialFiles) {
  const auto path = (test::temp_dir() / "p.ssmp").string();
  write_program(path, test::sample_program());
  EXPECT_EQ(encode_program(read_program(path)), encode_program(test::sample_program()));
  EXPECT_THROW(write_program((test::temp_dir() / "no-program-dir/p.ssmp").string(), test::sample_program()),
               ConfigError);
  EXPECT_FALSE(std::filesystem::exists(test::temp_dir() / "no-program-dir"));
  EXPECT_THROW(read_program((test::temp_dir() / "nope.ssmp").string()), ConfigError);
}

}  // namespace
}  // namespace ssmsoc
