// The pin-level driver of one Verilated scan-unit variant (a template over the Verilated
// class, instantiated once per variant in a generated translation unit). Internal to
// ssmsoc_rtl_scan_unit.
#pragma once

#include <verilated.h>
#include <verilated_fst_c.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "rtl/scan_unit/engine.hpp"
#include "rtl/scan_unit/harness.hpp"

namespace ssmsoc::rtl {

namespace pins {

inline void put_words(EData* words, int lsb, int width, std::uint64_t value) {
  while (width > 0) {
    const int word = lsb >> 5, offset = lsb & 31;
    const int take = std::min(32 - offset, width);
    const EData mask = (take == 32 ? ~EData{0} : ((EData{1} << take) - 1)) << offset;
    words[word] = (words[word] & ~mask) | ((static_cast<EData>(value) << offset) & mask);
    value >>= take;
    lsb += take;
    width -= take;
  }
}

inline std::uint64_t get_words(const EData* words, int lsb, int width) {
  std::uint64_t value = 0;
  int done = 0;
  while (done < width) {
    const int word = lsb >> 5, offset = lsb & 31;
    const int take = std::min(32 - offset, width - done);
    const std::uint64_t bits = (words[word] >> offset) & (take == 32 ? 0xffffffffu : ((1u << take) - 1));
    value |= bits << done;
    done += take;
    lsb += take;
  }
  return value;
}

template <class T>
requires std::is_integral_v<T>
void put(T& port, int lsb, int width, std::uint64_t value) {
  const std::uint64_t mask = (width >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << width) - 1) << lsb;
  port = static_cast<T>((static_cast<std::uint64_t>(port) & ~mask) | ((value << lsb) & mask));
}
template <std::size_t N>
void put(VlWide<N>& port, int lsb, int width, std::uint64_t value) {
  put_words(port.data(), lsb, width, value);
}

template <class T>
requires std::is_integral_v<T> std::uint64_t get(const T& port, int lsb, int width) {
  const std::uint64_t v = static_cast<std::uint64_t>(port) >> lsb;
  return width >= 64 ? v : v & ((std::uint64_t{1} << width) - 1);
}
template <std::size_t N>
std::uint64_t get(const VlWide<N>& port, int lsb, int width) {
  return get_words(port.data(), lsb, width);
}

inline std::int64_t sign_extend(std::uint64_t v, int width) {
  if (width >= 64) return static_cast<std::int64_t>(v);
  const std::uint64_t sign = std::uint64_t{1} << (width - 1);
  return static_cast<std::int64_t>((v ^ sign) - sign);
}

}  // namespace pins

template <class Model>
class VerilatedEngine final : public ScanEngine {
 public:
  explicit VerilatedEngine(const EngineConfig& config) : config_(config) {
    context_ = std::make_unique<VerilatedContext>();
    context_->fatalOnError(false);
    context_->traceEverOn(true);
    model_ = std::make_unique<Model>(context_.get(), "scan_unit");
    reset();
  }
  ~VerilatedEngine() override {
    close_trace();
    model_->final();
  }

  void reset() override {
    Model& m = *model_;
    m.in_valid_i = 0;
    m.out_ready_i = 1;
    m.rst_ni = 0;
    m.clk_i = 0;
    eval();
    m.clk_i = 1;
    eval();
    m.clk_i = 0;
    eval();
    m.rst_ni = 1;
    eval();
  }

  void open_trace(const std::string& file) override {
    close_trace();
    trace_ = std::make_unique<VerilatedFstC>();
    model_->trace(trace_.get(), 99);
    trace_->open(file.c_str());
    if (!trace_->isOpen()) throw std::runtime_error("cannot open trace file " + file);
  }
  void close_trace() override {
    if (trace_) trace_->close();
    trace_.reset();
  }
  std::uint64_t cycle() const override { return cycle_; }

  JobOutput run(const Job& job, const DriveOptions& options) override {
    Model& m = *model_;
    JobOutput out;
    out.out_raw.assign(job.out_count, 0);
    out.out_cycle.assign(job.out_count, 0);
    out.state_raw.assign(job.state_count, 0);
    out.state_cycle.assign(job.state_count, 0);
    std::mt19937_64 random(options.seed);
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    const int lanes = config_.lanes;

    // Input position: run, step, beat.
    std::size_t run = 0, step = 0;
    int beat = 0;
    bool loaded = false;   // the pins hold the current beat
    bool pending = false;  // the current beat is offered and not yet taken
    auto beats_of = [&](const Run& r) { return (r.n + lanes - 1) / lanes; };
    auto skip_empty = [&]() {
      while (run < job.runs.size() && job.runs[run].steps.empty()) ++run;
    };
    skip_empty();
    // Output position: results in step order; stored states in run order.
    std::size_t out_run = 0, out_step = 0;
    std::size_t store_run = 0;
    auto skip_empty_out = [&]() {
      while (out_run < job.runs.size() && job.runs[out_run].steps.empty()) ++out_run;
      while (store_run < job.runs.size() && job.runs[store_run].steps.empty()) ++store_run;
    };
    skip_empty_out();
    std::size_t results_left = 0;
    for (const Run& r : job.runs) results_left += r.steps.size();
    std::uint64_t first_in = 0, last_out = 0, last_beat_in = 0, previous_out = 0;
    bool any_in = false, any_out = false;
    std::vector<std::uint64_t> step_last_beat;  // per result index in arrival order
    std::size_t steps_in = 0, steps_out = 0;
    step_last_beat.reserve(results_left);
    out.min_interval = ~std::uint64_t{0};
    const std::uint64_t limit = cycle_ + 1000 + 4 * (job.vectors.size() + results_left * 64);

    while (results_left > 0) {
      // Drive.
      const bool have = run < job.runs.size();
      // Valid/ready: a beat once offered stays offered until it is taken.
      const bool offer = have && (pending || options.in_stall <= 0 || coin(random) >= options.in_stall);
      if (have && !loaded) {
        drive(job, job.runs[run], step, beat);
        loaded = true;
      }
      m.in_valid_i = offer ? 1 : 0;
      m.out_ready_i = (options.out_stall <= 0 || coin(random) >= options.out_stall) ? 1 : 0;
      eval();
      const bool in_fire = offer && m.in_ready_o;
      pending = offer && !in_fire;
      const bool out_fire = m.out_valid_o && m.out_ready_i;
      const std::uint64_t edge = cycle_;
      if (out_fire) {
        if (!any_out) any_out = true;
        last_out = edge;
        if (m.out_h_valid_o) {
          if (store_run >= job.runs.size()) fail("a stored state beat nobody asked for");
          const Run& r = job.runs[store_run];
          const int b = static_cast<int>(pins::get(m.out_beat_o, 0, 32));
          for (int k = 0; k < lanes; ++k) {
            const int idx = b * lanes + k;
            if (idx >= r.n) break;
            const std::uint64_t bits = pins::get(m.out_h_o, k * config_.state_bits, config_.state_bits);
            out.state_raw[r.state_index + static_cast<std::size_t>(idx)] =
                config_.fixed ? pins::sign_extend(bits, config_.state_bits) : static_cast<std::int64_t>(bits);
            out.state_cycle[r.state_index + static_cast<std::size_t>(idx)] = edge;
          }
          if (b == beats_of(r) - 1) {
            ++store_run;
            skip_empty_out();
          }
        }
        if (m.out_y_valid_o) {
          if (out_run >= job.runs.size()) fail("a result nobody asked for");
          const Run& r = job.runs[out_run];
          const StepOperands& s = r.steps[out_step];
          const std::uint64_t bits = pins::get(m.out_y_o, 0, config_.state_bits);
          out.out_raw[s.out_index] =
              config_.fixed ? pins::sign_extend(bits, config_.state_bits) : static_cast<std::int64_t>(bits);
          out.out_cycle[s.out_index] = edge;
          if (steps_out < step_last_beat.size())
            out.latency_cycles = std::max(out.latency_cycles, edge - step_last_beat[steps_out]);
          if (steps_out > 0) out.min_interval = std::min(out.min_interval, edge - previous_out);
          previous_out = edge;
          ++steps_out;
          --results_left;
          out.lane_steps += static_cast<std::uint64_t>(r.n);
          if (++out_step == r.steps.size()) {
            out_step = 0;
            ++out_run;
            skip_empty_out();
          }
        }
      }
      // Clock edge.
      m.clk_i = 1;
      eval();
      m.clk_i = 0;
      ++cycle_;
      if (in_fire) {
        if (!any_in) {
          any_in = true;
          first_in = edge;
        }
        ++out.beats;
        loaded = false;
        const Run& r = job.runs[run];
        if (++beat == beats_of(r)) {
          beat = 0;
          last_beat_in = edge;
          step_last_beat.push_back(last_beat_in);
          ++steps_in;
          if (++step == r.steps.size()) {
            step = 0;
            ++run;
            skip_empty();
          }
        }
      }
      if (cycle_ > limit) fail("the unit stopped producing results (deadlock)");
    }
    if (any_in && any_out) out.cycles = last_out - first_in + 1;
    if (out.min_interval == ~std::uint64_t{0}) out.min_interval = 0;
    m.in_valid_i = 0;
    m.out_ready_i = 1;
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("scan unit RTL at cycle " + std::to_string(cycle_) + ": " + what);
  }

  void eval() {
    model_->eval();
    if (trace_) trace_->dump(time_);
    time_ += 5;
    if (context_->gotError() || context_->gotFinish()) fail("an RTL assertion failed (its message is on stderr)");
  }

  // Puts one beat of one step on the input pins.
  void drive(const Job& job, const Run& r, std::size_t step, int beat) {
    Model& m = *model_;
    const StepOperands& s = r.steps[step];
    const int dw = config_.data_bits, sw = config_.state_bits, lanes = config_.lanes;
    m.in_mode_i = r.mamba2 ? 1 : 0;
    m.in_state_n_i = static_cast<std::remove_reference_t<decltype(m.in_state_n_i)>>(r.n);
    const bool load = step == 0 && !r.h0.empty();
    const bool store = step + 1 == r.steps.size();
    m.in_load_i = load ? 1 : 0;
    m.in_store_i = store ? 1 : 0;
    m.in_softplus_i = r.softplus ? 1 : 0;
    m.in_d_skip_i = r.d_skip ? 1 : 0;
    m.in_gate_i = r.gate ? 1 : 0;
    pins::put(m.in_dt_i, 0, dw, static_cast<std::uint64_t>(s.dt));
    pins::put(m.in_bias_i, 0, dw, static_cast<std::uint64_t>(s.bias));
    pins::put(m.in_u_i, 0, dw, static_cast<std::uint64_t>(s.u));
    pins::put(m.in_d_i, 0, dw, static_cast<std::uint64_t>(s.d));
    pins::put(m.in_z_i, 0, dw, static_cast<std::uint64_t>(s.z));
    pins::put(m.in_a_i, 0, dw, static_cast<std::uint64_t>(s.a));
    for (int k = 0; k < lanes; ++k) {
      const int idx = beat * lanes + k;
      const bool live = idx < r.n;
      const std::size_t i = static_cast<std::size_t>(idx);
      pins::put(m.in_a_lanes_i, k * dw, dw,
                live && !r.mamba2 ? static_cast<std::uint64_t>(job.vectors[s.a_lanes + i]) : 0);
      pins::put(m.in_b_i, k * dw, dw, live ? static_cast<std::uint64_t>(job.vectors[s.b + i]) : 0);
      pins::put(m.in_c_i, k * dw, dw, live ? static_cast<std::uint64_t>(job.vectors[s.c + i]) : 0);
      if (load) pins::put(m.in_h_i, k * sw, sw, live ? static_cast<std::uint64_t>(r.h0[i]) : 0);
    }
  }

  EngineConfig config_;
  std::unique_ptr<VerilatedContext> context_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<VerilatedFstC> trace_;
  std::uint64_t cycle_ = 0, time_ = 0;
};

}  // namespace ssmsoc::rtl
