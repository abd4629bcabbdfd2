#include "arch/spec/output_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "arch/spec/config_tree.hpp"

namespace ssmsoc {

namespace fs = std::filesystem;

namespace {

std::string reason(int error) { return std::strerror(error); }

}  // namespace

fs::path temporary_path_for(const fs::path& target) {
  static std::atomic<unsigned> counter = 0;
  return target.parent_path() / fmt::format(".{}.{}-{}.tmp", target.filename().string(), getpid(), counter++);
}

OutputFile::OutputFile(const fs::path& target) : named_(target), target_(target) {
  struct stat existing {};
  const bool exists = ::stat(target.c_str(), &existing) == 0;
  if (exists && !S_ISREG(existing.st_mode)) {
    // A device, FIFO or folder is never replaced: write through it (a folder fails to open).
    fd_ = ::open(target.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) fail("cannot write", errno);
    return;
  }
  std::error_code ignored;
  if (exists && fs::is_symlink(target, ignored)) target_ = fs::canonical(target, ignored);
  if (target_.empty()) target_ = target;
  temporary_ = temporary_path_for(target_);
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    const int error = errno;
    temporary_.clear();
    fail("cannot write", error);
  }
  // A replaced file keeps its permissions.
  if (exists) (void)::fchmod(fd_, existing.st_mode & 07777);
}

OutputFile::OutputFile(OutputFile&& other) noexcept
    : named_(std::move(other.named_)),
      target_(std::move(other.target_)),
      temporary_(std::move(other.temporary_)),
      fd_(std::exchange(other.fd_, -1)),
      committed_(std::exchange(other.committed_, true)) {
  other.temporary_.clear();
}

OutputFile::~OutputFile() {
  close_file();
  if (!committed_ && !temporary_.empty()) ::unlink(temporary_.c_str());
}

void OutputFile::close_file() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void OutputFile::fail(const char* what, int error) {
  close_file();
  if (!temporary_.empty()) ::unlink(temporary_.c_str());
  temporary_.clear();
  committed_ = true;  // nothing left to remove
  throw ConfigError(fmt::format("{}: {}: {}", named_.string(), what, reason(error)));
}

void OutputFile::write(const void* data, std::size_t bytes) {
  if (fd_ < 0) throw ConfigError(fmt::format("{}: cannot write: the file is already closed", named_.string()));
  const char* at = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t written = ::write(fd_, at, bytes);
    if (written < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", errno);
    }
    if (written == 0) fail("cannot write", ENOSPC);
    at += written;
    bytes -= static_cast<std::size_t>(written);
  }
}

void OutputFile::finish() {
  if (fd_ < 0) return;
  // Devices and FIFOs may not support fsync (EINVAL); their writes were checked one by one.
  if (::fsync(fd_) != 0 && !temporary_.empty()) fail("cannot write", errno);
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0 && errno != EINTR) fail("cannot write", errno);
}

void OutputFile::commit() {
  finish();
  if (!temporary_.empty() && !committed_) {
    if (::rename(temporary_.c_str(), target_.c_str()) != 0) fail("cannot put the file in place", errno);
  }
  committed_ = true;
}

OutputFiles::~OutputFiles() {
  for (const auto& [temporary, target] : staged_) ::unlink(temporary.c_str());
  files_.clear();  // their temporaries first, so that the folders can be empty
  for (auto folder = created_folders_.rbegin(); folder != created_folders_.rend(); ++folder)
    ::rmdir(folder->c_str());  // fails, harmlessly, where something else was put meanwhile
}

void OutputFiles::create_folder(const fs::path& folder) {
  std::vector<fs::path> missing;  // the folder and those of its parents that do not exist, deepest first
  std::error_code error;
  for (fs::path at = folder; !at.empty() && !fs::exists(at, error); at = at.parent_path()) {
    missing.push_back(at);
    if (at == at.parent_path()) break;
  }
  fs::create_directories(folder, error);
  if (error) throw ConfigError(fmt::format("{}: cannot create the folder: {}", folder.string(), error.message()));
  created_folders_.insert(created_folders_.end(), missing.rbegin(), missing.rend());
}

OutputFile& OutputFiles::add(const fs::path& target) { return files_.emplace_back(target); }

fs::path OutputFiles::stage(const fs::path& target) {
  struct stat existing {};
  if (::stat(target.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode)) return target;
  std::error_code ignored;
  fs::path resolved = fs::is_symlink(target, ignored) ? fs::canonical(target, ignored) : target;
  if (resolved.empty()) resolved = target;
  return staged_.emplace_back(temporary_path_for(resolved), resolved).first;
}

std::string OutputFiles::naming_targets(std::string message) const {
  for (const auto& [temporary, target] : staged_)
    for (auto at = message.find(temporary.string()); at != std::string::npos;
         at = message.find(temporary.string(), at + target.string().size()))
      message.replace(at, temporary.string().size(), target.string());
  return message;
}

void OutputFiles::commit() {
  for (OutputFile& file : files_) file.finish();
  for (const auto& [temporary, target] : staged_) {
    struct stat existing {};
    if (::stat(temporary.c_str(), &existing) != 0)
      throw ConfigError(fmt::format("{}: cannot write: {} ({})", target.string(), reason(errno), temporary.string()));
    if (::stat(target.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode))
      throw ConfigError(fmt::format("{}: not a regular file, so it is not replaced", target.string()));
  }
  // Every byte is on disk: only renames within each file's own folder are left.
  for (OutputFile& file : files_) file.commit();
  for (auto& [temporary, target] : staged_) {
    if (::rename(temporary.c_str(), target.c_str()) != 0)
      throw ConfigError(fmt::format("{}: cannot put the file in place: {}", target.string(), reason(errno)));
    temporary.clear();
  }
  files_.clear();
  staged_.clear();
  created_folders_.clear();
}

void write_output_file(const fs::path& target, std::string_view contents) {
  OutputFile file(target);
  file.write(contents);
  file.commit();
}

}  // namespace ssmsoc
