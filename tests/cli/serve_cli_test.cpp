// `ssmsoc serve` as a user runs it: a request file served on the simulated chip, the outputs
// byte for byte the same on a second run, and bad input refused in one line.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ServeCommand, ServesARequestFileAndWritesTheSameBytesTwice) {
  const fs::path requests =
      test::write_file("chat.jsonl", R"({"id": "a", "arrival_s": 0, "prompt_tokens": 300, "output_tokens": 6}
{"id": "b", "arrival_s": 0.002, "prompt_tokens": 40, "output_tokens": 4, "session": "s, one", "turn": 1}
{"arrival_s": 0.2, "prompt_tokens": 20, "output_tokens": 1}
)");
  const std::string args = "serve --profile krsna-mobile --model mamba-130m --requests " + requests.string() +
                           " --slo ttft=0.05,tbt=0.01 --no-bucket-check --out ";
  const fs::path first = test::temp_dir() / "serve1", second = test::temp_dir() / "serve2";
  const auto run = test::run_ssmsoc(args + first.string());
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("3 requests, 3 completed, 0 dropped; 11 tokens out of 11 asked"), std::string::npos)
      << run.out;
  const auto summary = nlohmann::json::parse(slurp(first / "summary.json"));
  EXPECT_EQ(summary["tokens_out"], 11);
  EXPECT_GT(summary["ttft"]["p50"].get<double>(), 0);
  EXPECT_GE(summary["slo"]["attainment"].get<double>(), 0);
  EXPECT_GT(summary["step_shapes_simulated"].get<int>(), 2);
  const std::string csv = slurp(first / "requests.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
  EXPECT_NE(csv.find("\"b\",\"s, one\",1,0.002,40,4,4,"), std::string::npos) << csv;
  ASSERT_EQ(test::run_ssmsoc(args + second.string()).status, 0);
  EXPECT_EQ(slurp(second / "summary.json"), slurp(first / "summary.json"));
  EXPECT_EQ(slurp(second / "requests.csv"), csv);
}

TEST(ServeCommand, RefusesBadInputInOneLineAndWritesNothing) {
  const fs::path out = test::temp_dir() / "serve-bad";
  const std::string base = "serve --profile krsna-mobile --model mamba-130m --out " + out.string() + " ";
  const fs::path bad = test::write_file("bad.jsonl",
                                        "{\"arrival_s\": 0, \"prompt_tokens\": 5, \"output_tokens\": 1}\n"
                                        "{\"arrival_s\": 0, \"prompt_tokens\": \"5\", \"output_tokens\": 1}\n");
  struct Case {
    std::string args, message;
  };
  for (const Case& c : std::vector<Case>{
           {"--requests " + bad.string(), "bad.jsonl:2: \"prompt_tokens\" must be an integer"},
           {"--arrivals poisson:2", ""},  // with --requests too, below
           {"--arrivals fast:2", "expected poisson:RATE or bursty:RATE:BURST"},
           {"--arrivals poisson:2 --slo ttft=soon", "--slo \"ttft=soon\""},
           {"--arrivals poisson:2 --policy lifo", "--policy \"lifo\": expected fcfs, spf or sequential"},
           {"--arrivals poisson:2 --prompt-tokens 10:5", "--prompt-tokens \"10:5\": LO is above HI"},
           {"--scenario chitchat", "--scenario \"chitchat\": no such serving scenario (shipped: "},
           {"--arrivals poisson:0.001 --duration 1", "no request arrives; a higher rate or a longer duration"},
       }) {
    if (c.message.empty()) {
      const auto both = test::run_ssmsoc(base + c.args + " --requests " + bad.string());
      EXPECT_EQ(both.status, 1);
      EXPECT_NE(both.err.find("give one of --scenario NAME, --requests FILE.jsonl or --arrivals"), std::string::npos)
          << both.err;
      continue;
    }
    const auto run = test::run_ssmsoc(base + c.args);
    EXPECT_EQ(run.status, 1) << c.args;
    EXPECT_NE(run.err.find(c.message), std::string::npos) << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  }
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace ssmsoc
