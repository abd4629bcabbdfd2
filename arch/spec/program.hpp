// The host side of the instruction set (isa.h): a Program in memory, typed constructors of
// its commands, its binary encoding, a decoder that rejects malformed programs with a one-line error,
// and a readable listing (`ssmsoc disasm`).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "arch/spec/isa.h"

namespace ssmsoc {

struct Profile;
struct ProgramBuffer {
  std::string name;
  ssm_memory memory = SSM_MEM_DRAM;
  ssm_buffer_kind kind = SSM_BUF_ACTIVATIONS;
  int tile = 0;  // SSM_MEM_TILE_SRAM only
  std::uint64_t address = 0;
  std::uint64_t bytes = 0;
};

struct ProgramStream {
  int tile = 0;
  ssm_engine engine = SSM_ENGINE_DMA;
  std::vector<ssm_command> commands;
};

struct Program {
  std::vector<ProgramBuffer> buffers;
  std::vector<ProgramStream> streams;
  std::uint32_t semaphores = 0;

  std::size_t command_count() const;
};

// An operand: `offset` bytes into buffer `buffer`.
inline ssm_ref ref(std::uint16_t buffer, std::uint32_t offset = 0) { return ssm_ref{buffer, 0, offset}; }
inline constexpr ssm_ref kNoOperand{SSM_NO_BUFFER, 0, 0};

// Typed constructors of commands (every field named at the call site).
enum class DmaConvert : std::uint8_t { none, widen, narrow };  // SSM_DMA_WIDEN, SSM_DMA_NARROW
struct DmaArgs {
  ssm_ref src, dst;
  std::uint32_t row_bytes = 0, rows = 1, src_stride = 0, dst_stride = 0;  // a source row's bytes
  std::uint64_t broadcast_tiles = 0;  // non-zero: write dst in each of these tiles' SRAM
  DmaConvert convert = DmaConvert::none;
  ssm_precision format = SSM_BF16;  // the narrow side of a conversion (bf16, fp16 or fp8)
};
ssm_command dma_command(const DmaArgs& args);
// Bytes of a destination row (a source row's, divided by NARROW, multiplied by WIDEN: 2 for a
// 16-bit format, 4 for fp8) and the bytes a DMA moves across the network and the memories (the
// narrower side's).
std::uint64_t dma_dst_row_bytes(const ssm_dma& dma);
std::uint64_t dma_transfer_bytes(const ssm_dma& dma);

struct GemmArgs {
  ssm_ref a, b, c;
  std::uint32_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldc = 0;
  ssm_precision precision = SSM_FP32;
  bool accumulate = false, transpose_b = false;
};
ssm_command gemm_command(const GemmArgs& args);

struct ScanArgs {
  ssm_scan_variant variant = SSM_SCAN_SELECTIVE;
  std::uint32_t channels = 0, head_dim = 1, length = 1, state = 0, groups = 1;
  ssm_ref x, dt, a, b, c, d = kNoOperand, z = kNoOperand, dt_bias = kNoOperand, state_ref = kNoOperand, out;
  bool softplus = false, load_state = false, store_state = false;
};
ssm_command scan_command(const ScanArgs& args);

struct Conv1dArgs {
  std::uint32_t channels = 0, length = 0, width = 0, state_len = 0;
  ssm_ref x, weight, bias = kNoOperand, state_ref = kNoOperand, out;
  bool silu = false, update = false, load_state = false, store_state = false;
};
ssm_command conv1d_command(const Conv1dArgs& args);

struct VectorArgs {
  ssm_vector_function function = SSM_VEC_ADD;
  std::uint32_t rows = 1, cols = 0;
  ssm_ref a, b = kNoOperand, c = kNoOperand, out;
  float param0 = 0;
  std::uint32_t param1 = 0;
  std::uint32_t param2 = 0;
  std::uint8_t flags = 0;
};
ssm_command vector_command(const VectorArgs& args);

ssm_command signal_command(std::uint32_t semaphore, std::uint32_t value = 1);
ssm_command wait_command(std::uint32_t semaphore, std::uint32_t value);

// The sync points an engine command carries (isa.h, SSM_SYNC_*).
struct SyncPoint {
  std::uint32_t semaphore = 0, value = 0;
  bool operator==(const SyncPoint&) const = default;
};
SyncPoint sync_wait(const ssm_command& command, int slot);  // slot 0 or 1
SyncPoint sync_signal(const ssm_command& command);
// Adds a wait to a free slot; false when both are taken.
bool add_sync_wait(ssm_command& command, SyncPoint wait);
// Sets the signal; false when the command has one.
bool set_sync_signal(ssm_command& command, SyncPoint signal);

// The span of bytes an operand of a command lies in, from its offset to its last byte, by the
// command's dimensions and strides (0: absent): what must lie inside its buffer.
// Activations, states and scan/vector operands are float32; GEMM inputs take the
// command's precision and its C is float32.
std::uint64_t operand_extent(const ssm_command& command, int operand);
// The bytes an operand of a command touches: its extent without the gaps of a strided view
// (a GEMM's k block of resident rows of A reads m · k_b elements, not the rows' span).
std::uint64_t operand_bytes(const ssm_command& command, int operand);
// The operands of a command, by name, in a fixed order (for checks and listings).
struct OperandView {
  const char* name;
  ssm_ref ref;
  bool optional;
};
// At most 10 operands (a scan); a fixed array, as this runs for every command of a Program.
class Operands {
 public:
  Operands(std::initializer_list<OperandView> list) : count_(list.size()) {
    std::copy(list.begin(), list.end(), items_.begin());
  }
  const OperandView* begin() const { return items_.data(); }
  const OperandView* end() const { return items_.data() + count_; }
  std::size_t size() const { return count_; }
  const OperandView& operator[](std::size_t i) const { return items_[i]; }

 private:
  std::array<OperandView, 10> items_{};
  std::size_t count_;
};
Operands operands_of(const ssm_command& command);

// Where a command is, for messages: "command 12 (stream 3, tile 0 matrix)". `index` counts
// the Program's commands in stream order.
std::string command_place(std::size_t index, std::size_t stream, const ProgramStream& s);

// Checks everything a decoder can check without a chip: operands refer to existing
// buffers and stay inside them, semaphores exist, each command runs on an engine that can
// run it. With a profile: tiles exist, tile buffers fit the tile SRAM, global-buffer ones
// the global buffer, DRAM ones the DRAM. Throws ConfigError naming `source`, the command
// (index, stream, tile, engine) and the operand.
void validate_program(const Program& program, const std::string& source, const Profile* profile = nullptr);

// The image's offsets are 32-bit: a Program image holds at most 4 GiB - 1 bytes, about 33.5
// million commands; encode_program throws a ConfigError beyond.
constexpr std::uint64_t kMaxProgramImageBytes = 0xFFFFFFFFull;
std::uint64_t program_image_bytes(const Program& program);
std::vector<std::byte> encode_program(const Program& program);
// Rejects bad magic or version, truncation, inconsistent sections, unknown opcodes or
// enumerations, and everything validate_program rejects.
Program decode_program(std::span<const std::byte> bytes, const std::string& source);
Program read_program(const std::string& path);
void write_program(const std::string& path, const Program& program);

std::string program_listing(const Program& program);

const char* engine_name(ssm_engine engine);
const char* opcode_name(ssm_opcode opcode);

}  // namespace ssmsoc
