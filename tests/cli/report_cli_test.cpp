// `ssmsoc report` as a user opens it: the page of a real run and of a comparison rendered by
// headless Chromium (Debian's chromium, installed by scripts/setup.sh) with no console message,
// every chart drawn, the headline numbers in the DOM equal to summary.json's, and a
// screenshot; bad input is one line on stderr, exit 1, and no page.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <regex>

#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

struct Browser {
  int status = -1;
  std::string dom, log;
};

// Chromium, headless, on a file: its DOM after load (--dump-dom) or a screenshot, and its log
// (a console message is logged as "INFO:CONSOLE:LINE] \"TEXT\", source: ...").
Browser chromium(const fs::path& page, const std::string& mode) {
  const fs::path dir = test::temp_dir();
  const fs::path dom = dir / "dom.html", log = dir / "chromium.log", profile = dir / "chromium-profile";
  const std::string command = fmt::format(
      "timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars "
      "--user-data-dir={} --enable-logging=stderr --v=0 {} file://{} >{} 2>{}",
      profile.string(), mode, fs::absolute(page).string(), dom.string(), log.string());
  const int raw = std::system(command.c_str());
  return Browser{WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, test::slurp(dom), test::slurp(log)};
}

bool have_chromium() { return std::system("command -v chromium >/dev/null 2>&1") == 0; }

// Every <svg class="chart"> of the DOM holds marks; returns how many there are.
std::size_t drawn_charts(const std::string& dom) {
  std::size_t charts = 0;
  for (std::size_t at = dom.find("<svg class=\"chart\""); at != std::string::npos;
       at = dom.find("<svg class=\"chart\"", at + 1)) {
    const std::string svg = dom.substr(at, dom.find("</svg>", at) - at);
    EXPECT_TRUE(svg.find("<rect") != std::string::npos || svg.find("<polyline") != std::string::npos ||
                svg.find("<circle") != std::string::npos)
        << svg.substr(0, 200);
    ++charts;
  }
  return charts;
}

void expect_headline_equals_summary(const std::string& dom, std::size_t row, const fs::path& summary_file) {
  const nlohmann::json summary = nlohmann::json::parse(test::slurp(summary_file));
  const std::size_t from = dom.find(fmt::format("<tr data-run=\"{}\">", row));
  ASSERT_NE(from, std::string::npos);
  const std::string tr = dom.substr(from, dom.find("</tr>", from) - from);
  const std::regex cell(R"re(data-figure="([a-z_]+)" data-value="([^"]*)")re");
  int checked = 0;
  for (auto it = std::sregex_iterator(tr.begin(), tr.end(), cell); it != std::sregex_iterator(); ++it) {
    const std::string key = (*it)[1];
    if (!summary.contains(key)) continue;  // tokens_per_joule is derived
    EXPECT_EQ(std::stod((*it)[2]), summary[key]["value"].get<double>()) << key;
    ++checked;
  }
  EXPECT_GE(checked, 8);
}

TEST(ReportCommand, ARunsPageRendersInChromiumWithItsNumbers) {
  ASSERT_TRUE(have_chromium()) << "chromium is not installed: run scripts/setup.sh";
  const fs::path dir = test::fresh_folder("report-cli");
  const auto run = test::run_ssmsoc("run --profile krsna-mobile --model mamba-130m --prompt 128 --generate 4 --out " +
                                    (dir / "run").string() + " --trace " + (dir / "run/trace.json").string());
  ASSERT_EQ(run.status, 0) << run.err;
  const auto report = test::run_ssmsoc("report " + (dir / "run").string() + " --out " + (dir / "r.html").string());
  ASSERT_EQ(report.status, 0) << report.err;
  EXPECT_NE(report.out.find("wrote " + (dir / "r.html").string() + " and 5 tables beside it"), std::string::npos)
      << report.out;
  const Browser page = chromium(dir / "r.html", "--dump-dom");
  ASSERT_EQ(page.status, 0) << page.log;
  EXPECT_EQ(page.log.find(":CONSOLE"), std::string::npos) << page.log;
  EXPECT_GE(drawn_charts(page.dom), 12u);  // three phases: busy time, energy, roofline, timeline
  expect_headline_equals_summary(page.dom, 0, dir / "run/summary.json");
  // Each phase links its Perfetto trace, relative to the page.
  for (const char* phase : {"prefill", "logits", "decode"})
    EXPECT_NE(page.dom.find(fmt::format("href=\"run/trace.{}.json\"", phase)), std::string::npos) << phase;
  const Browser shot = chromium(dir / "r.html", "--window-size=1200,1600 --screenshot=" + (dir / "r.png").string());
  ASSERT_EQ(shot.status, 0) << shot.log;
  ASSERT_TRUE(fs::is_regular_file(dir / "r.png"));
  EXPECT_GT(fs::file_size(dir / "r.png"), 20000u);  // a drawn page, not a blank one
}

TEST(ReportCommand, AComparisonPageRendersEveryRunSideBySide) {
  ASSERT_TRUE(have_chromium()) << "chromium is not installed: run scripts/setup.sh";
  const fs::path dir = test::fresh_folder("report-compare");
  const auto compare = test::run_ssmsoc(
      "compare --model mamba-130m,pythia-160m --profiles krsna-mobile,krsna-wear --prompt 64 --generate 4 --out " +
      (dir / "cmp").string());
  ASSERT_EQ(compare.status, 0) << compare.err;
  const auto run = test::run_ssmsoc("run --profile krsna-wear --model mamba-130m --prompt 64 --generate 4 --out " +
                                    (dir / "run").string());
  ASSERT_EQ(run.status, 0) << run.err;
  const auto report = test::run_ssmsoc("report " + (dir / "run").string() + " " + (dir / "cmp").string() +
                                       " --title Compared --out " + (dir / "c.html").string());
  ASSERT_EQ(report.status, 0) << report.err;
  const Browser page = chromium(dir / "c.html", "--dump-dom");
  ASSERT_EQ(page.status, 0) << page.log;
  EXPECT_EQ(page.log.find(":CONSOLE"), std::string::npos) << page.log;
  EXPECT_NE(page.dom.find("<title>Compared</title>"), std::string::npos);
  EXPECT_NE(page.dom.find("id=\"comparison\""), std::string::npos);
  // The run and 2 models x 2 chips x 2 batches of the comparison: 9 headline rows.
  EXPECT_NE(page.dom.find("<tr data-run=\"8\">"), std::string::npos);
  EXPECT_EQ(page.dom.find("<tr data-run=\"9\">"), std::string::npos);
  expect_headline_equals_summary(page.dom, 0, dir / "run/summary.json");
  EXPECT_GE(drawn_charts(page.dom), 4u + 12u);
}

TEST(ReportCommand, BadInputIsOneLineAndWritesNoPage) {
  const fs::path dir = test::fresh_folder("report-bad-cli");
  const auto missing = test::run_ssmsoc("report " + (dir / "nothing").string() + " --out " + (dir / "r.html").string());
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(missing.err, (dir / "nothing").string() + ": no such file or folder\n");
  EXPECT_EQ(missing.out, "");
  EXPECT_FALSE(fs::exists(dir / "r.html"));
  const auto no_results = test::run_ssmsoc("report --out " + (dir / "r.html").string());
  EXPECT_NE(no_results.status, 0);
  EXPECT_FALSE(fs::exists(dir / "r.html"));
}

}  // namespace
}  // namespace ssmsoc
