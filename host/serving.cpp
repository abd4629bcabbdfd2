#include "host/serving.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <fstream>
#include <random>

#include "arch/spec/config_tree.hpp"
#include "host/performance_run.hpp"

namespace ssmsoc::host {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

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

// The power-of-two buckets around `x` (x >= 1): equal when x is one.
std::pair<int, int> buckets(int x, int lowest) {
  int lo = lowest;
  while (lo * 2 <= x) lo *= 2;
  return {lo, lo == x || x < lowest ? lo : lo * 2};
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
    static const char* kKeys[] = {"id", "arrival_s", "prompt_tokens", "output_tokens", "session", "turn"};
    for (const auto& [key, value] : j.items())
      if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys))
        throw ConfigError(fmt::format(
            "{}: unknown field \"{}\" (fields: id, arrival_s, prompt_tokens, output_tokens, session, turn)", at, key));
    auto count = [&](const char* key, int lo) {
      if (!j.contains(key) || !j[key].is_number_integer() || j[key].get<std::int64_t>() < lo ||
          j[key].get<std::int64_t>() > 100000000)
        throw ConfigError(fmt::format("{}: \"{}\" must be an integer from {} to 100000000", at, key, lo));
      return static_cast<int>(j[key].get<std::int64_t>());
    };
    ServeRequest r;
    if (!j.contains("arrival_s") || !j["arrival_s"].is_number() || !std::isfinite(j["arrival_s"].get<double>()) ||
        j["arrival_s"].get<double>() < 0)
      throw ConfigError(fmt::format("{}: \"arrival_s\" must be a number of seconds >= 0", at));
    r.arrival_s = j["arrival_s"].get<double>();
    if (!out.empty() && r.arrival_s < out.back().arrival_s)
      throw ConfigError(fmt::format("{}: arrival_s {} is before the previous request's {} (arrivals in order)", at,
                                    r.arrival_s, out.back().arrival_s));
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

StepCosts::StepCosts(ShapeSimulator simulate, bool context_matters)
    : simulate_(std::move(simulate)), context_matters_(context_matters) {}

ShapeCost StepCosts::shape(bool decode, int tokens, int batch) {
  if (decode) {
    const auto key = std::make_pair(batch, tokens);
    if (auto it = decode_.find(key); it != decode_.end()) return it->second;
    return decode_[key] = simulate_(true, tokens, batch);
  }
  if (auto it = prompt_.find(tokens); it != prompt_.end()) return it->second;
  return prompt_[tokens] = simulate_(false, tokens, 1);
}

// Decode buckets: powers of two of the batch; with attention, of the context from 256 (a
// model without attention decodes at the same cost whatever its context: one bucket, 256).
constexpr int kLowestContext = 256;
// Prompt buckets: powers of two from 16 tokens; fewer scale the 16-token prompt's time.
constexpr int kLowestPrompt = 16;

StepCost StepCosts::decode(int batch, int context) {
  const auto [b0, b1] = buckets(std::max(1, batch), 1);
  const double wb = b1 == b0 ? 0 : double(batch - b0) / double(b1 - b0);
  // (Each bucket in turn: the simulations run in a fixed order.)
  auto at_context = [&](int c) {
    const StepCost lo = shape(true, c, b0).step;
    return mix(lo, shape(true, c, b1).step, wb);
  };
  if (!context_matters_) return at_context(kLowestContext);
  const auto [c0, c1] = buckets(std::max(kLowestContext, context), kLowestContext);
  const double wc = c1 == c0 ? 0 : double(std::max(kLowestContext, context) - c0) / double(c1 - c0);
  const StepCost lo = at_context(c0);
  return mix(lo, at_context(c1), wc);
}

StepCost StepCosts::prompt_cost(int tokens) {
  if (tokens <= 0) return {};
  if (tokens < kLowestPrompt) {
    const StepCost s = shape(false, kLowestPrompt, 1).step;
    const double w = double(tokens) / kLowestPrompt;
    return {s.seconds * w, s.energy_j * w};
  }
  const auto [t0, t1] = buckets(tokens, kLowestPrompt);
  const double w = t1 == t0 ? 0 : double(tokens - t0) / double(t1 - t0);
  const StepCost lo = shape(false, t0, 1).step;
  return mix(lo, shape(false, t1, 1).step, w);
}

StepCost StepCosts::prefill(int tokens, int context, bool last) {
  const StepCost before = prompt_cost(context);
  const StepCost whole = prompt_cost(context + tokens);
  StepCost s{whole.seconds - before.seconds, whole.energy_j - before.energy_j};
  if (last) {
    const StepCost logits = shape(false, kLowestPrompt, 1).logits;
    s.seconds += logits.seconds, s.energy_j += logits.energy_j;
  }
  return s;
}

double StepCosts::bucket_error(const std::vector<int>& batches, const std::vector<int>& prompts) {
  double worst = 0;
  for (const int b : batches) {
    const double exact = simulate_(true, kLowestContext, b).step.seconds;
    worst = std::max(worst, std::abs(decode(b, kLowestContext).seconds / exact - 1));
  }
  for (const int p : prompts) {
    const double exact = simulate_(false, p, 1).step.seconds;
    worst = std::max(worst, std::abs(prompt_cost(p).seconds / exact - 1));
  }
  return worst;
}

ShapeSimulator simulated_shapes(const compiler::ModelSpec& model, const Profile& profile) {
  return [model, profile](bool decode, int tokens, int batch) {
    compiler::Scenario scenario;
    scenario.name = "serve";
    scenario.batch = batch;
    scenario.prompt_tokens = tokens;
    // decode: one step at `tokens` of context (the phase's mean over 2 generated tokens);
    // prefill: the prompt to its first token, no decode step.
    scenario.generate_tokens = decode ? 2 : 1;
    PerformanceOptions options;
    options.parallel = 1;  // one simulation at a time: serve memoizes many small ones
    const PerformanceRun run = run_performance(model, scenario, profile, options);
    // decode: the decode phase's one step; prefill: every prefill chunk, the logits apart.
    ShapeCost cost;
    for (std::size_t i = 0; i < run.compiled.phases.size(); ++i) {
      const compiler::PhaseProgram& p = run.compiled.phases[i];
      StepCost* into = p.name == "logits" ? &cost.logits : decode == (p.name == "decode") ? &cost.step : nullptr;
      if (!into) continue;
      into->seconds += p.runs * run.simulated.at(i).seconds;
      into->energy_j += p.runs * run.simulated.at(i).energy_j;
    }
    return cost;
  };
}

int simulated_session_limit(const compiler::ModelSpec& model, const Profile& profile, int context, int cap) {
  compiler::Scenario scenario;
  scenario.prompt_tokens = std::max(1, context - 1);
  scenario.generate_tokens = 1;
  compiler::CompileOptions options;
  options.programs = false;
  const compiler::CompileResult r = compiler::compile(model, scenario, profile, options);
  if (profile.kernels) return cap;  // an incumbent's memory is not planned
  return static_cast<int>(std::min<std::int64_t>(cap, r.memory.sessions_in_dram));
}

ServeResult serve(const std::vector<ServeRequest>& requests, StepCosts& costs, const ServeOptions& options) {
  ServeResult result;
  for (const ServeRequest& r : requests) {
    RequestRecord rec;
    rec.request = r;
    result.requests.push_back(std::move(rec));
  }
  struct Session {
    std::size_t index;
    int prefilled = 0;
  };
  const bool sequential = options.policy == "sequential";
  const int limit = sequential ? 1 : std::max(0, std::min(options.max_batch, options.max_sessions));
  std::vector<std::size_t> order(requests.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return requests[a].arrival_s < requests[b].arrival_s; });
  std::deque<std::size_t> waiting;
  std::vector<Session> running;
  std::size_t next = 0;
  double t = requests.empty() ? 0 : requests[order[0]].arrival_s;
  const double start = t;
  while (true) {
    for (; next < order.size() && requests[order[next]].arrival_s <= t; ++next) {
      RequestRecord& rec = result.requests[order[next]];
      if (limit == 0)
        rec.dropped = "the chip's memory holds no session's state beside the weights";
      else
        waiting.push_back(order[next]);
    }
    while (int(running.size()) < limit && !waiting.empty()) {
      auto pick = waiting.begin();
      if (options.policy == "spf")
        pick = std::min_element(waiting.begin(), waiting.end(), [&](std::size_t a, std::size_t b) {
          return requests[a].prompt_tokens < requests[b].prompt_tokens;
        });
      running.push_back(Session{*pick});
      waiting.erase(pick);
    }
    if (running.empty()) {
      if (next == order.size()) break;
      t = std::max(t, requests[order[next]].arrival_s);
      continue;
    }
    // One step: a decode token for every session past its prompt, then prompt chunks in
    // admission order within the token budget.
    StepCost step;
    std::vector<Session*> decoding;
    double context_sum = 0;
    for (Session& s : running)
      if (s.prefilled == requests[s.index].prompt_tokens) {
        decoding.push_back(&s);
        context_sum += requests[s.index].prompt_tokens + result.requests[s.index].tokens_out;
      }
    if (!decoding.empty()) {
      const StepCost d = costs.decode(int(decoding.size()), int(std::lround(context_sum / double(decoding.size()))));
      step.seconds += d.seconds, step.energy_j += d.energy_j;
    }
    std::vector<Session*> finished_prompt;
    int budget = std::max(1, options.token_budget);
    for (Session& s : running) {
      const int prompt = requests[s.index].prompt_tokens;
      if (s.prefilled == prompt || budget == 0) continue;
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
    for (Session* s : decoding) emit(result.requests[s->index]);
    for (Session* s : finished_prompt) emit(result.requests[s->index]);
    std::erase_if(running, [&](const Session& s) {
      const RequestRecord& rec = result.requests[s.index];
      return rec.tokens_out == rec.request.output_tokens;
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
  j["max_sessions"] = options.max_sessions;
  j["steps"] = r.steps;
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
  auto quoted = [](const std::string& text) {
    std::string q = "\"";
    for (const char c : text) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  for (const RequestRecord& rec : r.requests) {
    const ServeRequest& q = rec.request;
    const bool served = rec.dropped.empty();
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", quoted(q.id), quoted(q.session), q.turn,
                       q.arrival_s, q.prompt_tokens, q.output_tokens, rec.tokens_out, served ? rec.first_token_s : -1,
                       served ? rec.finish_s : -1, served ? rec.ttft_s() : -1, rec.mean_tbt_s(), rec.max_gap_s,
                       served ? rec.e2e_s() : -1, quoted(rec.dropped));
  }
  return csv;
}

}  // namespace ssmsoc::host
