#include "sim/kernel_calibration.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "arch/spec/config_tree.hpp"
#include "sim/kernel_model.hpp"

namespace ssmsoc::sim {

namespace {

using json = nlohmann::json;

class Predictor {
 public:
  Predictor(const Profile& profile, std::string file) : profile_(profile), file_(std::move(file)) {}

  CalibrationRow row(const json& record, std::size_t index) {
    index_ = index;
    record_ = &record;
    CalibrationRow r;
    r.suite = text("suite");
    r.op = text("op");
    r.impl = record.value("impl", std::string());
    r.launch = text("launch");
    r.set = record.value("set", std::string());
    r.shape = record.contains("shape") ? record["shape"].dump() : "{}";
    if (r.suite == "power") {  // a power sample (watts), not a time
      r.not_modelled = "a power sample (arch/profiles/h100-class.yaml's energy figures derive from these)";
      return r;
    }
    r.measured_us = number("median_us");
    r.source = record.value("source", std::string());
    if (r.launch == "host") {
      r.not_modelled = "a host round trip (launch and synchronize)";
      return r;
    }
    if (r.launch != "eager" && r.launch != "graph") fail("launch", "expected eager, graph or host");
    const std::optional<KernelCall> kernel = kernel_of(r);
    if (!kernel) return r;
    r.predicted_us =
        launch_span_seconds(profile_, *kernel, kernel_seconds(profile_, *kernel), r.launch == "graph") * 1e6;
    return r;
  }

 private:
  [[noreturn]] void fail(std::string_view field, std::string_view expected) const {
    throw ConfigError(fmt::format("{}: measurements[{}].{}: {}", file_, index_, field, expected));
  }
  const json& field(const json& object, std::string_view key, std::string_view path) const {
    const auto it = object.find(std::string(key));
    if (it == object.end()) fail(path, "missing");
    return *it;
  }
  std::string text(std::string_view key) const {
    const json& v = field(*record_, key, key);
    if (!v.is_string()) fail(key, "expected a string");
    return v.get<std::string>();
  }
  double number(std::string_view key) const {
    const json& v = field(*record_, key, key);
    if (!v.is_number() || v.get<double>() < 0) fail(key, "expected a number >= 0");
    return v.get<double>();
  }
  std::int64_t dim(std::string_view key) const {
    const json& shape = field(*record_, "shape", "shape");
    const json& v = field(shape, key, fmt::format("shape.{}", key));
    if (!v.is_number_integer() || v.get<std::int64_t>() < 1)
      fail(fmt::format("shape.{}", key), "expected an integer >= 1");
    return v.get<std::int64_t>();
  }
  std::string shape_text(std::string_view key) const {
    const json& shape = field(*record_, "shape", "shape");
    const auto it = shape.find(std::string(key));
    return it != shape.end() && it->is_string() ? it->get<std::string>() : std::string();
  }

  KernelCall memory(double bytes) const {
    KernelCall k;
    k.kind = KernelKind::memory;
    k.bytes = bytes;
    return k;
  }

  // The kernel a record times, or none (with the reason in the row).
  std::optional<KernelCall> kernel_of(CalibrationRow& r) const {
    if (r.suite == "gemm") {
      KernelCall g;
      g.kind = KernelKind::gemm;
      g.m = dim("M"), g.n = dim("N"), g.k = dim("K");
      g.flops = 2.0 * double(g.m) * double(g.n) * double(g.k);
      g.bytes = number("bytes");
      return g;
    }
    if (r.suite == "memory") {
      if (shape_text("cache") == "l2_warm") {
        r.not_modelled = "an L2-resident buffer (the kernel model has no L2)";
        return std::nullopt;
      }
      return memory(number("bytes"));
    }
    if (r.suite == "elementwise") {
      if (r.op == "rmsnorm_torch_ops") {
        r.not_modelled = "several torch kernels, not one";
        return std::nullopt;
      }
      return memory(number("bytes"));
    }
    if (r.suite == "attention") {
      if (shape_text("backend") == "flash") {
        r.not_modelled =
            "FlashAttention-2 (PyTorch's flash backend), 1.5 times cuDNN's time at 8,192 tokens: the model times the "
            "fastest backend, as a serving stack picks it";
        return std::nullopt;
      }
      KernelCall a;
      a.kind = KernelKind::attention;
      a.batch = dim("batch") * dim("heads"), a.length = dim("q_len"), a.m = dim("kv_len") - a.length;
      if (a.m < 0) fail("shape.kv_len", "expected at least q_len (the keys include the queries')");
      a.k = dim("head_dim");
      const json& causal = field(field(*record_, "shape", "shape"), "causal", "shape.causal");
      if (!causal.is_boolean()) fail("shape.causal", "expected true or false");
      a.causal = causal.get<bool>();
      a.flops = number("flops");
      a.bytes = number("bytes");
      return a;
    }
    if (r.suite == "model") {
      if (r.op == "prefill_torch" || r.op == "decode_step_torch") {
        r.not_modelled =
            "the model in plain torch ops (tens of small kernels a layer), not a deployment's fused kernels";
        return std::nullopt;
      }
      if (r.op != "prefill" && r.op != "decode_step")
        fail("op", "expected prefill or decode_step (or prefill_torch, decode_step_torch) for suite model");
      r.model = shape_text("model");
      if (r.model.empty()) fail("shape.model", "expected a workload name");
      r.tokens = static_cast<int>(std::min<std::int64_t>(dim("tokens"), 1 << 24));
      r.batch = static_cast<int>(std::min<std::int64_t>(dim("batch"), 1 << 20));
      r.precision = shape_text("precision");
      r.not_modelled = "a whole model: predicted by a full compile";
      return std::nullopt;
    }
    if (r.suite == "launch") {
      // One element: the kernel's floor (and the launch or graph gap).
      return memory(0);
    }
    if (r.suite == "ssm") {
      if (r.impl == "torch-reference") {
        r.not_modelled = "a reference made of many torch kernels, not a deployment's kernel";
        return std::nullopt;
      }
      if (r.op == "mamba1_selective_scan_fwd" && r.impl == "triton-own") {
        r.not_modelled = "the script's own sequential Triton scan, not the deployment's CUDA kernel (mamba_ssm)";
        return std::nullopt;
      }
      if (r.op == "mamba1_selective_scan_fwd") {
        KernelCall s;
        s.kind = KernelKind::selective_scan;
        s.channels = dim("batch") * dim("d_inner"), s.length = dim("L"), s.state = dim("d_state");
        s.bytes = number("bytes");
        return s;
      }
      if (r.op == "mamba1_state_update" || r.op == "mamba2_state_update") {
        KernelCall s = memory(number("bytes"));
        s.kind = KernelKind::state_update;
        return s;
      }
    }
    if (r.suite == "deploy_kernel") {  // mamba_ssm's kernels (and the script's conv) of a Mamba-2 layer
      if (r.op == "state_update") {
        KernelCall k = memory(number("bytes"));
        k.kind = KernelKind::state_update;
        return k;
      }
      if (r.op == "chunk_scan") {  // the five kernels of the chunked SSD, as the kernel plan counts them
        const double length = double(dim("L")), heads = double(dim("heads")), p = double(dim("head_dim"));
        const double n = double(dim("d_state")), chunk = double(dim("chunk"));
        KernelCall k;
        k.kind = KernelKind::chunked_ssd;
        k.flops = number("flops");
        k.bytes = length * (2 * heads * p + 2 * n + heads) * 2 + heads * p * n * 4 +
                  std::ceil(length / chunk) * heads * p * n * 4 * 2;
        k.launches = 5;
        return k;
      }
      return memory(number("bytes"));  // norms and the causal conv
    }
    r.not_modelled = "no kernel of the model times this operation";
    return std::nullopt;
  }

  const Profile& profile_;
  std::string file_;
  std::size_t index_ = 0;
  const json* record_ = nullptr;
};

}  // namespace

std::vector<CalibrationRow> predict_measurements(const Profile& profile, const std::filesystem::path& file) {
  if (!profile.kernels)
    throw ConfigError(
        fmt::format("{}: the profile has no kernels: section to predict measurements with", profile.name));
  std::ifstream in(file);
  if (!in) throw ConfigError(fmt::format("{}: cannot read the measurements", file.string()));
  json doc;
  try {
    doc = json::parse(in);
  } catch (const json::parse_error& e) {
    throw ConfigError(fmt::format("{}: not JSON ({})", file.string(), e.what()));
  }
  if (!doc.is_object() || !doc.contains("measurements") || !doc["measurements"].is_array())
    throw ConfigError(fmt::format("{}: expected an object with a list 'measurements'", file.string()));
  Predictor predictor(profile, file.string());
  std::vector<CalibrationRow> rows;
  const json& records = doc["measurements"];
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (!records[i].is_object())
      throw ConfigError(fmt::format("{}: measurements[{}]: expected an object", file.string(), i));
    rows.push_back(predictor.row(records[i], i));
  }
  return rows;
}

}  // namespace ssmsoc::sim
