// The Program format: encoding, sync points, decoding of malformed programs, listing.
#include "arch/spec/program.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/profile.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

// A small program: weights in DRAM DMAed into tile 0, a GEMM, a scan, a vector op, and
// semaphores ordering the three engines.
Program sample_program() {
  Program p;
  p.buffers = {{"w_in", SSM_MEM_DRAM, SSM_BUF_WEIGHTS, 0, 0, 64 * 32 * 2},
               {"x", SSM_MEM_TILE_SRAM, SSM_BUF_ACTIVATIONS, 0, 0, 16 * 64 * 4},
               {"w_tile", SSM_MEM_TILE_SRAM, SSM_BUF_WEIGHTS, 0, 0x1000, 64 * 32 * 2},
               {"y", SSM_MEM_TILE_SRAM, SSM_BUF_ACTIVATIONS, 0, 0x2000, 16 * 32 * 4},
               {"scan_io", SSM_MEM_TILE_SRAM, SSM_BUF_SCRATCH, 0, 0x4000, 4096}};
  p.semaphores = 2;
  ProgramStream dma{0, SSM_ENGINE_DMA, {}};
  dma.commands.push_back(dma_command({ref(0), ref(2), 64 * 2, 32}));
  dma.commands.push_back(signal_command(0));
  ProgramStream matrix{0, SSM_ENGINE_MATRIX, {}};
  matrix.commands.push_back(wait_command(0, 1));
  matrix.commands.push_back(
      gemm_command({ref(1), ref(2), ref(3), 16, 32, 64, 0, 0, 0, SSM_BF16, false, true}));  // y = x · w_tileᵀ
  matrix.commands.push_back(signal_command(1));
  ProgramStream vector{0, SSM_ENGINE_VECTOR, {}};
  vector.commands.push_back(wait_command(1, 1));
  VectorArgs silu;
  silu.function = SSM_VEC_SILU;
  silu.rows = 16, silu.cols = 32, silu.a = ref(3), silu.out = ref(3);
  vector.commands.push_back(vector_command(silu));
  ProgramStream scan{0, SSM_ENGINE_SCAN, {}};
  ScanArgs s;
  s.variant = SSM_SCAN_SELECTIVE;
  s.channels = 4, s.length = 8, s.state = 4;
  s.x = ref(4, 0), s.dt = ref(4, 128), s.a = ref(4, 256), s.b = ref(4, 320), s.c = ref(4, 448), s.out = ref(4, 576);
  s.softplus = true;
  scan.commands.push_back(scan_command(s));
  p.streams = {dma, matrix, vector, scan};
  return p;
}

// sample_program() with its WAITs and SIGNALs carried by the engine commands' sync points.
Program sample_program_with_sync_points() {
  Program p = sample_program();
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
  const Program p = sample_program();
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
  const auto bytes = encode_program(sample_program());
  ssm_program_header h;
  std::memcpy(&h, bytes.data(), sizeof h);
  EXPECT_EQ(h.magic, SSM_PROGRAM_MAGIC);
  EXPECT_EQ(std::memcmp(bytes.data(), "SSMP", 4), 0);
  EXPECT_EQ(h.version_major, 1);
  EXPECT_EQ(h.command_count, 8u);
  EXPECT_EQ(h.total_bytes, bytes.size());
}

TEST(ProgramDecoding, RejectsBadMagicVersionAndTruncation) {
  auto bytes = encode_program(sample_program());
  auto bad = bytes;
  bad[0] = std::byte{'X'};
  EXPECT_EQ(decode_error(bad).rfind("p.ssmp: not an ssmsoc Program (magic 0x504d5358", 0), 0u) << decode_error(bad);
  bad = bytes;
  bad[4] = std::byte{2};  // major version 2
  EXPECT_EQ(decode_error(bad), "p.ssmp: Program version 2.4; this build reads 1.0 to 1.4");
  bad.assign(bytes.begin(), bytes.begin() + 100);
  EXPECT_EQ(decode_error(bad), "p.ssmp: truncated or padded: the header says " + std::to_string(bytes.size()) +
                                   " bytes, the file has 100");
  bad.assign(bytes.begin(), bytes.begin() + 10);
  EXPECT_EQ(decode_error(bad), "p.ssmp: truncated: 10 bytes, shorter than the 64-byte header");
}

TEST(ProgramDecoding, ReadsOlderMinorVersions) {
  auto bytes = encode_program(sample_program());
  bytes[6] = std::byte{0};  // version 1.0: the 1.1 additions are zero fields with the 1.0 meaning
  bytes[7] = std::byte{0};
  EXPECT_EQ(encode_program(decode_program(bytes, "p.ssmp")).size(), bytes.size());
}

TEST(ProgramDecoding, RejectsUnknownOpcodesAndMisplacedCommands) {
  Program p = sample_program();
  p.streams[1].commands[1].head.opcode = 42;
  EXPECT_EQ(decode_error(encode_program(p)), "p.ssmp: command 3 (stream 1, tile 0 matrix): unknown opcode 42");
  p = sample_program();
  p.streams[1].engine = SSM_ENGINE_SCAN;  // a GEMM on the scan engine
  EXPECT_EQ(decode_error(encode_program(p)),
            "p.ssmp: command 3 (stream 1, tile 0 scan): the scan engine cannot run gemm");
}

TEST(ProgramDecoding, RejectsOperandsOutsideTheirBuffers) {
  Program p = sample_program();
  p.streams[1].commands[1].gemm.c = ref(9);
  EXPECT_EQ(decode_error(encode_program(p)),
            "p.ssmp: command 3 (stream 1, tile 0 matrix): operand c: buffer 9 does not exist (the program has 5)");
  p = sample_program();
  p.streams[1].commands[1].gemm.m = 17;  // one row of C too many (A still fits x)
  EXPECT_EQ(decode_error(encode_program(p)),
            "p.ssmp: command 3 (stream 1, tile 0 matrix): operand c: bytes [0, 2176) beyond buffer 3 'y' of 2048 "
            "bytes");
  p = sample_program();
  p.streams[3].commands[0].scan.x = kNoOperand;
  EXPECT_EQ(decode_error(encode_program(p)), "p.ssmp: command 7 (stream 3, tile 0 scan): operand x is required");
}

TEST(ProgramDecoding, RejectsMissingSemaphoresAndBadBroadcasts) {
  Program p = sample_program();
  p.semaphores = 1;
  EXPECT_EQ(decode_error(encode_program(p)),
            "p.ssmp: command 4 (stream 1, tile 0 matrix): semaphore 1 does not exist (the program has 1)");
  p = sample_program();
  p.streams[0].commands[0] = dma_command({ref(1), ref(0), 64, 1, 0, 0, 0b11});  // broadcast into DRAM
  EXPECT_EQ(decode_error(encode_program(p)),
            "p.ssmp: command 0 (stream 0, tile 0 dma): a broadcast writes tile SRAM, but dst is not a tile buffer");
}

TEST(ProgramDecoding, RejectsInconsistentSections) {
  auto bytes = encode_program(sample_program());
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

TEST(ProgramValidation, ChecksBuffersAgainstAProfile) {
  const Profile mobile = load_profile("krsna-mobile");
  Program p = sample_program();
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
  p = sample_program();
  p.streams[0].tile = 16;
  EXPECT_THROW(validate_program(p, "p", &mobile), ConfigError);
}

TEST(ProgramListing, ShowsBuffersStreamsAndCommands) {
  const std::string listing = program_listing(sample_program());
  EXPECT_NE(listing.find("program v1.4: 5 buffers, 4 streams, 8 commands, 2 semaphores"), std::string::npos) << listing;
  EXPECT_NE(listing.find("stream 1: tile 0 matrix (3 commands)"), std::string::npos);
  EXPECT_NE(listing.find("0003  gemm.bf16 m=16 n=32 k=64 a=x b=w_tile c=y b^T"), std::string::npos) << listing;
  EXPECT_NE(listing.find("0000  dma       w_in -> w_tile  32 x 128 B (strides 128/128)"), std::string::npos);
  EXPECT_NE(listing.find("scan.selective channels=4 head_dim=1 length=8 state=4 groups=1 x=scan_io dt=scan_io+0x80"),
            std::string::npos)
      << listing;
  EXPECT_NE(listing.find("0005  wait      sem 1 >= 1"), std::string::npos);
}

TEST(ProgramEncoding, ImageBytesAreKnownBeforeEncoding) {
  Program p = sample_program();
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
  p = sample_program();
  p.streams[1].commands[0].head.sync = SSM_SYNC_WAIT0;  // a WAIT command with sync points
  EXPECT_EQ(decode_error(encode_program(p)), "p.ssmp: command 2 (stream 1, tile 0 matrix): a wait carries sync points");
  p = sample_program();
  p.streams[1].commands[1].head.sync = 0x80;
  EXPECT_EQ(decode_error(encode_program(p)), "p.ssmp: command 3 (stream 1, tile 0 matrix): unknown sync flags 0x80");
}

TEST(ProgramFiles, WriteThenReadAndFailWithoutPartialFiles) {
  const auto path = (test::temp_dir() / "p.ssmp").string();
  write_program(path, sample_program());
  EXPECT_EQ(encode_program(read_program(path)), encode_program(sample_program()));
  EXPECT_THROW(write_program((test::temp_dir() / "no-program-dir/p.ssmp").string(), sample_program()), ConfigError);
  EXPECT_FALSE(std::filesystem::exists(test::temp_dir() / "no-program-dir"));
  EXPECT_THROW(read_program((test::temp_dir() / "nope.ssmp").string()), ConfigError);
}

}  // namespace
}  // namespace ssmsoc
