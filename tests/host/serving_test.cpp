// Serving (host/serving.hpp): the scheduler against step costs written out by hand, so that
// every time it produces can be checked; the request files and generators; the buckets.
#include "host/serving.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>

#include "arch/spec/config_tree.hpp"
#include "tests/support.hpp"

namespace ssmsoc::host {
namespace {

// A chip whose decode step costs 10 ms + 1 ms per session (the weights once, each session's
// state), whose prefill chunk costs 0.1 ms a token and whose logits 2 ms; 1 J per second.
ShapeCost linear_chip(bool decode, int tokens, int /*context*/, int batch) {
  ShapeCost c;
  c.step.seconds = decode ? 0.010 + 0.001 * batch : 1e-4 * tokens;
  c.logits.seconds = 0.002;
  c.step.energy_j = c.step.seconds, c.logits.energy_j = c.logits.seconds;
  return c;
}

ServeRequest request(double arrival, int prompt, int output, const std::string& id = "") {
  ServeRequest r;
  r.id = id;
  r.arrival_s = arrival;
  r.prompt_tokens = prompt;
  r.output_tokens = output;
  return r;
}

TEST(Serve, TimesTwoRequestsAsWorkedByHand) {
  StepCosts costs(linear_chip, false);
  ServeOptions options;
  options.token_budget = 100;
  // a: 150 prompt tokens in two steps (100, then 50 + logits), then 2 more tokens; b arrives
  // during a's first step and joins at the second: its 20 tokens fit the budget left (50).
  const ServeResult r = serve({request(0, 150, 3, "a"), request(0.005, 20, 2, "b")}, costs, options);
  ASSERT_EQ(r.requests.size(), 2u);
  const RequestRecord& a = r.requests[0];
  const RequestRecord& b = r.requests[1];
  // Step 1: a's 100 tokens, 10 ms. Step 2: a's last 50 + b's 20 + two logits: 5 + 2 + 2 + 2 = 11 ms.
  EXPECT_NEAR(a.first_token_s, 0.021, 1e-12);
  EXPECT_NEAR(b.first_token_s, 0.021, 1e-12);
  // Step 3: both decode (12 ms): b done. Step 4: a alone (11 ms): a done.
  EXPECT_NEAR(b.finish_s, 0.033, 1e-12);
  EXPECT_NEAR(a.finish_s, 0.044, 1e-12);
  EXPECT_NEAR(a.max_gap_s, 0.012, 1e-12);
  EXPECT_NEAR(b.ttft_s(), 0.016, 1e-12);
  EXPECT_EQ(r.steps, 4u);
  EXPECT_NEAR(r.energy_j, 0.044, 1e-12);
  EXPECT_NEAR(r.makespan_s, 0.044, 1e-12);
}

TEST(Serve, EveryRequestCompletesWithTheTokensItAskedForAndTheSameSeedGivesTheSameBytes) {
  for (const std::string policy : {"fcfs", "spf", "sequential"})
    for (const std::uint64_t seed : {1u, 2u, 3u}) {
      SCOPED_TRACE(policy + " seed " + std::to_string(seed));
      const std::vector<ServeRequest> requests =
          generate_requests(parse_arrivals("poisson:20"), 5, {1, 700}, {1, 60}, seed);
      ASSERT_GT(requests.size(), 40u);
      ServeOptions options;
      options.policy = policy;
      options.max_batch = 8;
      options.token_budget = 256;
      StepCosts costs(linear_chip, false);
      const ServeResult r = serve(requests, costs, options);
      std::size_t gaps = 0;
      for (const RequestRecord& rec : r.requests) {
        EXPECT_TRUE(rec.dropped.empty());
        EXPECT_EQ(rec.tokens_out, rec.request.output_tokens) << rec.request.id;
        EXPECT_GE(rec.first_token_s, rec.request.arrival_s);
        EXPECT_GE(rec.finish_s, rec.first_token_s);
        gaps += std::size_t(rec.request.output_tokens - 1);
      }
      EXPECT_EQ(r.gaps_s.size(), gaps);
      EXPECT_NEAR(r.energy_j, r.busy_s, 1e-9);
      StepCosts again(linear_chip, false);
      const ServeResult second = serve(requests, again, options);
      EXPECT_EQ(requests_csv(second), requests_csv(r));
      EXPECT_EQ(serve_summary(second, options).dump(), serve_summary(r, options).dump());
    }
}

TEST(Serve, ContinuousBatchingServesALoadedStreamFasterThanOneRequestAtATime) {
  const std::vector<ServeRequest> requests =
      generate_requests(parse_arrivals("poisson:30"), 10, {32, 256}, {32, 128}, 5);
  ServeOptions batched, one;
  batched.max_batch = 32;
  one.policy = "sequential";
  StepCosts a(linear_chip, false), b(linear_chip, false);
  const ServeResult fast = serve(requests, a, batched), slow = serve(requests, b, one);
  // One at a time, a step carries one session's token at 11 ms; batched, up to 32 at 42 ms.
  EXPECT_LT(fast.makespan_s * 4, slow.makespan_s);
  EXPECT_GT(fast.batch_sum / double(fast.steps), 4.0);
  EXPECT_NEAR(slow.batch_sum / double(slow.steps), 1.0, 0.05);
}

TEST(Serve, ShortestPromptFirstAdmitsTheShortPromptAheadOfALongerOneThatArrivedFirst) {
  ServeOptions options;
  options.policy = "spf";
  options.max_batch = 1;
  StepCosts costs(linear_chip, false);
  // "busy" holds the chip; "long" then "short" wait; shortest first serves "short" next.
  const ServeResult r =
      serve({request(0, 10, 5, "busy"), request(0.001, 500, 1, "long"), request(0.002, 5, 1, "short")}, costs, options);
  EXPECT_LT(r.requests[2].first_token_s, r.requests[1].first_token_s);
  options.policy = "fcfs";
  StepCosts again(linear_chip, false);
  const ServeResult f =
      serve({request(0, 10, 5, "busy"), request(0.001, 500, 1, "long"), request(0.002, 5, 1, "short")}, again, options);
  EXPECT_GT(f.requests[2].first_token_s, f.requests[1].first_token_s);
}

TEST(Serve, ARequestWhoseStateNeverFitsIsDroppedWithItsReasonAndSoAreItsLaterTurns) {
  ServeOptions options;
  options.memory = SessionMemory{1000, 10, 1500};  // 1,000 B of state + 10 B per token of context
  StepCosts costs(linear_chip, false);
  ServeRequest big = request(0, 40, 20, "big"), next = request(0, 80, 5, "next"), small = request(1, 10, 5, "small");
  next.after = "big";
  const ServeResult r = serve({big, next, small}, costs, options);
  EXPECT_EQ(r.requests[0].tokens_out, 0);
  EXPECT_NE(r.requests[0].dropped.find("its state at 60 tokens (0.0 MB) exceeds"), std::string::npos)
      << r.requests[0].dropped;
  EXPECT_EQ(r.requests[1].dropped, "it follows big, which was dropped");
  EXPECT_EQ(r.requests[2].tokens_out, 5);  // 1,150 B: fits
  const auto summary = serve_summary(r, options);
  EXPECT_EQ(summary["completed"], 1);
  EXPECT_EQ(summary["dropped"].size(), 2u);
  EXPECT_EQ(summary["tokens_asked"], 30);
  EXPECT_EQ(summary["tokens_out"], 5);
}

TEST(Serve, AKeptSessionStatePrefillsOnlyTheNewTokensOfItsNextTurn) {
  ServeRequest first = request(0, 100, 3, "t0"), second = request(0, 400, 2, "t1");
  first.session = second.session = "chat";
  second.turn = 1;
  second.after = "t0";
  second.think_s = 0.5;
  for (const bool keep : {true, false}) {
    SCOPED_TRACE(keep);
    ServeOptions options;
    options.keep_sessions = keep;
    StepCosts costs(linear_chip, false);
    const ServeResult r = serve({first, second}, costs, options);
    // Turn 0: 100 tokens + logits (12 ms), 2 decode steps (22 ms): done at 34 ms. Turn 1
    // arrives 0.5 s later; kept, it prefills 400 - 103 = 297 tokens (29.7 + 2 ms), else 400.
    EXPECT_NEAR(r.requests[0].finish_s, 0.034, 1e-12);
    EXPECT_NEAR(r.requests[1].request.arrival_s, 0.534, 1e-12);  // sent think_s after the answer
    EXPECT_NEAR(r.requests[1].ttft_s(), keep ? 0.0317 : 0.042, 1e-12);
    EXPECT_EQ(r.cache_hits, keep ? 1u : 0u);
    EXPECT_EQ(r.cache_misses, keep ? 1u : 2u);
    EXPECT_DOUBLE_EQ(r.tokens_reused, keep ? 103 : 0);
  }
}

TEST(Serve, KeptStatesSpillToHostMemoryLeastRecentlyUsedFirstAndEveryByteIsAccountedFor) {
  // Room for the states of three sessions of at most 2,000 tokens (1 kB + 1 B a token each).
  ServeOptions options;
  options.memory = SessionMemory{1000, 1, 9000};
  options.host_link_bytes_per_s = 1e6;  // a slow link: a 2 kB restore costs 2 ms, visible
  AgentSpec agents;
  agents.agents = 6, agents.turns = 4;
  agents.first = {100, 300}, agents.added = {50, 200}, agents.output = {5, 40};
  agents.think_lo_s = 0.01, agents.think_hi_s = 0.4, agents.start_spread_s = 0.2;
  const std::vector<ServeRequest> requests = generate_agent_sessions(agents, 4);
  StepCosts costs(linear_chip, false);
  const ServeResult r = serve(requests, costs, options);
  for (const RequestRecord& rec : r.requests) EXPECT_EQ(rec.tokens_out, rec.request.output_tokens);
  EXPECT_GT(r.bytes_spilled, 0);
  EXPECT_GT(r.cache_restores, 0u);
  EXPECT_NEAR(r.bytes_spilled, r.bytes_restored + r.bytes_in_host + r.bytes_discarded, 1e-6);
  EXPECT_LE(r.peak_resident_bytes, options.memory.capacity_bytes);
  EXPECT_EQ(r.cache_hits + r.cache_restores + r.cache_misses, requests.size());
  EXPECT_EQ(r.cache_hits + r.cache_restores, 6u * 3u);  // every later turn finds its state somewhere
}

TEST(Serve, MemoryBoundsTheSessionsAtOnceAndAKvCacheBoundsThemHarderThanAFixedState) {
  const std::vector<ServeRequest> requests =
      generate_requests(parse_arrivals("bursty:100:50"), 3, {1000, 1000}, {20, 20}, 3);
  auto peak = [&](SessionMemory memory) {
    ServeOptions options;
    options.memory = memory;
    StepCosts costs(linear_chip, false);
    return serve(requests, costs, options).peak_sessions;
  };
  // A 26 kB state whatever the context, against 8 kB + 40 B a token (about 48 kB at 1,020).
  EXPECT_EQ(peak(SessionMemory{26000, 0, 26000 * 20}), 20);
  EXPECT_EQ(peak(SessionMemory{8000, 40, 26000 * 20}), 26000 * 20 / (8000 + 40 * 1020));
}

// What a session's state takes, from the memory plan: a transformer's KV cache per token (two
// tensors of hidden values per layer in bf16), an SSM's fixed states; the room for them
// whatever the context.
TEST(ServeMemory, ThePlanGivesAKvCacheItsBytesPerTokenAndAnSsmItsFixedState) {
  const Profile mobile = load_profile("krsna-mobile");
  const SessionMemory pythia = planned_session_memory(compiler::load_workload("pythia-160m"), mobile);
  EXPECT_DOUBLE_EQ(pythia.per_token_bytes, 2.0 * 12 * 768 * 2);
  const SessionMemory mamba = planned_session_memory(compiler::load_workload("mamba-130m"), mobile);
  EXPECT_EQ(mamba.per_token_bytes, 0.0);
  EXPECT_GT(mamba.fixed_bytes, 0.0);
  // Beside 0.3 GiB of weights, most of the 12 GiB holds states.
  EXPECT_GT(pythia.capacity_bytes, 11e9);
  EXPECT_LT(pythia.capacity_bytes, 12.0 * (1 << 30));
}

TEST(ServeRequests, AgentTurnsCarryTheirWholeContextAndFollowTheTurnBefore) {
  AgentSpec a;
  a.agents = 3, a.turns = 5;
  a.first = {1000, 2000}, a.added = {100, 300}, a.output = {10, 50};
  a.think_lo_s = 1, a.think_hi_s = 2;
  const std::vector<ServeRequest> r = generate_agent_sessions(a, 11);
  ASSERT_EQ(r.size(), 15u);
  std::map<std::string, const ServeRequest*> by_id;
  for (const ServeRequest& q : r) by_id[q.id] = &q;
  for (const ServeRequest& q : r) {
    if (q.turn == 0) {
      EXPECT_TRUE(q.after.empty());
      continue;
    }
    const ServeRequest& before = *by_id.at(q.after);
    EXPECT_EQ(before.session, q.session);
    EXPECT_EQ(before.turn + 1, q.turn);
    const int added = q.prompt_tokens - before.prompt_tokens - before.output_tokens;
    EXPECT_GE(added, 100);
    EXPECT_LE(added, 300);
    EXPECT_GE(q.think_s, 1);
    EXPECT_LE(q.think_s, 2);
  }
}

TEST(ServeScenarios, TheShippedOnesLoadAndABadKeyIsAnErrorWithItsPlace) {
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path("workloads/scenarios/serve"))) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    ServeOptions options;
    const ServeScenario s = load_serve_scenario(entry.path(), options);
    EXPECT_FALSE(s.requests.empty());
    EXPECT_GT(options.slo_ttft_s, 0);
    ++loaded;
  }
  EXPECT_GE(loaded, 4);
  ServeOptions options;
  const auto bad = test::write_file("bad-serve.yaml",
                                    "arrivals: poisson:1\nduration: 10\nprompt_tokens: 5\n"
                                    "output_tokens: 5\nmax_bacth: 3\n");
  try {
    load_serve_scenario(bad, options);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bad-serve.yaml:5"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("max_bacth"), std::string::npos) << e.what();
  }
  const auto both = test::write_file("both-serve.yaml", "arrivals: poisson:1\nagents: 3\n");
  EXPECT_THROW(load_serve_scenario(both, options), ConfigError);
}

TEST(StepCosts, InterpolateBetweenPowerOfTwoBucketsAndMeasureTheirError) {
  int calls = 0;
  // Quadratic in the batch: the interpolation overestimates between buckets (1, 2, 3, 4, 5, 6,
  // 7, 8, 10, 12 ...) by a known amount.
  StepCosts costs(
      [&](bool decode, int tokens, int /*context*/, int batch) {
        ++calls;
        ShapeCost c;
        c.step.seconds = decode ? 1.0 + 0.01 * batch * batch : 0.001 * tokens;
        return c;
      },
      false);
  EXPECT_DOUBLE_EQ(costs.decode(4, 999).seconds, 1.16);
  // 9 between the buckets 8 and 10: 1.64 + (2.00 - 1.64) / 2 = 1.82 against 1.81 exact.
  EXPECT_NEAR(costs.decode(9, 5).seconds, 1.82, 1e-12);
  EXPECT_EQ(costs.simulated(), 3u);  // batches 4, 8 and 10; one context bucket without attention
  EXPECT_NEAR(costs.prefill(100, 50, false).seconds, 0.1, 1e-12);  // linear: exact
  EXPECT_NEAR(costs.bucket_error({9}, {100}), 1.82 / 1.81 - 1, 1e-12);
  const int before = calls;
  costs.decode(9, 1);
  EXPECT_EQ(calls, before);  // memoized
}

TEST(StepCosts, ContextBucketsOnlyForModelsWithAttention) {
  std::vector<int> contexts;
  auto chip = [&](bool decode, int tokens, int context, int batch) {
    if (decode) contexts.push_back(context);
    return linear_chip(decode, tokens, context, batch);
  };
  StepCosts ssm(chip, false);
  ssm.decode(1, 100), ssm.decode(1, 5000);
  EXPECT_EQ(contexts, (std::vector<int>{256}));
  contexts.clear();
  StepCosts hybrid(chip, true);
  hybrid.decode(1, 3000);
  EXPECT_EQ(contexts, (std::vector<int>{2560, 3072}));
}

TEST(ServeRequests, AGeneratedStreamHasTheRateAndLengthsAsked) {
  const std::vector<ServeRequest> r = generate_requests(parse_arrivals("poisson:50"), 200, {10, 20}, {3, 3}, 9);
  EXPECT_NEAR(double(r.size()) / 200.0, 50.0, 50.0 * 0.05);
  for (const ServeRequest& q : r) {
    EXPECT_GE(q.prompt_tokens, 10);
    EXPECT_LE(q.prompt_tokens, 20);
    EXPECT_EQ(q.output_tokens, 3);
  }
  const std::vector<ServeRequest> bursts = generate_requests(parse_arrivals("bursty:40:4"), 100, {5, 5}, {1, 1}, 9);
  ASSERT_GE(bursts.size(), 4u);
  EXPECT_EQ(bursts.size() % 4, 0u);
  EXPECT_EQ(bursts[0].arrival_s, bursts[3].arrival_s);
  EXPECT_LT(bursts[3].arrival_s, bursts[4].arrival_s);
}

TEST(ServeRequests, BadInputIsOneLineNamingTheFileLineAndField) {
  auto error_of = [](const std::string& text) {
    const auto file = test::write_file("requests.jsonl", text);
    try {
      load_requests(file);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string ok = R"({"arrival_s": 0, "prompt_tokens": 5, "output_tokens": 2})";
  EXPECT_NE(error_of(ok + "\n{\"arrival_s\": 1, \"prompt_tokens\": 5\n").find("requests.jsonl:2: not a JSON object"),
            std::string::npos);
  EXPECT_NE(error_of(ok + "\n\n" + R"({"arrival_s": 1, "prompt_tokens": 0, "output_tokens": 2})")
                .find("requests.jsonl:3: \"prompt_tokens\" must be an integer from 1"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"arrival_s": 0, "prompt_tokens": 5, "output_tokens": 2, "prompt": "hi"})")
                .find(":1: unknown field \"prompt\""),
            std::string::npos);
  EXPECT_NE(error_of(R"({"arrival_s": 2, "prompt_tokens": 5, "output_tokens": 2})"
                     "\n"
                     R"({"arrival_s": 1, "prompt_tokens": 5, "output_tokens": 2})")
                .find(":2: arrival_s 1 is before the previous request's 2"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"prompt_tokens": 5, "output_tokens": 2})").find(":1: \"arrival_s\" must be"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"arrival_s": 1e308, "prompt_tokens": 5, "output_tokens": 2})")
                .find(":1: \"arrival_s\" must be a number of seconds from 0 to 1e+09"),
            std::string::npos);
  EXPECT_NE(error_of("\n").find("no requests"), std::string::npos);
  EXPECT_THROW(parse_arrivals("poisson:-3"), ConfigError);
  EXPECT_THROW(parse_arrivals("uniform:3"), ConfigError);
  EXPECT_THROW(parse_arrivals("bursty:3"), ConfigError);
  EXPECT_THROW(parse_token_range("9:3", "--prompt-tokens"), ConfigError);
  EXPECT_THROW(parse_token_range("x", "--prompt-tokens"), ConfigError);
  EXPECT_EQ(parse_token_range("7", "--output-tokens").hi, 7);
}

}  // namespace
}  // namespace ssmsoc::host
