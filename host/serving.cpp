#include "host/serving.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <fstream>
#include <functional>
#include <queue>
#include <random>

#include "arch/spec/config_tree.hpp"
#include "host/performance_run.hpp"

namespace ssmsoc::host {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

// The longest time a request file may name (arrival_s, think_s): about 30 years.
constexpr double kMaxSeconds = 1e9;

// A uniform double in [0, 1) from the engine's raw bits (the same on every standard library).
double unit(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }
int uniform_tokens(std::mt19937_64& rng, TokenRange r) {
  return r.lo + static_cast<int>(std::floor(unit(rng) * double(r.hi - r.lo + 1)));
}

double number_after(const std::string& text, const std::string& what, const std::string& whole) {
  try {
    std::size_t used = 0;
    const double v = std::stod(what, &used);
    if (used == what.size() && std::isfinite(v) && v > 0) return v;
  } catch (const std::exception&) {
  }
  throw ConfigError(fmt::format("--arrivals \"{}\": \"{}\" is not a positive number ({})", whole, what, text));
}

// The buckets around `x`: from `lowest`, four a doubling (1, 2, 3, 4, 5, 6, 7, 8, 10, 12 ...
// from 1; 16, 20, 24, 28, 32, 40 ... from 16); the pair is equal when x is one. (The mapper's
// choices make a step's time piecewise in its shape: buckets an octave apart missed by up to
// 6 % between them, half an octave by 4.5 %.)
std::pair<int, int> buckets(int x, int lowest) {
  if (x <= lowest) return {lowest, lowest};
  int lo = lowest;
  for (;;) {
    int octave = 1;
    while (octave * 2 <= lo) octave *= 2;
    const int next = lo + std::max(1, octave / 4);
    if (next > x) return {lo, x == lo ? lo : next};
    lo = next;
  }
}

StepCost mix(StepCost a, StepCost b, double w) {
  return {a.seconds + (b.seconds - a.seconds) * w, a.energy_j + (b.energy_j - a.energy_j) * w};
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t rank = static_cast<std::size_t>(std::ceil(q * double(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

ordered_json distribution(const std::vector<double>& v) {
  double sum = 0;
  for (const double x : v) sum += x;
  return ordered_json{{"mean", v.empty() ? 0 : sum / double(v.size())},
                      {"p50", percentile(v, 0.50)},
                      {"p90", percentile(v, 0.90)},
                      {"p99", percentile(v, 0.99)},
                      {"unit", "s"}};
}

}  // namespace

std::vector<ServeRequest> load_requests(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw ConfigError(fmt::format("{}: cannot read the request file", file.string()));
  std::vector<ServeRequest> out;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string at = fmt::format("{}:{}", file.string(), number);
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& e) {
      throw ConfigError(fmt::format("{}: not a JSON object ({})", at, e.what()));
    }
    if (!j.is_object()) throw ConfigError(fmt::format("{}: expected a JSON object, one request per line", at));
    static const char* kKeys[] = {"id",      "arrival_s", "prompt_tokens", "output_tokens",
                                  "session", "turn",      "after",         "think_s"};
    for (const auto& [key, value] : j.items())
      if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys))
        throw ConfigError(
            fmt::format("{}: unknown field \"{}\" (fields: id, arrival_s, prompt_tokens, output_tokens, "
                        "session, turn, after, think_s)",
                        at, key));
    auto count = [&](const char* key, int lo) {
      if (!j.contains(key) || !j[key].is_number_integer() || j[key].get<std::int64_t>() < lo ||
          j[key].get<std::int64_t>() > 100000000)
        throw ConfigError(fmt::format("{}: \"{}\" must be an integer from {} to 100000000", at, key, lo));
      return static_cast<int>(j[key].get<std::int64_t>());
    };
    auto seconds = [&](const char* key) {
      if (!j[key].is_number() || !(j[key].get<double>() >= 0 && j[key].get<double>() <= kMaxSeconds))
        throw ConfigError(fmt::format("{}: \"{}\" must be a number of seconds from 0 to {:g}", at, key, kMaxSeconds));
      return j[key].get<double>();
    };
    ServeRequest r;
    if (j.contains("after")) {
      if (!j["after"].is_string()) throw ConfigError(fmt::format("{}: \"after\" must be a request's id", at));
      r.after = j["after"].get<std::string>();
      if (std::none_of(out.begin(), out.end(), [&](const ServeRequest& q) { return q.id == r.after; }))
        throw ConfigError(fmt::format("{}: \"after\": no earlier request has the id \"{}\"", at, r.after));
      if (j.contains("arrival_s"))
        throw ConfigError(fmt::format("{}: a follow-up (\"after\") arrives think_s after it, not at arrival_s", at));
      if (j.contains("think_s")) r.think_s = seconds("think_s");
    } else {
      if (!j.contains("arrival_s"))
        throw ConfigError(fmt::format("{}: \"arrival_s\" must be a number of seconds from 0 to {:g}", at, kMaxSeconds));
      if (j.contains("think_s")) throw ConfigError(fmt::format("{}: \"think_s\" needs \"after\"", at));
      r.arrival_s = seconds("arrival_s");
      for (auto q = out.rbegin(); q != out.rend(); ++q)
        if (q->after.empty()) {
          if (r.arrival_s < q->arrival_s)
            throw ConfigError(fmt::format("{}: arrival_s {} is before the previous request's {} (arrivals in order)",
                                          at, r.arrival_s, q->arrival_s));
          break;
        }
    }
    r.prompt_tokens = count("prompt_tokens", 1);
    r.output_tokens = count("output_tokens", 1);
    if (j.contains("id") && !j["id"].is_string()) throw ConfigError(fmt::format("{}: \"id\" must be a string", at));
    if (j.contains("session") && !j["session"].is_string())
      throw ConfigError(fmt::format("{}: \"session\" must be a string", at));
    r.id = j.value("id", fmt::format("r{}", out.size()));
    r.session = j.value("session", std::string());
    if (j.contains("turn")) r.turn = count("turn", 0);
    out.push_back(std::move(r));
  }
  if (out.empty()) throw ConfigError(fmt::format("{}: no requests", file.string()));
  return out;
}

ArrivalSpec parse_arrivals(const std::string& text) {
  const std::size_t colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  ArrivalSpec a;
  a.kind = kind;
  if (kind == "poisson" && colon != std::string::npos) {
    a.rate_per_s = number_after("poisson:RATE", text.substr(colon + 1), text);
    return a;
  }
  if (kind == "bursty" && colon != std::string::npos) {
    const std::size_t second = text.find(':', colon + 1);
    if (second == std::string::npos)
      throw ConfigError(fmt::format("--arrivals \"{}\": expected bursty:RATE:BURST", text));
    a.rate_per_s = number_after("bursty:RATE:BURST", text.substr(colon + 1, second - colon - 1), text);
    const double burst = number_after("bursty:RATE:BURST", text.substr(second + 1), text);
    if (burst != std::floor(burst) || burst > 1e6)
      throw ConfigError(fmt::format("--arrivals \"{}\": BURST must be a whole number of requests", text));
    a.burst = static_cast<int>(burst);
    return a;
  }
  throw ConfigError(fmt::format("--arrivals \"{}\": expected poisson:RATE or bursty:RATE:BURST", text));
}

TokenRange parse_token_range(const std::string& text, const std::string& option) {
  const std::size_t colon = text.find(':');
  auto value = [&](const std::string& s) {
    try {
      std::size_t used = 0;
      const long v = std::stol(s, &used);
      if (used == s.size() && v >= 1 && v <= 100000000) return static_cast<int>(v);
    } catch (const std::exception&) {
    }
    throw ConfigError(fmt::format("{} \"{}\": expected N or LO:HI, whole numbers from 1 to 100000000", option, text));
  };
  TokenRange r;
  r.lo = value(text.substr(0, colon));
  r.hi = colon == std::string::npos ? r.lo : value(text.substr(colon + 1));
  if (r.hi < r.lo) throw ConfigError(fmt::format("{} \"{}\": LO is above HI", option, text));
  return r;
}

std::vector<ServeRequest> generate_requests(const ArrivalSpec& arrivals, double duration_s, TokenRange prompt,
                                            TokenRange output, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<ServeRequest> out;
  const double group_rate = arrivals.rate_per_s / arrivals.burst;  // of arrival instants
  for (double t = -std::log1p(-unit(rng)) / group_rate; t < duration_s; t += -std::log1p(-unit(rng)) / group_rate)
    for (int i = 0; i < arrivals.burst; ++i) {
      ServeRequest r;
      r.id = fmt::format("r{}", out.size());
      r.arrival_s = t;
      r.prompt_tokens = uniform_tokens(rng, prompt);
      r.output_tokens = uniform_tokens(rng, output);
      out.push_back(std::move(r));
    }
  return out;
}

std::vector<ServeRequest> generate_agent_sessions(const AgentSpec& spec, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<ServeRequest> out;
  for (int a = 0; a < spec.agents; ++a) {
    const double start = unit(rng) * spec.start_spread_s;
    int context = 0;
    for (int turn = 0; turn < spec.turns; ++turn) {
      ServeRequest r;
      r.id = fmt::format("a{}t{}", a, turn);
      r.session = fmt::format("agent{}", a);
      r.turn = turn;
      r.prompt_tokens = context + uniform_tokens(rng, turn == 0 ? spec.first : spec.added);
      r.output_tokens = uniform_tokens(rng, spec.output);
      if (turn == 0) {
        r.arrival_s = start;
      } else {
        r.after = out.back().id;
        r.think_s = spec.think_lo_s + unit(rng) * (spec.think_hi_s - spec.think_lo_s);
      }
      context = r.prompt_tokens + r.output_tokens;
      out.push_back(std::move(r));
    }
  }
  return out;
}

ServeScenario load_serve_scenario(const fs::path& file, ServeOptions& options) {
  const ConfigNode root = parse_yaml_file(file);
  const MapReader r(root, "",
                    {"name", "description", "arrivals", "duration", "prompt_tokens", "output_tokens", "agents", "turns",
                     "first_prompt_tokens", "turn_tokens", "think_s", "start_spread_s", "seed", "slo", "policy",
                     "max_batch", "token_budget", "keep_sessions"});
  ServeScenario s;
  s.name = r.has("name") ? r.string("name") : file.stem().string();
  if (r.has("description")) r.string("description");
  auto range = [&](const char* key) {
    const ConfigNode& n = r.required(key, "N or \"LO:HI\" tokens");
    return parse_token_range(n.scalar, fmt::format("{}: {}", r.child_path(key), key));
  };
  const std::uint64_t seed = r.has("seed") ? static_cast<std::uint64_t>(r.integer("seed", 0, 1LL << 62)) : 1;
  if (r.has("arrivals") == r.has("agents"))
    r.fail(r.has("arrivals") ? "agents" : "arrivals", "a serving scenario has either arrivals or agents");
  if (r.has("arrivals")) {
    const ArrivalSpec a = parse_arrivals(r.string("arrivals"));
    const double duration = r.number("duration", 1e-3, 1e7);
    s.requests = generate_requests(a, duration, range("prompt_tokens"), range("output_tokens"), seed);
    s.traffic = fmt::format("{} for {} s, prompts {}, outputs {}, seed {}", r.string("arrivals"), duration,
                            r.required("prompt_tokens", "").scalar, r.required("output_tokens", "").scalar, seed);
  } else {
    AgentSpec a;
    a.agents = static_cast<int>(r.integer("agents", 1, 100000));
    a.turns = static_cast<int>(r.integer("turns", 1, 100000));
    a.first = range("first_prompt_tokens");
    a.added = range("turn_tokens");
    a.output = range("output_tokens");
    if (r.has("think_s")) {
      const MapReader think = r.map("think_s", {"lo", "hi"});
      a.think_lo_s = think.non_negative("lo", 1e7);
      a.think_hi_s = think.non_negative("hi", 1e7);
      if (a.think_hi_s < a.think_lo_s) think.fail("hi", "is below lo");
    }
    a.start_spread_s = r.has("start_spread_s") ? r.non_negative("start_spread_s", 1e7) : 0;
    s.requests = generate_agent_sessions(a, seed);
    s.traffic = fmt::format("{} agents x {} turns, first prompts {}, {} tokens added a turn, outputs {}, seed {}",
                            a.agents, a.turns, r.required("first_prompt_tokens", "").scalar,
                            r.required("turn_tokens", "").scalar, r.required("output_tokens", "").scalar, seed);
  }
  if (r.has("slo")) {
    const MapReader slo = r.map("slo", {"ttft", "tbt"});
    if (slo.has("ttft")) options.slo_ttft_s = slo.number("ttft", 1e-9, 1e7);
    if (slo.has("tbt")) options.slo_tbt_s = slo.number("tbt", 1e-9, 1e7);
  }
  if (r.has("policy")) {
    options.policy = r.string("policy");
    if (options.policy != "fcfs" && options.policy != "spf" && options.policy != "sequential")
      r.fail("policy", "expected fcfs, spf or sequential");
  }
  if (r.has("max_batch")) options.max_batch = static_cast<int>(r.integer("max_batch", 1, 100000));
  if (r.has("token_budget")) options.token_budget = static_cast<int>(r.integer("token_budget", 1, 10000000));
  if (r.has("keep_sessions")) options.keep_sessions = r.boolean("keep_sessions");
  return s;
}

StepCosts::StepCosts(ShapeSimulator simulate, bool context_matters)
    : simulate_(std::move(simulate)), context_matters_(context_matters) {}

ShapeCost StepCosts::shape(bool decode, int tokens, int context, int batch) {
  auto& memo = decode ? decode_ : prefill_;
  const auto key = std::make_pair(decode ? batch : tokens, context);
  if (auto it = memo.find(key); it != memo.end()) return it->second;
  return memo[key] = simulate_(decode, tokens, context, batch);
}

// Buckets: powers of two of the batch, of the chunk's tokens from 16 (fewer scale the 16-token
// chunk's time), and, for models with attention, of the context from 256 (a model without
// attention runs a step at the same cost whatever the context: one bucket, 256).
constexpr int kLowestContext = 256;
constexpr int kLowestChunk = 16;

StepCost StepCosts::interpolated(bool decode, int size, int context) {
  const int lowest = decode ? 1 : kLowestChunk;
  const double scale = size < lowest ? double(size) / lowest : 1.0;
  size = std::max(size, lowest);
  const auto [s0, s1] = buckets(size, lowest);
  const double ws = s1 == s0 ? 0 : double(size - s0) / double(s1 - s0);
  // (Each bucket in turn: the simulations run in a fixed order.)
  auto at_context = [&](int c) {
    const StepCost lo = shape(decode, decode ? 1 : s0, c, decode ? s0 : 1).step;
    return mix(lo, shape(decode, decode ? 1 : s1, c, decode ? s1 : 1).step, ws);
  };
  StepCost cost;
  if (!context_matters_) {
    cost = at_context(kLowestContext);
  } else {
    const int c = std::max(kLowestContext, context);
    const auto [c0, c1] = buckets(c, kLowestContext);
    const double wc = c1 == c0 ? 0 : double(c - c0) / double(c1 - c0);
    const StepCost lo = at_context(c0);
    cost = mix(lo, at_context(c1), wc);
  }
  return {cost.seconds * scale, cost.energy_j * scale};
}

StepCost StepCosts::decode(int batch, int context) { return interpolated(true, std::max(1, batch), context); }

StepCost StepCosts::prefill(int tokens, int context, bool last) {
  StepCost s = interpolated(false, tokens, context);
  if (last) {
    const StepCost logits = shape(false, kLowestChunk, kLowestContext, 1).logits;
    s.seconds += logits.seconds, s.energy_j += logits.energy_j;
  }
  return s;
}

double StepCosts::bucket_error(const std::vector<int>& batches, const std::vector<int>& chunks) {
  double worst = 0;
  for (const int b : batches) {
    const double exact = simulate_(true, 1, kLowestContext, b).step.seconds;
    worst = std::max(worst, std::abs(decode(b, kLowestContext).seconds / exact - 1));
  }
  for (const int n : chunks) {
    const double exact = simulate_(false, n, kLowestContext, 1).step.seconds;
    worst = std::max(worst, std::abs(interpolated(false, n, kLowestContext).seconds / exact - 1));
  }
  return worst;
}

ShapeSimulator simulated_shapes(const compiler::ModelSpec& model, const Profile& profile) {
  const bool attention = model.has_attention();
  return [model, profile, attention](bool decode, int tokens, int context, int batch) {
    compiler::Scenario scenario;
    scenario.name = "serve";
    scenario.batch = batch;
    PerformanceOptions options;
    if (decode) {
      // One step at `context` tokens: the decode phase's mean context over 2 generated tokens.
      scenario.prompt_tokens = context;
      scenario.generate_tokens = 2;
    } else {
      // The prompt in chunks of `tokens`, the prefill Program at `context` tokens before it
      // (a pure SSM's chunk costs the same at any context: one chunk, no context).
      const int before = attention ? context : 0;
      scenario.prompt_tokens = before + tokens;
      scenario.generate_tokens = 1;
      options.compile.prefill_chunk = tokens;
      options.compile.prefill_context = before;
    }
    // (Only the phases it reads: not a decode shape's prompt.)
    options.only_phases = decode ? std::vector<std::string>{"decode"} : std::vector<std::string>{"prefill", "logits"};
    const PerformanceRun run = run_performance(model, scenario, profile, options);
    ShapeCost cost;
    for (std::size_t i = 0; i < run.compiled.phases.size(); ++i) {
      const std::string& name = run.compiled.phases[i].name;
      const sim::SimResult& r = run.simulated.at(i);
      if (name == (decode ? "decode" : "prefill")) cost.step = {r.seconds, r.energy_j};  // one run
      if (name == "logits") cost.logits = {r.seconds, r.energy_j};
    }
    return cost;
  };
}

SessionMemory planned_session_memory(const compiler::ModelSpec& model, const Profile& profile) {
  // One plan of a 2-token context: its KV cache is exactly two tokens' worth, and the room it
  // leaves for states (the sessions that fit times a session's state) is what DRAM holds beside
  // the weights and the activations at any context (the activations are per chunk).
  compiler::Scenario scenario;
  scenario.prompt_tokens = 1;
  scenario.generate_tokens = 1;
  compiler::CompileOptions options;
  options.programs = false;
  const compiler::MemoryPlan plan = compiler::compile(model, scenario, profile, options).memory;
  SessionMemory m;
  if (profile.kernels) return m;  // an incumbent's memory is not planned: no limit
  m.fixed_bytes = double(plan.ssm_state_bytes_per_session);
  m.per_token_bytes = double(plan.kv_bytes_per_session) / std::max(1, plan.context);
  m.capacity_bytes = double(plan.sessions_in_dram) * double(plan.state_bytes_per_session);
  return m;
}

ServeResult serve(const std::vector<ServeRequest>& requests, StepCosts& costs, const ServeOptions& options) {
  ServeResult result;
  std::map<std::string, std::size_t> by_id;
  std::vector<std::vector<std::size_t>> followers(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    RequestRecord rec;
    rec.request = requests[i];
    result.requests.push_back(std::move(rec));
    const ServeRequest& r = requests[i];
    if (!r.after.empty()) {
      const auto it = by_id.find(r.after);
      if (it == by_id.end())
        throw ConfigError(fmt::format("request {}: after \"{}\": no earlier request has that id", r.id, r.after));
      followers[it->second].push_back(i);
    }
    if (!r.id.empty()) by_id[r.id] = i;
  }
  // Arrivals in time order (ties in input order); a follow-up enters once its turn before ends.
  using Arrival = std::pair<std::pair<double, std::size_t>, std::size_t>;
  std::priority_queue<Arrival, std::vector<Arrival>, std::greater<>> arrivals;
  for (std::size_t i = 0; i < requests.size(); ++i)
    if (requests[i].after.empty()) arrivals.push({{requests[i].arrival_s, i}, i});
  struct Running {
    std::size_t index;
    int prefilled = 0;
    double reserved = 0;   // state bytes held for its whole context
    double restore_s = 0;  // bringing its kept state back from host memory, in its first step
  };
  struct Kept {
    int context = 0;
    double bytes = 0, last_used = 0;
    bool in_host = false;
  };
  std::map<std::string, Kept> kept;  // idle sessions' states
  const SessionMemory& memory = options.memory;
  const bool sequential = options.policy == "sequential";
  const int most = sequential ? 1 : std::max(1, options.max_batch);
  std::deque<std::size_t> waiting;
  std::vector<Running> running;
  double resident = 0;  // running sessions' reservations and kept states on chip
  std::function<void(std::size_t, const std::string&)> drop = [&](std::size_t i, const std::string& why) {
    result.requests[i].dropped = why;
    for (const std::size_t f : followers[i]) drop(f, fmt::format("it follows {}, which was dropped", requests[i].id));
  };
  double t = arrivals.empty() ? 0 : arrivals.top().first.first;
  const double start = t;
  auto forget_host_copy = [&](Kept& k) {
    if (k.in_host) result.bytes_in_host -= k.bytes;
  };
  // Admits `i` when its state fits, spilling kept states (least recently used) to make room.
  auto admit = [&](std::size_t i) {
    const ServeRequest& r = requests[i];
    const double need = memory.bytes(r.prompt_tokens + r.output_tokens);
    if (need > memory.capacity_bytes) {
      drop(i, fmt::format("its state at {} tokens ({:.1f} MB) exceeds the {:.1f} MB the chip's memory holds for "
                          "states beside the weights",
                          r.prompt_tokens + r.output_tokens, need / 1e6, memory.capacity_bytes / 1e6));
      return true;
    }
    auto own = r.session.empty() ? kept.end() : kept.find(r.session);
    const double own_on_chip = own != kept.end() && !own->second.in_host ? own->second.bytes : 0;
    while (resident - own_on_chip + need > memory.capacity_bytes) {
      auto victim = kept.end();
      for (auto it = kept.begin(); it != kept.end(); ++it)
        if (!it->second.in_host && it != own &&
            (victim == kept.end() || it->second.last_used < victim->second.last_used))
          victim = it;
      if (victim == kept.end()) return false;  // the running sessions hold the memory: wait
      victim->second.in_host = true;
      resident -= victim->second.bytes;
      result.bytes_spilled += victim->second.bytes;
      result.bytes_in_host += victim->second.bytes;
    }
    Running run{i};
    if (own != kept.end() && own->second.context < r.prompt_tokens) {
      run.prefilled = own->second.context;
      result.tokens_reused += own->second.context;
      if (own->second.in_host) {
        ++result.cache_restores;
        result.bytes_restored += own->second.bytes;
        run.restore_s = own->second.bytes / options.host_link_bytes_per_s;
      } else {
        ++result.cache_hits;
      }
    } else {
      ++result.cache_misses;
    }
    if (own != kept.end()) {  // its state moves into the running reservation (or is superseded)
      if (own->second.in_host && run.restore_s == 0) result.bytes_discarded += own->second.bytes;
      forget_host_copy(own->second);
      resident -= own_on_chip;
      kept.erase(own);
    }
    run.reserved = need;
    resident += need;
    running.push_back(run);
    return true;
  };
  while (true) {
    while (!arrivals.empty() && arrivals.top().first.first <= t) {
      waiting.push_back(arrivals.top().second);
      arrivals.pop();
    }
    while (int(running.size()) < most && !waiting.empty()) {
      auto pick = waiting.begin();
      if (options.policy == "spf")
        pick = std::min_element(waiting.begin(), waiting.end(), [&](std::size_t a, std::size_t b) {
          return requests[a].prompt_tokens < requests[b].prompt_tokens;
        });
      const std::size_t i = *pick;
      if (!admit(i)) break;
      waiting.erase(pick);
    }
    if (running.empty()) {
      if (arrivals.empty()) {
        if (waiting.empty()) break;
        throw std::logic_error("serve: requests wait with nothing running");
      }
      t = std::max(t, arrivals.top().first.first);
      continue;
    }
    result.peak_sessions = std::max(result.peak_sessions, int(running.size()));
    // One step: a decode token for every session past its prompt, then prompt chunks in
    // admission order within the token budget (a restored state comes back first).
    StepCost step;
    std::vector<Running*> decoding;
    double context_sum = 0;
    for (Running& s : running)
      if (s.prefilled == requests[s.index].prompt_tokens) {
        decoding.push_back(&s);
        context_sum += requests[s.index].prompt_tokens + result.requests[s.index].tokens_out;
      }
    if (!decoding.empty()) {
      const StepCost d = costs.decode(int(decoding.size()), int(std::lround(context_sum / double(decoding.size()))));
      step.seconds += d.seconds, step.energy_j += d.energy_j;
    }
    std::vector<Running*> finished_prompt;
    int budget = std::max(1, options.token_budget);
    for (Running& s : running) {
      const int prompt = requests[s.index].prompt_tokens;
      if (s.prefilled == prompt || budget == 0) continue;
      step.seconds += s.restore_s;
      s.restore_s = 0;
      const int n = std::min(budget, prompt - s.prefilled);
      const StepCost c = costs.prefill(n, s.prefilled, s.prefilled + n == prompt);
      step.seconds += c.seconds, step.energy_j += c.energy_j;
      s.prefilled += n;
      budget -= n;
      if (s.prefilled == prompt) finished_prompt.push_back(&s);
    }
    t += step.seconds;
    result.busy_s += step.seconds;
    result.energy_j += step.energy_j;
    result.batch_sum += double(decoding.size());
    result.resident_byte_seconds += resident * step.seconds;
    result.peak_resident_bytes = std::max(result.peak_resident_bytes, resident);
    ++result.steps;
    auto emit = [&](RequestRecord& rec) {
      if (rec.tokens_out == 0) {
        rec.first_token_s = t;
      } else {
        const double gap = t - rec.finish_s;
        rec.gap_sum_s += gap;
        rec.max_gap_s = std::max(rec.max_gap_s, gap);
        result.gaps_s.push_back(gap);
      }
      rec.finish_s = t;  // the last token so far
      ++rec.tokens_out;
    };
    for (Running* s : decoding) emit(result.requests[s->index]);
    for (Running* s : finished_prompt) emit(result.requests[s->index]);
    std::erase_if(running, [&](const Running& s) {
      const RequestRecord& rec = result.requests[s.index];
      if (rec.tokens_out < rec.request.output_tokens) return false;
      resident -= s.reserved;
      const ServeRequest& r = requests[s.index];
      if (options.keep_sessions && !r.session.empty()) {
        auto [it, fresh] = kept.try_emplace(r.session);
        if (!fresh) {  // a newer turn of the session ended: its state supersedes the kept one
          if (it->second.in_host) result.bytes_discarded += it->second.bytes;
          forget_host_copy(it->second);
          if (!it->second.in_host) resident -= it->second.bytes;
        }
        const int context = r.prompt_tokens + r.output_tokens;
        it->second = Kept{context, memory.bytes(context), t, false};
        resident += it->second.bytes;
      }
      for (const std::size_t f : followers[s.index]) {
        result.requests[f].request.arrival_s = t + requests[f].think_s;  // when it is sent
        arrivals.push({{result.requests[f].request.arrival_s, f}, f});
      }
      return true;
    });
  }
  result.makespan_s = t - start;
  return result;
}

ordered_json serve_summary(const ServeResult& r, const ServeOptions& options) {
  std::vector<double> ttft, e2e, tbt_mean;
  std::int64_t asked = 0, out = 0, completed = 0, met = 0;
  ordered_json dropped = ordered_json::array();
  for (const RequestRecord& rec : r.requests) {
    asked += rec.request.output_tokens;
    out += rec.tokens_out;
    if (!rec.dropped.empty()) {
      dropped.push_back({{"id", rec.request.id}, {"reason", rec.dropped}});
      continue;
    }
    ++completed;
    ttft.push_back(rec.ttft_s());
    e2e.push_back(rec.e2e_s());
    tbt_mean.push_back(rec.mean_tbt_s());
    const bool ok = (options.slo_ttft_s <= 0 || rec.ttft_s() <= options.slo_ttft_s) &&
                    (options.slo_tbt_s <= 0 || rec.mean_tbt_s() <= options.slo_tbt_s);
    met += ok;
  }
  const double span = r.makespan_s > 0 ? r.makespan_s : 1;
  ordered_json j;
  j["requests"] = r.requests.size();
  j["completed"] = completed;
  j["dropped"] = dropped;
  j["tokens_asked"] = asked;
  j["tokens_out"] = out;
  j["policy"] = options.policy;
  j["max_batch"] = options.max_batch;
  j["token_budget"] = options.token_budget;
  j["steps"] = r.steps;
  j["peak_sessions"] = r.peak_sessions;
  j["mean_decode_batch"] = r.steps ? r.batch_sum / double(r.steps) : 0;
  j["makespan"] = figure(r.makespan_s, "s");
  j["busy"] = figure(r.busy_s, "s");
  j["throughput"] = figure(double(out) / span, "tokens/s");
  j["request_rate"] = figure(double(completed) / span, "requests/s");
  j["ttft"] = distribution(ttft);
  j["time_between_tokens"] = distribution(r.gaps_s);
  j["request_mean_time_between_tokens"] = distribution(tbt_mean);
  j["end_to_end"] = distribution(e2e);
  j["slo"] = {{"ttft", figure(options.slo_ttft_s, "s")},
              {"mean_time_between_tokens", figure(options.slo_tbt_s, "s")},
              {"attainment", completed ? double(met) / double(completed) : 0},
              {"goodput", figure(double(met) / span, "requests/s")}};
  const SessionMemory& m = options.memory;
  j["state_memory"] = {{"per_session_fixed", figure(m.fixed_bytes, "B")},
                       {"per_token", figure(m.per_token_bytes, "B")},
                       {"capacity", figure(m.capacity_bytes < 1e299 ? m.capacity_bytes : 0, "B")},
                       {"peak_resident", figure(r.peak_resident_bytes, "B")},
                       {"mean_resident", figure(r.busy_s > 0 ? r.resident_byte_seconds / r.busy_s : 0, "B")}};
  const double turns = double(r.cache_hits + r.cache_restores + r.cache_misses);
  j["state_cache"] = {{"keep_sessions", options.keep_sessions},
                      {"hits", r.cache_hits},
                      {"restores", r.cache_restores},
                      {"misses", r.cache_misses},
                      {"hit_rate", turns > 0 ? double(r.cache_hits + r.cache_restores) / turns : 0},
                      {"tokens_reused", r.tokens_reused},
                      {"bytes_spilled", figure(r.bytes_spilled, "B")},
                      {"bytes_restored", figure(r.bytes_restored, "B")},
                      {"bytes_in_host", figure(r.bytes_in_host, "B")},
                      {"bytes_discarded", figure(r.bytes_discarded, "B")},
                      {"host_link", figure(options.host_link_bytes_per_s, "B/s")}};
  j["energy"] = figure(r.energy_j, "J");
  j["energy_per_token"] = figure(out ? r.energy_j / double(out) : 0, "J/token");
  j["energy_per_request"] = figure(completed ? r.energy_j / double(completed) : 0, "J/request");
  j["average_power"] = figure(r.busy_s > 0 ? r.energy_j / span : 0, "W");
  return j;
}

std::string requests_csv(const ServeResult& r) {
  std::string csv =
      "id,session,turn,arrival_s,prompt_tokens,output_tokens,tokens_out,first_token_s,finish_s,ttft_s,"
      "mean_tbt_s,max_tbt_s,e2e_s,dropped\n";
  for (const RequestRecord& rec : r.requests) {
    const ServeRequest& q = rec.request;
    const bool served = rec.dropped.empty();
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_quoted(q.id), csv_quoted(q.session), q.turn,
                       q.arrival_s, q.prompt_tokens, q.output_tokens, rec.tokens_out, served ? rec.first_token_s : -1,
                       served ? rec.finish_s : -1, served ? rec.ttft_s() : -1, rec.mean_tbt_s(), rec.max_gap_s,
                       served ? rec.e2e_s() : -1, csv_quoted(rec.dropped));
  }
  return csv;
}

}  // namespace ssmsoc::host
