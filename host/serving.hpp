// Serving (`ssmsoc serve`): a stream of requests served by one simulated chip, step by step,
// with iteration-level continuous batching: every step runs one decode token of each session
// that has its first token, and the prompt tokens of sessions still in prefill up to a token
// budget (chunked prefill mixed into decode steps); sessions are admitted while the chip's
// memory holds their state.
//
//   std::vector<ServeRequest> requests = generate_requests(parse_arrivals("poisson:4"), 60, {128, 2048},
//                                                          {32, 256}, 7);
//   StepCosts costs = simulated_step_costs(model, profile);   // SystemC, memoized by shape
//   ServeResult r = serve(requests, costs, ServeOptions{});
//   r.summary: TTFT, time between tokens, end to end (p50/p90/p99), tokens/s, goodput, energy
//
// A step's time is what the SystemC model gives its shapes: a decode step of `batch` sessions
// at their mean context and each prefill chunk at its context, run one after the other as the
// chip runs their Programs. The shapes are simulated once each at buckets (powers of two of the
// batch, the prompt tokens and, for models with attention, the context) and interpolated
// linearly between them; `bucket_error` measures the interpolation against full simulations of
// shapes between buckets (host/README.md, "Serving").
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arch/spec/profile.hpp"
#include "compiler/compiler.hpp"

namespace ssmsoc::host {

struct ServeRequest {
  std::string id;
  double arrival_s = 0;
  int prompt_tokens = 1;
  int output_tokens = 1;  // generated tokens, the first one included
  std::string session;    // a conversation; empty: its own
  int turn = 0;
};

// FILE.jsonl, one request per line: {"id": "r1", "arrival_s": 0.25, "prompt_tokens": 512,
// "output_tokens": 128, "session": "s1", "turn": 0} (id, session and turn optional; arrival
// times non-decreasing). A bad line is a one-line ConfigError "FILE:LINE: ...".
std::vector<ServeRequest> load_requests(const std::filesystem::path& file);

// Arrivals: "poisson:RATE" (requests per second, exponential gaps) or "bursty:RATE:BURST"
// (bursts of BURST requests at once, the bursts Poisson at RATE / BURST per second).
struct ArrivalSpec {
  std::string kind = "poisson";
  double rate_per_s = 1;
  int burst = 1;
};
ArrivalSpec parse_arrivals(const std::string& text);  // ConfigError naming the text

struct TokenRange {
  int lo = 1, hi = 1;  // uniform in [lo, hi]
};
TokenRange parse_token_range(const std::string& text, const std::string& option);  // "LO:HI" or "N"

// Requests arriving over `duration_s` seconds, lengths uniform in the ranges; the same seed
// gives the same requests on every machine (the engine's raw bits, no library distribution).
std::vector<ServeRequest> generate_requests(const ArrivalSpec& arrivals, double duration_s, TokenRange prompt,
                                            TokenRange output, std::uint64_t seed);

// The chip's time and energy for one step's shapes.
struct StepCost {
  double seconds = 0, energy_j = 0;
};

// What one simulation of a shape gives: a decode step of `batch` sessions at `context` tokens
// (decode = true), or a prompt of `tokens` tokens from the empty cache to its first token
// without (prefill and the logits separately, `logits`).
struct ShapeCost {
  StepCost step;    // decode: the step; prefill: the prompt's chunks
  StepCost logits;  // prefill: the final norm and LM head of one session
};
using ShapeSimulator = std::function<ShapeCost(bool decode, int tokens, int batch)>;

// Memoized step costs at buckets, interpolated between them.
class StepCosts {
 public:
  // `context_matters`: the model has attention (a decode step's time grows with the context).
  StepCosts(ShapeSimulator simulate, bool context_matters);
  // One decode token for each of `batch` sessions whose mean context is `context`.
  StepCost decode(int batch, int context);
  // `tokens` prompt tokens of one session after `context` of its tokens (the chunk's share of
  // the whole prompt's time), and its logits when `last` (the chunk ends the prompt).
  StepCost prefill(int tokens, int context, bool last);
  // Distinct shapes simulated so far.
  std::size_t simulated() const { return decode_.size() + prompt_.size(); }
  // The largest relative error of the interpolation against simulating the shapes themselves:
  // decode at batches between buckets, prompts between buckets (what serve reports).
  double bucket_error(const std::vector<int>& batches, const std::vector<int>& prompts);

 private:
  ShapeCost shape(bool decode, int tokens, int batch);
  StepCost prompt_cost(int tokens);  // interpolated, prefill only
  ShapeSimulator simulate_;
  bool context_matters_;
  std::map<std::pair<int, int>, ShapeCost> decode_;  // (batch, context bucket)
  std::map<int, ShapeCost> prompt_;                  // tokens bucket
};

// A ShapeSimulator that compiles `model` for `profile` and runs it on the SystemC model (or
// an incumbent's kernel model) through run_performance.
ShapeSimulator simulated_shapes(const compiler::ModelSpec& model, const Profile& profile);

// The scheduling policy: "fcfs" (arrival order), "spf" (shortest prompt first), or
// "sequential" (one request at a time, the baseline continuous batching is judged against).
struct ServeOptions {
  std::string policy = "fcfs";
  int max_batch = 64;          // sessions at once (decode batch), at most
  int token_budget = 512;      // prompt tokens per step, over all sessions in prefill
  int max_sessions = 1 << 30;  // whose state the memory holds (simulated_session_limit)
  double slo_ttft_s = 0;       // 0: no objective
  double slo_tbt_s = 0;
};

// Sessions of `context` tokens whose state (SSM and conv states, KV cache) the chip's DRAM holds
// beside the weights (compiler::MemoryPlan::sessions_in_dram), at most `cap`.
int simulated_session_limit(const compiler::ModelSpec& model, const Profile& profile, int context, int cap);

struct RequestRecord {
  ServeRequest request;
  double first_token_s = -1, finish_s = -1;  // absolute; -1: never
  int tokens_out = 0;
  double max_gap_s = 0, gap_sum_s = 0;  // between consecutive tokens
  std::string dropped;                  // why it was not served; empty: completed
  double ttft_s() const { return first_token_s - request.arrival_s; }
  double e2e_s() const { return finish_s - request.arrival_s; }
  double mean_tbt_s() const { return tokens_out > 1 ? gap_sum_s / (tokens_out - 1) : 0; }
};

struct ServeResult {
  std::vector<RequestRecord> requests;  // in the input's order
  std::vector<double> gaps_s;           // every time between tokens, all requests
  std::uint64_t steps = 0;
  double makespan_s = 0;  // first arrival to last token
  double busy_s = 0;      // steps' time
  double energy_j = 0;
  double batch_sum = 0;  // decode sessions summed over steps (mean batch = batch_sum / steps)
};

// Serves `requests` (sorted by arrival) with `costs`. Requests longer than the memory can
// ever hold are dropped with their reason; every other request completes.
ServeResult serve(const std::vector<ServeRequest>& requests, StepCosts& costs, const ServeOptions& options);

// summary.json of a serve run; `requests_csv`: one row per request.
nlohmann::ordered_json serve_summary(const ServeResult& result, const ServeOptions& options);
std::string requests_csv(const ServeResult& result);

}  // namespace ssmsoc::host
