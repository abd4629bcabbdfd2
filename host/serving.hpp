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
  int prompt_tokens = 1;  // the whole context of the turn: earlier turns' tokens included
  int output_tokens = 1;  // generated tokens, the first one included
  std::string session;    // a conversation whose state may be kept between turns; empty: its own
  int turn = 0;
  // A later turn sent `think_s` after request `after` (an earlier id) has its last token
  // (closed loop: an agent or a user waiting for the answer); its record's arrival_s is then
  // when it was sent.
  std::string after;
  double think_s = 0;
};

// FILE.jsonl, one request per line: {"id": "r1", "arrival_s": 0.25, "prompt_tokens": 512,
// "output_tokens": 128, "session": "s1", "turn": 0} (id, session and turn optional; arrival
// times non-decreasing), or a follow-up {"id": "r2", "after": "r1", "think_s": 2,
// "prompt_tokens": 900, "output_tokens": 64, "session": "s1", "turn": 1}. A bad line is a
// one-line ConfigError "FILE:LINE: ...".
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

// Agents in multi-turn sessions: agent a starts at a uniform time in [0, start_spread_s), with
// a first prompt of `first` tokens; each later turn is sent `think_s` after the previous
// answer and carries the whole context so far (earlier prompts and answers) plus `added` new
// tokens (a tool's output, the next instruction).
struct AgentSpec {
  int agents = 1, turns = 1;
  TokenRange first{1, 1}, added{1, 1}, output{1, 1};
  double think_lo_s = 0, think_hi_s = 0, start_spread_s = 0;
};
std::vector<ServeRequest> generate_agent_sessions(const AgentSpec& spec, std::uint64_t seed);

// A serving scenario (workloads/scenarios/serve/*.yaml): the traffic, the objectives and the
// scheduler's limits. Traffic either `arrivals` (with duration, prompt_tokens, output_tokens)
// or `agents` (with turns, first_prompt_tokens, turn_tokens, output_tokens, think_s: {lo, hi},
// start_spread_s); token ranges "LO:HI" or N; slo: {ttft, tbt}; policy, max_batch,
// token_budget, keep_sessions, seed. Strict: an unknown key is an error with its place.
struct ServeOptions;
struct ServeScenario {
  std::string name;
  std::vector<ServeRequest> requests;
  std::string traffic;  // in words, for the summary
};
ServeScenario load_serve_scenario(const std::filesystem::path& file, ServeOptions& options);

// The chip's time and energy for one step's shapes.
struct StepCost {
  double seconds = 0, energy_j = 0;
};

// What one simulation of a shape gives: a decode step of `batch` sessions at `context` tokens
// (decode = true), or one prefill chunk Program of `tokens` tokens of one session after
// `context` tokens of it, with its logits apart (the final norm and LM head, run once a prompt).
struct ShapeCost {
  StepCost step;
  StepCost logits;  // prefill only
};
using ShapeSimulator = std::function<ShapeCost(bool decode, int tokens, int context, int batch)>;

// Memoized step costs at buckets, interpolated between them.
class StepCosts {
 public:
  // `context_matters`: the model has attention (a step's time grows with the context).
  StepCosts(ShapeSimulator simulate, bool context_matters);
  // One decode token for each of `batch` sessions whose mean context is `context`.
  StepCost decode(int batch, int context);
  // A prefill chunk of `tokens` tokens of one session after `context` of its tokens, and its
  // logits when `last` (the chunk ends the prompt).
  StepCost prefill(int tokens, int context, bool last);
  // Distinct shapes simulated so far.
  std::size_t simulated() const { return decode_.size() + prefill_.size(); }
  // The largest relative error of the interpolation against simulating the shapes themselves
  // (decode at `batches`, prefill chunks of `chunks` tokens, both at the lowest context
  // bucket), which serve reports.
  double bucket_error(const std::vector<int>& batches, const std::vector<int>& chunks);

 private:
  ShapeCost shape(bool decode, int tokens, int context, int batch);
  // Interpolated over `size` (the batch, or the chunk's tokens) and the context.
  StepCost interpolated(bool decode, int size, int context);
  ShapeSimulator simulate_;
  bool context_matters_;
  std::map<std::pair<int, int>, ShapeCost> decode_;   // (batch, context) buckets
  std::map<std::pair<int, int>, ShapeCost> prefill_;  // (tokens, context) buckets
};

// A ShapeSimulator that compiles `model` for `profile` and runs it on the SystemC model (or
// an incumbent's kernel model) through run_performance: a decode step as the decode phase of
// a 2-token generation after `context` tokens; a prefill chunk as one run of the prefill phase
// compiled with that chunk (`prefill_chunk`) at that context (`prefill_context`).
ShapeSimulator simulated_shapes(const compiler::ModelSpec& model, const Profile& profile);

// What a session's state takes in the chip's memory: its SSM and conv states (fixed) and its
// KV cache (per token of context), and what the memory holds for states beside the weights
// and the activations.
struct SessionMemory {
  double fixed_bytes = 0, per_token_bytes = 0;
  double capacity_bytes = 1e300;
  double bytes(int context) const { return fixed_bytes + per_token_bytes * context; }
};
// From the memory plan of `model` on `profile` (compiler::MemoryPlan: state bytes per session,
// sessions that fit in DRAM). ConfigError when the weights alone do not fit.
SessionMemory planned_session_memory(const compiler::ModelSpec& model, const Profile& profile);

// The scheduling policy: "fcfs" (arrival order), "spf" (shortest prompt first), or
// "sequential" (one request at a time, the baseline continuous batching is judged against).
struct ServeOptions {
  std::string policy = "fcfs";
  int max_batch = 64;      // sessions at once (decode batch), at most
  int token_budget = 512;  // prompt tokens per step, over all sessions in prefill
  SessionMemory memory;    // admission: the states of the running and the kept sessions fit
  // Keep a session's state after its turn (in the chip's DRAM while it fits, else spilled to
  // host memory over the host link, least recently used first) so that its next turn only
  // prefills its new tokens; false: every turn prefills its whole context.
  bool keep_sessions = true;
  double host_link_bytes_per_s = 32e9;  // restoring a spilled state (a PCIe 5 x8 class link)
  double slo_ttft_s = 0;                // 0: no objective
  double slo_tbt_s = 0;
};

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
  // The state cache: turns of a kept session that found its state on chip (hits), in host
  // memory (restores) or nowhere (misses: the first turn, or keep_sessions off); prompt
  // tokens not prefilled thanks to it; bytes spilled to and restored from host memory and
  // still there at the end; resident state bytes (running and kept) at their peak and their
  // time-weighted mean over the steps.
  std::uint64_t cache_hits = 0, cache_restores = 0, cache_misses = 0;
  double tokens_reused = 0;
  // Spilled = restored + in host at the end + discarded (a host copy a newer turn superseded).
  double bytes_spilled = 0, bytes_restored = 0, bytes_in_host = 0, bytes_discarded = 0;
  double peak_resident_bytes = 0, resident_byte_seconds = 0;
  int peak_sessions = 0;  // running at once
};

// Serves `requests` with `costs`. A request whose state the memory can never hold is dropped
// with its reason (and so are the later turns that follow it); every other request completes.
ServeResult serve(const std::vector<ServeRequest>& requests, StepCosts& costs, const ServeOptions& options);

// summary.json of a serve run; `requests_csv`: one row per request.
nlohmann::ordered_json serve_summary(const ServeResult& result, const ServeOptions& options);
std::string requests_csv(const ServeResult& result);

}  // namespace ssmsoc::host
