// A small Program shared by the Program-format and stream-builder tests.
#pragma once

#include "arch/spec/program.hpp"

namespace ssmsoc::test {

// A small program: weights in DRAM DMAed into tile 0, a GEMM, a scan, a vector op, and
// semaphores ordering the three engines.
inline Program sample_program() {
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

}  // namespace ssmsoc::test
