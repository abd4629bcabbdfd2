#include "arch/spec/program.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "arch/spec/config_tree.hpp"
#include "arch/spec/model.hpp"
#include "arch/spec/output_file.hpp"
#include "arch/spec/profile.hpp"

namespace ssmsoc {

namespace {

ssm_command blank(ssm_opcode opcode, std::uint8_t variant = 0, std::uint8_t flags = 0) {
  ssm_command c;
  std::memset(&c, 0, sizeof c);
  c.head.opcode = static_cast<std::uint8_t>(opcode);
  c.head.variant = variant;
  c.head.flags = flags;
  return c;
}

std::uint8_t flag(bool on, unsigned bit) { return on ? static_cast<std::uint8_t>(bit) : 0; }

// Bits per element of a GEMM input precision.
std::uint64_t precision_bits(unsigned precision) {
  static constexpr std::uint64_t bits[] = {4, 8, 8, 16, 16, 32, 32, 64};
  return precision < std::size(bits) ? bits[precision] : 0;
}

std::uint64_t f32_bytes(std::uint64_t elements) { return elements * 4; }

// A rows x cols matrix with `ld` elements between rows, in elements.
std::uint64_t strided(std::uint64_t rows, std::uint64_t cols, std::uint64_t ld) {
  return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols;
}

bool is_vector_binary(unsigned function) {
  return function == SSM_VEC_ADD || function == SSM_VEC_MUL || function == SSM_VEC_MAX || function == SSM_VEC_FMA;
}

bool known_vector_function(unsigned function) {
  return function <= SSM_VEC_CONVERT || (function >= SSM_VEC_RMSNORM && function <= SSM_VEC_SCALE);
}

const char* vector_function_name(unsigned function) {
  static const char* const basic[] = {"add",   "mul",        "fma",        "max",    "relu",     "exp",
                                      "log",   "sigmoid",    "silu",       "gelu",   "softplus", "rsqrt",
                                      "recip", "reduce_sum", "reduce_max", "convert"};
  static const char* const composite[] = {"rmsnorm", "gated_rmsnorm", "softmax", "topk", "rope", "scale"};
  if (function <= SSM_VEC_CONVERT) return basic[function];
  if (function >= SSM_VEC_RMSNORM && function <= SSM_VEC_SCALE) return composite[function - SSM_VEC_RMSNORM];
  return "?";
}

const char* scan_variant_name(unsigned variant) {
  static const char* const names[] = {"selective", "state_update", "multihead_update", "ssd"};
  return variant < std::size(names) ? names[variant] : "?";
}

const char* precision_name(unsigned precision) {
  static const char* const names[] = {"int4", "int8", "fp8", "fp16", "bf16", "tf32", "fp32", "fp64"};
  return precision < std::size(names) ? names[precision] : "?";
}

const char* memory_name(unsigned memory) {
  static const char* const names[] = {"dram", "global", "tile"};
  return memory < std::size(names) ? names[memory] : "?";
}

const char* kind_name(unsigned kind) {
  static const char* const names[] = {"weights", "activations", "state", "scratch"};
  return kind < std::size(names) ? names[kind] : "?";
}

bool engine_runs(ssm_engine engine, unsigned opcode) {
  switch (opcode) {
    case SSM_OP_SIGNAL:
    case SSM_OP_WAIT:
      return true;
    case SSM_OP_DMA:
      return engine == SSM_ENGINE_DMA;
    case SSM_OP_GEMM:
      return engine == SSM_ENGINE_MATRIX;
    case SSM_OP_SCAN:
      return engine == SSM_ENGINE_SCAN;
    case SSM_OP_CONV1D:
    case SSM_OP_VECTOR:
      return engine == SSM_ENGINE_VECTOR;
    default:
      return false;
  }
}

}  // namespace

std::size_t Program::command_count() const {
  std::size_t n = 0;
  for (const auto& s : streams) n += s.commands.size();
  return n;
}

const char* engine_name(ssm_engine engine) {
  static const char* const names[] = {"dma", "matrix", "scan", "vector"};
  return static_cast<unsigned>(engine) < std::size(names) ? names[engine] : "?";
}

const char* opcode_name(ssm_opcode opcode) {
  static const char* const names[] = {"?", "dma", "gemm", "scan", "conv1d", "vector", "signal", "wait"};
  return static_cast<unsigned>(opcode) < std::size(names) ? names[opcode] : "?";
}

ssm_command dma_command(const DmaArgs& a) {
  const bool converts = a.convert != DmaConvert::none;
  ssm_command c =
      blank(SSM_OP_DMA, converts ? static_cast<std::uint8_t>(a.format) : 0,
            flag(a.broadcast_tiles != 0, SSM_DMA_BROADCAST) | flag(a.convert == DmaConvert::widen, SSM_DMA_WIDEN) |
                flag(a.convert == DmaConvert::narrow, SSM_DMA_NARROW));
  c.dma.src = a.src;
  c.dma.dst = a.dst;
  c.dma.row_bytes = a.row_bytes;
  c.dma.rows = a.rows;
  c.dma.src_stride = a.src_stride ? a.src_stride : a.row_bytes;
  c.dma.dst_stride = a.dst_stride ? a.dst_stride : static_cast<std::uint32_t>(dma_dst_row_bytes(c.dma));
  c.dma.tile_mask_low = static_cast<std::uint32_t>(a.broadcast_tiles);
  c.dma.tile_mask_high = static_cast<std::uint32_t>(a.broadcast_tiles >> 32);
  return c;
}

ssm_command gemm_command(const GemmArgs& a) {
  ssm_command c = blank(SSM_OP_GEMM, static_cast<std::uint8_t>(a.precision),
                        flag(a.accumulate, SSM_GEMM_ACCUMULATE) | flag(a.transpose_b, SSM_GEMM_TRANSPOSE_B));
  c.gemm.a = a.a;
  c.gemm.b = a.b;
  c.gemm.c = a.c;
  c.gemm.m = a.m;
  c.gemm.n = a.n;
  c.gemm.k = a.k;
  c.gemm.lda = a.lda ? a.lda : a.k;
  c.gemm.ldb = a.ldb ? a.ldb : (a.transpose_b ? a.k : a.n);
  c.gemm.ldc = a.ldc ? a.ldc : a.n;
  return c;
}

ssm_command scan_command(const ScanArgs& a) {
  ssm_command c = blank(SSM_OP_SCAN, static_cast<std::uint8_t>(a.variant),
                        flag(a.softplus, SSM_SCAN_SOFTPLUS) | flag(a.load_state, SSM_SCAN_LOAD_STATE) |
                            flag(a.store_state, SSM_SCAN_STORE_STATE));
  ssm_scan& s = c.scan;
  s.channels = a.channels;
  s.head_dim = a.head_dim;
  s.length = a.length;
  s.state = a.state;
  s.groups = a.groups;
  s.x = a.x, s.dt = a.dt, s.a = a.a, s.b = a.b, s.c = a.c, s.d = a.d, s.z = a.z, s.dt_bias = a.dt_bias;
  s.state_ref = a.state_ref, s.out = a.out;
  return c;
}

ssm_command conv1d_command(const Conv1dArgs& a) {
  ssm_command c = blank(SSM_OP_CONV1D, 0,
                        flag(a.silu, SSM_CONV_SILU) | flag(a.update, SSM_CONV_UPDATE) |
                            flag(a.load_state, SSM_CONV_LOAD_STATE) | flag(a.store_state, SSM_CONV_STORE_STATE));
  ssm_conv1d& v = c.conv1d;
  v.channels = a.channels;
  v.length = a.length;
  v.width = a.width;
  v.state_len = a.state_len;
  v.x = a.x, v.weight = a.weight, v.bias = a.bias, v.state_ref = a.state_ref, v.out = a.out;
  return c;
}

ssm_command vector_command(const VectorArgs& a) {
  ssm_command c = blank(SSM_OP_VECTOR, static_cast<std::uint8_t>(a.function), a.flags);
  ssm_vector& v = c.vector;
  v.rows = a.rows;
  v.cols = a.cols;
  v.a = a.a, v.b = a.b, v.c = a.c, v.out = a.out;
  v.param0 = std::bit_cast<std::uint32_t>(a.param0);
  v.param1 = a.param1;
  v.param2 = a.param2;
  return c;
}

ssm_command signal_command(std::uint32_t semaphore, std::uint32_t value) {
  ssm_command c = blank(SSM_OP_SIGNAL);
  c.sync.semaphore = semaphore;
  c.sync.value = value;
  return c;
}

ssm_command wait_command(std::uint32_t semaphore, std::uint32_t value) {
  ssm_command c = blank(SSM_OP_WAIT);
  c.sync.semaphore = semaphore;
  c.sync.value = value;
  return c;
}

SyncPoint sync_wait(const ssm_command& c, int slot) {
  return {c.words[SSM_SYNC_WORD + 2 * slot], c.words[SSM_SYNC_WORD + 2 * slot + 1]};
}
SyncPoint sync_signal(const ssm_command& c) { return {c.words[SSM_SYNC_WORD + 4], c.words[SSM_SYNC_WORD + 5]}; }

bool add_sync_wait(ssm_command& c, SyncPoint wait) {
  for (int slot = 0; slot < 2; ++slot) {
    const unsigned flag = slot == 0 ? SSM_SYNC_WAIT0 : SSM_SYNC_WAIT1;
    if (c.head.sync & flag) continue;
    c.head.sync = static_cast<std::uint8_t>(c.head.sync | flag);
    c.words[SSM_SYNC_WORD + 2 * slot] = wait.semaphore;
    c.words[SSM_SYNC_WORD + 2 * slot + 1] = wait.value;
    return true;
  }
  return false;
}

bool set_sync_signal(ssm_command& c, SyncPoint signal) {
  if (c.head.sync & SSM_SYNC_SIGNAL) return false;
  c.head.sync = static_cast<std::uint8_t>(c.head.sync | SSM_SYNC_SIGNAL);
  c.words[SSM_SYNC_WORD + 4] = signal.semaphore;
  c.words[SSM_SYNC_WORD + 5] = signal.value;
  return true;
}

Operands operands_of(const ssm_command& c) {
  switch (c.head.opcode) {
    case SSM_OP_DMA:
      return {{"src", c.dma.src, false}, {"dst", c.dma.dst, false}};
    case SSM_OP_GEMM:
      return {{"a", c.gemm.a, false}, {"b", c.gemm.b, false}, {"c", c.gemm.c, false}};
    case SSM_OP_SCAN: {
      const ssm_scan& s = c.scan;
      const bool state_used = (s.head.flags & (SSM_SCAN_LOAD_STATE | SSM_SCAN_STORE_STATE)) != 0;
      return {{"x", s.x, false},
              {"dt", s.dt, false},
              {"a", s.a, false},
              {"b", s.b, false},
              {"c", s.c, false},
              {"d", s.d, true},
              {"z", s.z, true},
              {"dt_bias", s.dt_bias, true},
              {"state", s.state_ref, !state_used},
              {"out", s.out, false}};
    }
    case SSM_OP_CONV1D: {
      const ssm_conv1d& v = c.conv1d;
      const bool state_used = (v.head.flags & (SSM_CONV_UPDATE | SSM_CONV_LOAD_STATE | SSM_CONV_STORE_STATE)) != 0;
      return {{"x", v.x, false},
              {"weight", v.weight, false},
              {"bias", v.bias, true},
              {"state", v.state_ref, !state_used},
              {"out", v.out, false}};
    }
    case SSM_OP_VECTOR: {
      const ssm_vector& v = c.vector;
      const unsigned f = v.head.variant;
      const bool needs_b = is_vector_binary(f) || f == SSM_VEC_RMSNORM || f == SSM_VEC_GATED_RMSNORM;
      const bool needs_c = f == SSM_VEC_FMA || f == SSM_VEC_GATED_RMSNORM;
      return {{"a", v.a, false}, {"b", v.b, !needs_b}, {"c", v.c, !needs_c}, {"out", v.out, false}};
    }
    default:
      return {};
  }
}

std::uint64_t operand_extent(const ssm_command& c, int operand) {
  switch (c.head.opcode) {
    case SSM_OP_DMA: {
      const ssm_dma& d = c.dma;
      const std::uint64_t stride = operand == 0 ? d.src_stride : d.dst_stride;
      return d.rows == 0 ? 0 : std::uint64_t(d.rows - 1) * stride + (operand == 0 ? d.row_bytes : dma_dst_row_bytes(d));
    }
    case SSM_OP_GEMM: {
      const ssm_gemm& g = c.gemm;
      const std::uint64_t bits = precision_bits(g.head.variant);
      const bool tb = g.head.flags & SSM_GEMM_TRANSPOSE_B;
      if (operand == 0) return (strided(g.m, g.k, g.lda) * bits + 7) / 8;
      if (operand == 1) return ((tb ? strided(g.n, g.k, g.ldb) : strided(g.k, g.n, g.ldb)) * bits + 7) / 8;
      return f32_bytes(strided(g.m, g.n, g.ldc));
    }
    case SSM_OP_SCAN: {
      const ssm_scan& s = c.scan;
      const std::uint64_t h = s.channels, p = ssm_scan_is_mamba2(s.head.variant) ? s.head_dim : 1, l = s.length,
                          n = s.state, g = s.groups;
      switch (operand) {
        case 0:  // x
        case 6:  // z
        case 9:  // out
          return f32_bytes(l * h * p);
        case 1:
          return f32_bytes(l * h);
        case 2:
          return f32_bytes(ssm_scan_is_mamba2(s.head.variant) ? h : h * n);
        case 3:
        case 4:
          return f32_bytes(l * g * n);
        case 5:
        case 7:
          return f32_bytes(h);
        case 8:
          return f32_bytes(h * p * n);
      }
      return 0;
    }
    case SSM_OP_CONV1D: {
      const ssm_conv1d& v = c.conv1d;
      static constexpr int kX = 0, kWeight = 1, kBias = 2, kState = 3;
      if (operand == kX) return f32_bytes(std::uint64_t(v.length) * v.channels);
      if (operand == kWeight) return f32_bytes(std::uint64_t(v.channels) * v.width);
      if (operand == kBias) return f32_bytes(v.channels);
      if (operand == kState) return f32_bytes(std::uint64_t(v.channels) * v.state_len);
      return f32_bytes(std::uint64_t(v.length) * v.channels);
    }
    case SSM_OP_VECTOR: {
      const ssm_vector& v = c.vector;
      const unsigned f = v.head.variant;
      const std::uint64_t matrix = f32_bytes(std::uint64_t(v.rows) * v.cols);
      if (operand == 3) {  // out
        if (f == SSM_VEC_REDUCE_SUM || f == SSM_VEC_REDUCE_MAX) return f32_bytes(v.rows);
        if (f == SSM_VEC_CONVERT) return (std::uint64_t(v.rows) * v.cols * precision_bits(v.param1) + 7) / 8;
        if (f == SSM_VEC_TOPK && !(v.head.flags & SSM_VEC_TOPK_MASK)) return 4 * std::uint64_t(v.rows) * v.param1;
        return matrix;
      }
      if (operand == 1 && (v.head.flags & SSM_VEC_ROW_B)) return f32_bytes(v.rows);
      if (operand == 1 && f == SSM_VEC_TOPK) return f32_bytes(v.cols);  // TOPK_BIAS
      if ((operand == 1 && f == SSM_VEC_RMSNORM) || (operand == 2 && f == SSM_VEC_GATED_RMSNORM))
        return f32_bytes(v.cols);
      return matrix;
    }
    default:
      return 0;
  }
}

std::uint64_t dma_dst_row_bytes(const ssm_dma& d) {
  const std::uint64_t ratio = d.head.variant == SSM_FP8 ? 4 : 2;  // float32 to the narrow format
  if (d.head.flags & SSM_DMA_WIDEN) return std::uint64_t{d.row_bytes} * ratio;
  if (d.head.flags & SSM_DMA_NARROW) return d.row_bytes / ratio;
  return d.row_bytes;
}

std::uint64_t dma_transfer_bytes(const ssm_dma& d) {
  return std::uint64_t{d.rows} * std::min<std::uint64_t>(d.row_bytes, dma_dst_row_bytes(d));
}

std::uint64_t operand_bytes(const ssm_command& c, int operand) {
  if (c.head.opcode == SSM_OP_GEMM) {
    const ssm_gemm& g = c.gemm;
    const std::uint64_t bits = precision_bits(g.head.variant);
    if (operand == 0) return (std::uint64_t(g.m) * g.k * bits + 7) / 8;
    if (operand == 1) return (std::uint64_t(g.n) * g.k * bits + 7) / 8;
    return f32_bytes(std::uint64_t(g.m) * g.n);
  }
  return operand_extent(c, operand);  // the other kinds' operands are dense
}

std::string command_place(std::size_t index, std::size_t stream, const ProgramStream& s) {
  return fmt::format("command {} (stream {}, tile {} {})", index, stream, s.tile, engine_name(s.engine));
}

void validate_program(const Program& program, const std::string& source, const Profile* profile) {
  auto fail = [&](const std::string& message) { throw ConfigError(fmt::format("{}: {}", source, message)); };
  if (program.semaphores > SSM_MAX_SEMAPHORES)
    fail(fmt::format("{} semaphores; at most {}", program.semaphores, SSM_MAX_SEMAPHORES));
  if (program.buffers.size() >= SSM_NO_BUFFER)
    fail(fmt::format("{} buffers; at most {}", program.buffers.size(), SSM_NO_BUFFER - 1));
  for (std::size_t i = 0; i < program.buffers.size(); ++i) {
    const ProgramBuffer& b = program.buffers[i];
    // Formatted only on failure: validation runs over every command of multi-million-command Programs.
    const auto where = [&] { return fmt::format("buffer {} '{}'", i, b.name); };
    if (b.address + b.bytes < b.address) fail(fmt::format("{}: address + bytes overflows", where()));
    if (!profile) continue;
    std::uint64_t capacity = 0;
    if (b.memory == SSM_MEM_TILE_SRAM) {
      if (b.tile < 0 || b.tile >= profile->tile_count)
        fail(fmt::format("{}: tile {} does not exist ({} has {} tiles)", where(), b.tile, profile->name,
                         profile->tile_count));
      capacity = static_cast<std::uint64_t>(profile->tile.sram.size_bytes);
    } else {
      capacity = static_cast<std::uint64_t>(b.memory == SSM_MEM_GLOBAL_BUFFER ? profile->global_buffer.size_bytes
                                                                              : profile->dram.capacity_bytes);
    }
    if (b.address + b.bytes > capacity)
      fail(fmt::format("{}: bytes [{}, {}) beyond the {} of {} bytes ({})", where(), b.address, b.address + b.bytes,
                       memory_name(b.memory), capacity, profile->name));
  }
  std::size_t index = 0;
  for (std::size_t si = 0; si < program.streams.size(); ++si) {
    const ProgramStream& s = program.streams[si];
    if (s.tile < 0 || s.tile > 0xFFFF || (profile && s.tile >= profile->tile_count))
      fail(fmt::format("stream {}: tile {} does not exist", si, s.tile));
    for (const ssm_command& c : s.commands) {
      const std::size_t command_index = index++;
      const auto where = [&] { return command_place(command_index, si, s); };
      const unsigned op = c.head.opcode;
      if (op < SSM_OP_DMA || op > SSM_OP_WAIT) fail(fmt::format("{}: unknown opcode {}", where(), op));
      if (!engine_runs(s.engine, op))
        fail(fmt::format("{}: the {} engine cannot run {}", where(), engine_name(s.engine),
                         opcode_name(static_cast<ssm_opcode>(op))));
      if (op == SSM_OP_SIGNAL || op == SSM_OP_WAIT) {
        if (c.sync.semaphore >= program.semaphores)
          fail(fmt::format("{}: semaphore {} does not exist (the program has {})", where(), c.sync.semaphore,
                           program.semaphores));
        if (c.head.sync != 0)
          fail(fmt::format("{}: a {} carries sync points", where(), opcode_name(static_cast<ssm_opcode>(op))));
        continue;
      }
      if (c.head.sync & ~(SSM_SYNC_WAIT0 | SSM_SYNC_WAIT1 | SSM_SYNC_SIGNAL))
        fail(fmt::format("{}: unknown sync flags 0x{:x}", where(), int(c.head.sync)));
      for (int slot = 0; slot < 3; ++slot) {
        const unsigned flag = slot == 0 ? SSM_SYNC_WAIT0 : slot == 1 ? SSM_SYNC_WAIT1 : SSM_SYNC_SIGNAL;
        const SyncPoint point = slot < 2 ? sync_wait(c, slot) : sync_signal(c);
        if ((c.head.sync & flag) && point.semaphore >= program.semaphores)
          fail(fmt::format("{}: {} semaphore {} does not exist (the program has {})", where(),
                           slot < 2 ? "sync wait" : "sync signal", point.semaphore, program.semaphores));
      }
      if (op == SSM_OP_GEMM && precision_bits(c.head.variant) == 0)
        fail(fmt::format("{}: unknown precision {}", where(), int(c.head.variant)));
      if (op == SSM_OP_SCAN && c.head.variant > SSM_SCAN_SSD)
        fail(fmt::format("{}: unknown scan variant {}", where(), int(c.head.variant)));
      if (op == SSM_OP_VECTOR && !known_vector_function(c.head.variant))
        fail(fmt::format("{}: unknown vector function {}", where(), int(c.head.variant)));
      if (op == SSM_OP_VECTOR && c.head.variant == SSM_VEC_CONVERT && precision_bits(c.vector.param1) == 0)
        fail(fmt::format("{}: convert to unknown precision {} (param1)", where(), c.vector.param1));
      if (op == SSM_OP_DMA && (c.head.flags & (SSM_DMA_WIDEN | SSM_DMA_NARROW))) {
        const bool widen = c.head.flags & SSM_DMA_WIDEN;
        if (widen && (c.head.flags & SSM_DMA_NARROW)) fail(fmt::format("{}: a DMA both widens and narrows", where()));
        if (c.head.variant != SSM_BF16 && c.head.variant != SSM_FP16 && c.head.variant != SSM_FP8)
          fail(fmt::format("{}: a DMA converts float32 to or from bf16, fp16 or fp8, not precision {}", where(),
                           int(c.head.variant)));
        const unsigned narrow_bytes = c.head.variant == SSM_FP8 ? 1 : 2;
        if (c.dma.row_bytes % (widen ? narrow_bytes : 4) != 0)
          fail(fmt::format("{}: a {} DMA's rows of {} bytes are not whole {} values", where(),
                           widen ? "widening" : "narrowing", c.dma.row_bytes, widen ? "16-bit" : "float32"));
      }
      if (op == SSM_OP_DMA && (c.head.flags & SSM_DMA_BROADCAST)) {
        const std::uint16_t dst = c.dma.dst.buffer;
        if (dst >= program.buffers.size() || program.buffers[dst].memory != SSM_MEM_TILE_SRAM)
          fail(fmt::format("{}: a broadcast writes tile SRAM, but dst is not a tile buffer", where()));
      }
      const auto operands = operands_of(c);
      for (std::size_t k = 0; k < operands.size(); ++k) {
        const OperandView& o = operands[k];
        if (o.ref.buffer == SSM_NO_BUFFER) {
          if (!o.optional) fail(fmt::format("{}: operand {} is required", where(), o.name));
          continue;
        }
        if (o.ref.buffer >= program.buffers.size())
          fail(fmt::format("{}: operand {}: buffer {} does not exist (the program has {})", where(), o.name,
                           o.ref.buffer, program.buffers.size()));
        const ProgramBuffer& b = program.buffers[o.ref.buffer];
        const std::uint64_t end = std::uint64_t(o.ref.offset) + operand_extent(c, static_cast<int>(k));
        if (end > b.bytes)
          fail(fmt::format("{}: operand {}: bytes [{}, {}) beyond buffer {} '{}' of {} bytes", where(), o.name,
                           o.ref.offset, end, o.ref.buffer, b.name, b.bytes));
      }
    }
  }
}

namespace {

std::uint64_t align8_64(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }
// Offsets fit 32 bits once program_image_bytes() is within kMaxProgramImageBytes.
std::uint32_t align8(std::uint64_t n) { return static_cast<std::uint32_t>(align8_64(n)); }

template <class T>
void put(std::vector<std::byte>& out, std::size_t at, const T& value) {
  static_assert(std::endian::native == std::endian::little, "the Program format is little-endian");
  std::memcpy(out.data() + at, &value, sizeof value);
}

template <class T>
T get(std::span<const std::byte> bytes, std::size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof value);
  return value;
}

}  // namespace

std::uint64_t program_image_bytes(const Program& program) {
  std::uint64_t strings = 0;
  for (const auto& b : program.buffers) strings += b.name.size() + 1;
  return align8_64(sizeof(ssm_program_header) + program.buffers.size() * sizeof(ssm_buffer)) +
         align8_64(program.streams.size() * sizeof(ssm_stream)) +
         align8_64(program.command_count() * sizeof(ssm_command)) + align8_64(strings);
}

std::vector<std::byte> encode_program(const Program& program) {
  if (const std::uint64_t bytes = program_image_bytes(program); bytes > kMaxProgramImageBytes)
    throw ConfigError(fmt::format("a Program of {} commands ({:.2f} GiB) is larger than the format holds (4 GiB)",
                                  program.command_count(), double(bytes) / double(1ull << 30)));
  std::string strings;
  std::vector<std::uint32_t> name_at;
  for (const auto& b : program.buffers) {
    name_at.push_back(static_cast<std::uint32_t>(strings.size()));
    strings += b.name;
    strings += '\0';
  }
  ssm_program_header h{};
  h.magic = SSM_PROGRAM_MAGIC;
  h.version_major = SSM_PROGRAM_VERSION_MAJOR;
  h.version_minor = SSM_PROGRAM_VERSION_MINOR;
  h.buffer_count = static_cast<std::uint32_t>(program.buffers.size());
  h.buffer_offset = sizeof h;
  h.stream_count = static_cast<std::uint32_t>(program.streams.size());
  h.stream_offset = align8(h.buffer_offset + std::uint64_t(h.buffer_count) * sizeof(ssm_buffer));
  h.command_count = static_cast<std::uint32_t>(program.command_count());
  h.command_offset = align8(h.stream_offset + std::uint64_t(h.stream_count) * sizeof(ssm_stream));
  h.string_bytes = static_cast<std::uint32_t>(strings.size());
  h.string_offset = align8(h.command_offset + std::uint64_t(h.command_count) * sizeof(ssm_command));
  h.total_bytes = align8(h.string_offset + std::uint64_t(h.string_bytes));
  h.semaphore_count = program.semaphores;

  std::vector<std::byte> out(h.total_bytes);
  put(out, 0, h);
  for (std::size_t i = 0; i < program.buffers.size(); ++i) {
    const ProgramBuffer& b = program.buffers[i];
    ssm_buffer e{};
    e.name = name_at[i];
    e.memory = static_cast<std::uint8_t>(b.memory);
    e.kind = static_cast<std::uint8_t>(b.kind);
    e.tile = static_cast<std::uint16_t>(b.tile);
    e.address = b.address;
    e.bytes = b.bytes;
    put(out, h.buffer_offset + i * sizeof e, e);
  }
  std::uint32_t first = 0;
  for (std::size_t i = 0; i < program.streams.size(); ++i) {
    const ProgramStream& s = program.streams[i];
    ssm_stream e{};
    e.tile = static_cast<std::uint16_t>(s.tile);
    e.engine = static_cast<std::uint8_t>(s.engine);
    e.first_command = first;
    e.command_count = static_cast<std::uint32_t>(s.commands.size());
    put(out, h.stream_offset + i * sizeof e, e);
    for (const auto& c : s.commands) put(out, h.command_offset + std::size_t(first++) * sizeof c, c);
  }
  std::memcpy(out.data() + h.string_offset, strings.data(), strings.size());
  return out;
}

Program decode_program(std::span<const std::byte> bytes, const std::string& source) {
  auto fail = [&](const std::string& message) { throw ConfigError(fmt::format("{}: {}", source, message)); };
  if (bytes.size() < sizeof(ssm_program_header))
    fail(fmt::format("truncated: {} bytes, shorter than the {}-byte header", bytes.size(), sizeof(ssm_program_header)));
  const auto h = get<ssm_program_header>(bytes, 0);
  if (h.magic != SSM_PROGRAM_MAGIC)
    fail(fmt::format("not an ssmsoc Program (magic 0x{:08x}, expected 0x{:08x} \"SSMP\")", h.magic, SSM_PROGRAM_MAGIC));
  if (h.version_major != SSM_PROGRAM_VERSION_MAJOR || h.version_minor > SSM_PROGRAM_VERSION_MINOR)
    fail(fmt::format("Program version {}.{}; this build reads {}.0 to {}.{}", h.version_major, h.version_minor,
                     SSM_PROGRAM_VERSION_MAJOR, SSM_PROGRAM_VERSION_MAJOR, SSM_PROGRAM_VERSION_MINOR));
  if (h.total_bytes != bytes.size())
    fail(fmt::format("truncated or padded: the header says {} bytes, the file has {}", h.total_bytes, bytes.size()));
  struct Section {
    const char* name;
    std::uint64_t offset, count, size;
  };
  const Section sections[] = {{"buffer table", h.buffer_offset, h.buffer_count, sizeof(ssm_buffer)},
                              {"stream table", h.stream_offset, h.stream_count, sizeof(ssm_stream)},
                              {"command table", h.command_offset, h.command_count, sizeof(ssm_command)},
                              {"string table", h.string_offset, h.string_bytes, 1}};
  std::uint64_t previous_end = sizeof(ssm_program_header);
  for (const Section& s : sections) {
    const std::uint64_t end = s.offset + s.count * s.size;
    if (s.offset % 8 != 0 || s.offset < previous_end || end > bytes.size())
      fail(fmt::format("{}: bytes [{}, {}) are misplaced (after byte {}, within {} bytes, 8-aligned)", s.name, s.offset,
                       end, previous_end, bytes.size()));
    previous_end = end;
  }
  const std::string_view strings(reinterpret_cast<const char*>(bytes.data()) + h.string_offset, h.string_bytes);
  Program program;
  program.semaphores = h.semaphore_count;
  for (std::uint32_t i = 0; i < h.buffer_count; ++i) {
    const auto e = get<ssm_buffer>(bytes, h.buffer_offset + std::size_t(i) * sizeof(ssm_buffer));
    const auto nul = e.name < strings.size() ? strings.find('\0', e.name) : std::string_view::npos;
    if (nul == std::string_view::npos)
      fail(fmt::format("buffer {}: its name at {} is not a string of the string table", i, e.name));
    // Range-check the raw bytes before they become enums: an enum holding a value outside
    // its enumerators is undefined behaviour, and a compiler may drop a later check.
    if (e.memory > SSM_MEM_TILE_SRAM) fail(fmt::format("buffer {}: unknown memory {}", i, e.memory));
    if (e.kind > SSM_BUF_SCRATCH) fail(fmt::format("buffer {}: unknown kind {}", i, e.kind));
    program.buffers.push_back(ProgramBuffer{std::string(strings.substr(e.name, nul - e.name)),
                                            static_cast<ssm_memory>(e.memory), static_cast<ssm_buffer_kind>(e.kind),
                                            e.tile, e.address, e.bytes});
  }
  std::uint64_t next = 0;
  for (std::uint32_t i = 0; i < h.stream_count; ++i) {
    const auto e = get<ssm_stream>(bytes, h.stream_offset + std::size_t(i) * sizeof(ssm_stream));
    if (e.first_command != next || std::uint64_t(e.first_command) + e.command_count > h.command_count)
      fail(
          fmt::format("stream {}: commands [{}, {}) do not follow the previous stream's (from {}) within the {} "
                      "commands",
                      i, e.first_command, std::uint64_t(e.first_command) + e.command_count, next, h.command_count));
    next = std::uint64_t(e.first_command) + e.command_count;
    if (e.engine >= SSM_ENGINE_COUNT) fail(fmt::format("stream {}: unknown engine {}", i, e.engine));
    ProgramStream s{e.tile, static_cast<ssm_engine>(e.engine), {}};
    for (std::uint32_t c = 0; c < e.command_count; ++c)
      s.commands.push_back(
          get<ssm_command>(bytes, h.command_offset + (std::size_t(e.first_command) + c) * sizeof(ssm_command)));
    program.streams.push_back(std::move(s));
  }
  if (next != h.command_count)
    fail(fmt::format("command table: {} commands, but the streams cover {}", h.command_count, next));
  validate_program(program, source);
  return program;
}

Program read_program(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot open the file", path));
  const std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return decode_program(std::as_bytes(std::span<const char>(data)), path);
}

void write_program(const std::string& path, const Program& program) {
  const auto bytes = encode_program(program);
  write_output_file(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

namespace {

std::string operand_text(const Program& p, ssm_ref r) {
  if (r.buffer == SSM_NO_BUFFER) return "-";
  const std::string name = r.buffer < p.buffers.size() ? p.buffers[r.buffer].name : fmt::format("#{}", r.buffer);
  return r.offset ? fmt::format("{}+0x{:x}", name, r.offset) : name;
}

namespace {

std::string command_body_text(const Program& p, const ssm_command& c) {
  auto refs = [&](const ssm_command& command) {
    std::string text;
    for (const auto& o : operands_of(command))
      if (o.ref.buffer != SSM_NO_BUFFER) text += fmt::format(" {}={}", o.name, operand_text(p, o.ref));
    return text;
  };
  switch (c.head.opcode) {
    case SSM_OP_DMA: {
      const ssm_dma& d = c.dma;
      std::string text = fmt::format("dma       {} -> {}  {} x {} B (strides {}/{})", operand_text(p, d.src),
                                     operand_text(p, d.dst), d.rows, d.row_bytes, d.src_stride, d.dst_stride);
      if (d.head.flags & SSM_DMA_BROADCAST)
        text += fmt::format(" broadcast tiles 0x{:x}", (std::uint64_t(d.tile_mask_high) << 32) | d.tile_mask_low);
      if (d.head.flags & (SSM_DMA_WIDEN | SSM_DMA_NARROW))
        text += fmt::format(" {} {}", d.head.flags & SSM_DMA_WIDEN ? "widen from" : "narrow to",
                            name_of(static_cast<Precision>(d.head.variant)));
      return text;
    }
    case SSM_OP_GEMM: {
      const ssm_gemm& g = c.gemm;
      return fmt::format("gemm.{:<4} m={} n={} k={}{}{}{}", precision_name(g.head.variant), g.m, g.n, g.k, refs(c),
                         g.head.flags & SSM_GEMM_TRANSPOSE_B ? " b^T" : "",
                         g.head.flags & SSM_GEMM_ACCUMULATE ? " c+=" : "");
    }
    case SSM_OP_SCAN: {
      const ssm_scan& s = c.scan;
      return fmt::format("scan.{} channels={} head_dim={} length={} state={} groups={}{}{}{}{}",
                         scan_variant_name(s.head.variant), s.channels, s.head_dim, s.length, s.state, s.groups,
                         refs(c), s.head.flags & SSM_SCAN_SOFTPLUS ? " softplus" : "",
                         s.head.flags & SSM_SCAN_LOAD_STATE ? " load-state" : "",
                         s.head.flags & SSM_SCAN_STORE_STATE ? " store-state" : "");
    }
    case SSM_OP_CONV1D: {
      const ssm_conv1d& v = c.conv1d;
      return fmt::format("conv1d    channels={} length={} width={} state_len={}{}{}{}", v.channels, v.length, v.width,
                         v.state_len, refs(c), v.head.flags & SSM_CONV_SILU ? " silu" : "",
                         v.head.flags & SSM_CONV_UPDATE ? " update" : "");
    }
    case SSM_OP_VECTOR: {
      const ssm_vector& v = c.vector;
      return fmt::format("vec.{:<9} {}x{}{} p0={} p1={}", vector_function_name(v.head.variant), v.rows, v.cols, refs(c),
                         std::bit_cast<float>(v.param0), v.param1);
    }
    case SSM_OP_SIGNAL:
      return fmt::format("signal    sem {} += {}", c.sync.semaphore, c.sync.value);
    case SSM_OP_WAIT:
      return fmt::format("wait      sem {} >= {}", c.sync.semaphore, c.sync.value);
  }
  return fmt::format("opcode {}", int(c.head.opcode));
}

}  // namespace

std::string command_text(const Program& p, const ssm_command& c) {
  std::string text = command_body_text(p, c);
  for (int slot = 0; slot < 2; ++slot)
    if (c.head.sync & (slot == 0 ? SSM_SYNC_WAIT0 : SSM_SYNC_WAIT1)) {
      const SyncPoint w = sync_wait(c, slot);
      text += fmt::format(" | wait sem {} >= {}", w.semaphore, w.value);
    }
  if (c.head.sync & SSM_SYNC_SIGNAL) {
    const SyncPoint sig = sync_signal(c);
    text += fmt::format(" | signal sem {} += {}", sig.semaphore, sig.value);
  }
  return text;
}

}  // namespace

std::string program_listing(const Program& p) {
  std::string out = fmt::format("program v{}.{}: {} buffers, {} streams, {} commands, {} semaphores, {} bytes\n",
                                SSM_PROGRAM_VERSION_MAJOR, SSM_PROGRAM_VERSION_MINOR, p.buffers.size(),
                                p.streams.size(), p.command_count(), p.semaphores, encode_program(p).size());
  out += "buffers\n";
  for (std::size_t i = 0; i < p.buffers.size(); ++i) {
    const ProgramBuffer& b = p.buffers[i];
    const std::string memory =
        b.memory == SSM_MEM_TILE_SRAM ? fmt::format("tile{}", b.tile) : std::string(memory_name(b.memory));
    out += fmt::format("  #{:<3} {:<20} {:<7} {:<11} @0x{:010x} {} B\n", i, b.name, memory, kind_name(b.kind),
                       b.address, b.bytes);
  }
  std::size_t index = 0;
  for (std::size_t si = 0; si < p.streams.size(); ++si) {
    const ProgramStream& s = p.streams[si];
    out += fmt::format("stream {}: tile {} {} ({} commands)\n", si, s.tile, engine_name(s.engine), s.commands.size());
    for (const auto& c : s.commands) out += fmt::format("  {:04}  {}\n", index++, command_text(p, c));
  }
  return out;
}

}  // namespace ssmsoc
