#include "compiler/kernel_plan.hpp"

#include <fmt/format.h>

#include "compiler/cost_model.hpp"

namespace ssmsoc::compiler {

namespace {

class Planner {
 public:
  Planner(const Module& mod, const Profile& profile)
      : mod_(mod), profile_(profile), elem_(double(bits_of(mod.precision)) / 8) {}

  std::vector<KernelCall> run() {
    for (std::size_t i = 0; i < mod_.ops.size(); ++i) plan(int(i), mod_.ops[i]);
    return std::move(out_);
  }

 private:
  // Columns and elements of a view (all its tensor's rows).
  double columns(const View& v) const { return double(v.cols ? v.cols : mod_.tensors.at(std::size_t(v.tensor)).cols); }
  double elements(const View& v) const {
    return v.tensor < 0 ? 0 : double(mod_.tensors.at(std::size_t(v.tensor)).rows) * columns(v);
  }
  double moved(const PrimOp& op) const {
    double e = 0;
    for (const auto* views : {&op.in, &op.out})
      for (const View& v : *views) e += elements(v);
    return e * elem_;
  }
  KernelCall& add(int index, const PrimOp& op, KernelKind kind) {
    KernelCall k;
    k.name = op.name;
    k.op = index;
    k.kind = kind;
    k.precision = op.kind == Prim::gemm || op.kind == Prim::attention ? op.precision : mod_.precision;
    out_.push_back(std::move(k));
    return out_.back();
  }

  void plan(int index, const PrimOp& op) {
    switch (op.kind) {
      case Prim::gemm: {
        KernelCall& k = add(index, op, KernelKind::gemm);
        k.batch = op.repeat, k.m = op.m, k.n = op.n, k.k = op.k;
        k.flops = 2.0 * op.repeat * double(op.m) * double(op.n) * double(op.k);
        // A and the weights read, C written (and read, with a residual), in the model's precision.
        k.bytes = double(op.repeat) * (double(op.m) * op.k + double(op.n) * op.k + double(op.m) * op.n) * elem_ +
                  (op.in.size() > 2 ? double(op.m) * op.n * elem_ : 0);
        return;
      }
      case Prim::vector:
        if (op.function == SSM_VEC_CONVERT) return;  // the activations already are in the matrix precision
        add(index, op, KernelKind::memory).bytes = moved(op);
        return;
      case Prim::copy:
        add(index, op, KernelKind::memory).bytes = 2.0 * double(op.rows) * columns(op.out[0]) * elem_;
        return;
      case Prim::conv1d:
        add(index, op, KernelKind::memory).bytes = moved(op);
        return;
      case Prim::scan:
        return scan(index, op);
      case Prim::attention: {
        KernelCall& k = add(index, op, KernelKind::attention);
        k.batch = std::int64_t(op.sessions) * op.heads, k.length = op.length, k.m = op.context, k.k = op.head_dim;
        k.causal = op.length > 1;
        const double kv = double(op.context) + double(op.length);
        // Causal: the prompt's queries see half the square of their own tokens.
        const double keys = op.length > 1 ? double(op.context) + double(op.length) / 2 : kv;
        k.flops = 4.0 * op.sessions * double(op.heads) * double(op.length) * keys * double(op.head_dim);
        k.bytes =
            (2.0 * op.heads * double(op.length) + 2.0 * op.kv_heads * kv) * double(op.head_dim) * op.sessions * elem_;
        return;
      }
    }
  }

  void scan(int index, const PrimOp& op) {
    const double p = op.version == 2 ? double(op.head_dim) : 1.0;
    const double rows = double(op.sessions) * double(op.channels) * p;  // state rows
    const KernelModel& km = *profile_.kernels;
    const double state_bytes = rows * double(op.state) * km.state_bits / 8 * 2;  // read and written
    if (op.length == 1) {
      KernelCall& k = add(index, op, KernelKind::state_update);
      k.channels = std::int64_t(rows), k.length = 1, k.state = op.state;
      // The token's operands and output; the state too, unless it stays in the memory's units.
      k.bytes = moved(op) - elements(op.in[8]) * elem_;
      if (km.pim)
        k.memory_bytes = rows * double(op.state) * km.pim->state_bits / 8;
      else
        k.bytes += state_bytes;
      return;
    }
    // x, z in and y out (rows each), dt (one per channel or head), B and C, in the model's
    // precision; the final state out.
    const double tokens = double(op.sessions) * double(op.length);
    const double io = tokens *
                      (double(op.channels) * p * 3 + double(op.channels) + 2.0 * double(op.groups) * double(op.state)) *
                      elem_;
    if (op.version == 1) {
      KernelCall& k = add(index, op, KernelKind::selective_scan);
      k.channels = std::int64_t(rows), k.length = op.length, k.state = op.state;
      k.bytes = io + state_bytes / 2;
      return;
    }
    KernelCall& k = add(index, op, KernelKind::chunked_ssd);
    k.precision = mod_.precision;
    for (const Work& w : scan_work(op, ScanKernel::chunked_ssd, op.channels, op.length, profile_))
      if (w.opcode == SSM_OP_GEMM) k.flops += 2.0 * double(op.sessions) * double(w.m) * double(w.n) * double(w.k);
    k.bytes = io + state_bytes / 2 + tokens / double(op.chunk) * rows * double(op.state) * 4 * 2;  // chunk states
    k.launches = 5;
  }

  const Module& mod_;
  const Profile& profile_;
  double elem_;
  std::vector<KernelCall> out_;
};

std::string_view kind_name(KernelKind k) {
  switch (k) {
    case KernelKind::gemm:
      return "gemm";
    case KernelKind::memory:
      return "memory";
    case KernelKind::selective_scan:
      return "selective_scan";
    case KernelKind::state_update:
      return "state_update";
    case KernelKind::chunked_ssd:
      return "chunked_ssd";
    case KernelKind::attention:
      return "attention";
  }
  return "?";
}

}  // namespace

std::vector<KernelCall> plan_kernels(const Module& module, const Profile& profile) {
  return Planner(module, profile).run();
}

std::string dump_kernels(const std::vector<KernelCall>& kernels) {
  std::string out;
  for (const KernelCall& k : kernels) {
    std::string shape;
    if (k.kind == KernelKind::gemm)
      shape = fmt::format("{}{} x {} x {}", k.batch > 1 ? fmt::format("{} x ", k.batch) : "", k.m, k.n, k.k);
    else if (k.kind == KernelKind::selective_scan || k.kind == KernelKind::state_update)
      shape = fmt::format("{} rows x {} tokens, N={}", k.channels, k.length, k.state);
    else if (k.flops > 0)
      shape = fmt::format("{:.4g} FLOP", k.flops);
    out += fmt::format("{:<15} {:<34} {:<28} {:>12.0f} B{}\n", kind_name(k.kind), k.name, shape, k.bytes,
                       k.launches > 1 ? fmt::format(" ({} launches)", k.launches) : "");
  }
  return out;
}

}  // namespace ssmsoc::compiler
