// The kernel-level model of a GPU (a profile with `kernels:`): a phase is its kernels one
// after another, as the inference stack launches them (arch/spec/kernel_call.hpp), each timed
// from the profile's figures (arch/spec/profile.hpp, KernelModel; calibrated against H100
// measurements in tools/calibrate). sim/README.md, "Kernel model", gives the formulas.
//
//   const Profile h100 = load_profile("h100-class");
//   KernelCall g{.kind = KernelKind::gemm, .m = 2048, .n = 10240, .k = 2560};
//   kernel_seconds(h100, g);  // waves of 128 x 256 blocks over 132 SMs at the tensor cores' efficiency
#pragma once

#include <vector>

#include "arch/spec/kernel_call.hpp"
#include "arch/spec/profile.hpp"
#include "sim/sim.hpp"

namespace ssmsoc::sim {

// A kernel's time on the device, from its start to its end (launch gaps apart).
double kernel_seconds(const Profile& profile, const KernelCall& kernel);

// The host's time to issue a kernel eagerly: launch_gap_us per launch (a GEMM's
// gemm_launch_gap_us, the chunked SSD's ssd_launch_gap_us: the library's dispatch and the
// stack's Python wrapper cost more host time).
double host_issue_seconds(const Profile& profile, const KernelCall& kernel);
// The time per kernel of a stream of the same kernel (what a microbenchmark measures): `device`
// (kernel_seconds) and the graph's gap (`graph`), or, launched one by one, the slower of the
// device and the host issuing it.
double launch_span_seconds(const Profile& profile, const KernelCall& kernel, double device, bool graph);

// A phase of `ops` compiler ops run as `kernels`: launched one by one (on a GPU the host issues
// them into the stream's queue, running ahead of the device, and a kernel starts when issued and
// the one before it has ended; a CPU's or NPU's runtime takes at least its per-op overhead for
// each), or replayed from a CUDA graph (`graph`: each kernel
// followed by the graph's gap). The result's cycles are at the profile's clock; DRAM bytes,
// MACs, energy (MACs, DRAM bytes, leakage over the time) and per-op statistics (the op's
// kernels' time as busy cycles of one tile: GEMM and other tensor-core kernels on its matrix
// engine, scans on its scan engine, memory-bound kernels on its DMA) as the SystemC model
// reports them.
SimResult simulate_kernels(const Profile& profile, const std::vector<KernelCall>& kernels, std::size_t ops, bool graph);

}  // namespace ssmsoc::sim
