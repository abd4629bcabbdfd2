// Every file ssmsoc writes goes through here, so that no output is ever left half-written and
// every failure is one line (a ConfigError) naming the file and the system's reason:
// "runs/a/stats.json: cannot write: No space left on device".
//
// A new file, or one that replaces a regular file, is written to a temporary file beside its
// target (".NAME.PID-N.tmp": the same folder, so the rename is atomic), flushed to disk
// (fsync) and renamed over the target only once complete; on any failure the temporary is
// removed and the target is untouched. A target that exists but is not a regular file (a
// device such as /dev/null or /dev/full, a FIFO) is never replaced: it is written through,
// every write checked (so /dev/full gives "No space left on device"); such a target cannot
// be all-or-nothing. A symbolic link to a regular file: the file it points at is replaced.
//
//   write_output_file("out/summary.json", text);  // one file
//
//   OutputFiles outputs;                           // several files: all appear, or none
//   outputs.add("out/summary.json").write(summary);
//   outputs.add("out/stats.json").write(stats);
//   outputs.commit();
#pragma once

#include <cstddef>
#include <deque>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ssmsoc {

// One output being written. Destroyed before commit(), it removes its temporary.
class OutputFile {
 public:
  // Opens the temporary (or, for a non-regular target, the target itself); ConfigError when
  // that fails (no such folder, no permission, a folder in the way).
  explicit OutputFile(const std::filesystem::path& target);
  OutputFile(OutputFile&& other) noexcept;
  OutputFile& operator=(OutputFile&&) = delete;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile();

  void write(const void* data, std::size_t bytes);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // Flushes to disk and closes: after it, only the rename is left (commit()).
  void finish();
  // finish(), then puts the file in place.
  void commit();

  // The path the user named (its link resolved).
  const std::filesystem::path& target() const { return target_; }
  // Where the bytes go until commit(): the temporary, or the target when written through.
  const std::filesystem::path& written_path() const { return temporary_.empty() ? target_ : temporary_; }

 private:
  [[noreturn]] void fail(const char* what, int error);
  void close_file();

  std::filesystem::path named_;      // as the user named it, for messages
  std::filesystem::path target_;     // where it ends up
  std::filesystem::path temporary_;  // empty when written through
  int fd_ = -1;
  bool committed_ = false;
};

// Several outputs that appear together: every one is written and flushed before the first is
// renamed into place, and an error (or destruction before commit()) removes every temporary.
class OutputFiles {
 public:
  OutputFiles() = default;
  OutputFiles(OutputFiles&&) noexcept = default;
  OutputFiles& operator=(OutputFiles&&) noexcept = default;
  ~OutputFiles();

  // Creates `folder` (and its parents) for outputs of the set; ConfigError naming it when that
  // fails. The folders it creates are removed again, when empty, unless the set is committed.
  void create_folder(const std::filesystem::path& folder);
  // A new output in the set, open for writing.
  OutputFile& add(const std::filesystem::path& target);
  // Where someone else (e.g. a simulation in a child process, with write_output_file) is to
  // write what becomes `target` with the rest: a fresh temporary beside it, or the target
  // itself when it is not a regular file (written through, as OutputFile does).
  std::filesystem::path stage(const std::filesystem::path& target);
  // `message` (an error of whoever wrote a staged file) with each temporary's name replaced by
  // its target's, so the user reads the file they named.
  std::string naming_targets(std::string message) const;
  // Writes every output's last bytes to disk, then renames each into place.
  void commit();
  bool empty() const { return files_.empty() && staged_.empty(); }

 private:
  std::deque<OutputFile> files_;  // a deque: add() keeps earlier references valid
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> staged_;  // (temporary, target)
  std::vector<std::filesystem::path> created_folders_;                           // deepest last
};

// Writes `contents` to `target` as one OutputFile (atomically, every write checked).
void write_output_file(const std::filesystem::path& target, std::string_view contents);

// A fresh temporary name beside `target`: ".NAME.PID-N.tmp" (unique within this process).
std::filesystem::path temporary_path_for(const std::filesystem::path& target);

}  // namespace ssmsoc
