// The output-file helper every writer uses (arch/spec/output_file.hpp).
#include "arch/spec/output_file.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "arch/spec/config_tree.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

TEST(OutputFile, AppearsOnlyOnCommit) {
  const fs::path dir = test::fresh_folder("output-commit");
  {
    OutputFile file(dir / "a.txt");
    file.write("half");
    EXPECT_FALSE(fs::exists(dir / "a.txt"));
    EXPECT_EQ(test::entries(dir).size(), 1u);  // the temporary
    EXPECT_EQ(file.written_path().parent_path(), dir);
  }
  EXPECT_EQ(test::entries(dir), std::vector<std::string>{});  // abandoned: the temporary is removed
  OutputFile file(dir / "a.txt");
  file.write("whole");
  file.commit();
  EXPECT_EQ(test::slurp(dir / "a.txt"), "whole");
  EXPECT_EQ(test::entries(dir), std::vector<std::string>{"a.txt"});
}

TEST(OutputFile, ReplacesTheFileALinkPointsAtAndKeepsItsPermissions) {
  const fs::path dir = test::fresh_folder("output-link");
  std::ofstream(dir / "real.txt") << "old";
  fs::permissions(dir / "real.txt", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  fs::create_symlink(dir / "real.txt", dir / "link.txt");
  write_output_file(dir / "link.txt", "new");
  EXPECT_TRUE(fs::is_symlink(dir / "link.txt"));
  EXPECT_EQ(test::slurp(dir / "real.txt"), "new");
  EXPECT_EQ(fs::status(dir / "real.txt").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
}

TEST(OutputFiles, AllAppearOrNone) {
  const fs::path dir = test::fresh_folder("output-set");
  {
    OutputFiles outputs;
    outputs.add(dir / "a.txt").write("a");
    outputs.add(dir / "b.txt").write("b");
    const fs::path staged = outputs.stage(dir / "c.txt");
    write_output_file(staged, "c");
    EXPECT_NE(staged, dir / "c.txt");
  }  // never committed
  EXPECT_EQ(test::entries(dir), std::vector<std::string>{});

  OutputFiles outputs;
  outputs.add(dir / "a.txt").write("a");
  write_output_file(outputs.stage(dir / "c.txt"), "c");
  outputs.commit();
  EXPECT_EQ(test::entries(dir), (std::vector<std::string>{"a.txt", "c.txt"}));
  EXPECT_EQ(test::slurp(dir / "c.txt"), "c");
}

TEST(OutputFiles, AStagedFileNeverWrittenIsAnErrorNamingItsTarget) {
  const fs::path dir = test::fresh_folder("output-unwritten");
  OutputFiles outputs;
  outputs.add(dir / "a.txt").write("a");
  const fs::path staged = outputs.stage(dir / "b.txt");
  try {
    outputs.commit();
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind((dir / "b.txt").string() + ": cannot write: ", 0), 0u) << e.what();
  }
  EXPECT_EQ(outputs.naming_targets("x " + staged.string() + " y"), "x " + (dir / "b.txt").string() + " y");
}

TEST(OutputFile, AMissingFolderIsAOneLineError) {
  const fs::path target = test::temp_dir() / "no-such-folder" / "a.txt";
  try {
    write_output_file(target, "x");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), target.string() + ": cannot write: No such file or directory");
  }
}

}  // namespace
}  // namespace ssmsoc
