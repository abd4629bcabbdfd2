// The nightly fidelity check (not part of the test suite): functional runs against the golden
// model on a larger seeded sample of random checkpoints (random_models.hpp, ModelSize::large:
// wider models, batches up to 3, prompts up to 40 tokens, up to 5 new tokens) than
// functional_vs_golden_test.cpp runs. One line per model; exit status 1 when any exceeds the
// float-rounding bound or generates other ids (a near tie in the golden logits excepted).
//
//   build/tests/functional_fidelity [--per-family N] [--first-seed S] [--family TYPE] [--profile P]
#include <fmt/format.h>

#include <cstdlib>
#include <exception>
#include <string>

#include "arch/spec/profile.hpp"
#include "tests/host/functional_fidelity.hpp"
#include "tests/host/random_models.hpp"

int main(int argc, char** argv) {
  using namespace ssmsoc;
  int per_family = 10;
  std::uint64_t first_seed = 1000;
  std::string only, profile_name = "krsna-dc";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) {
      fmt::print(stderr, "functional_fidelity: {} needs a value\n", arg);
      return 2;
    }
    const std::string value = argv[++i];
    if (arg == "--per-family") {
      per_family = std::atoi(value.c_str());
    } else if (arg == "--first-seed") {
      first_seed = std::strtoull(value.c_str(), nullptr, 10);
    } else if (arg == "--family") {
      only = value;
    } else if (arg == "--profile") {
      profile_name = value;
    } else {
      fmt::print(stderr, "functional_fidelity: unknown option {} (--per-family, --first-seed, --family, --profile)\n",
                 arg);
      return 2;
    }
  }
  const Profile profile = load_profile(profile_name);
  int failed = 0, run = 0;
  double worst = 0;
  for (ModelFamily family : test::random_model_families()) {
    if (!only.empty() && model_type_name(family) != only) continue;
    for (int k = 0; k < per_family; ++k) {
      const test::RandomModel m = test::random_model(family, first_seed + std::uint64_t(k), test::ModelSize::large);
      ++run;
      try {
        const test::Fidelity f = test::functional_fidelity(m, profile);
        worst = std::max({worst, f.forward_error / f.scale, f.generate_error / f.scale});
        failed += !f.passed();
        fmt::print("{} {}\n  {}\n", f.passed() ? "ok  " : "FAIL", test::describe(m), test::fidelity_text(f));
      } catch (const std::exception& e) {
        ++failed;
        fmt::print("FAIL {}\n  {}\n", test::describe(m), e.what());
      }
    }
  }
  fmt::print("{} models, {} failed; worst |Δlogits| / scale {:.2e}\n", run, failed, worst);
  return failed ? 1 : 0;
}
