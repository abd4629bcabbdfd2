// A YAML document as a plain tree in which every node remembers the file, line and
// column it came from, so that errors found long after parsing (range checks, cross-field
// rules, values inherited from a base profile) can still name their place.
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ssmsoc {

struct SourcePos {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
};

// An error in a configuration file. what() is one line:
// "FILE:LINE:COLUMN: KEY.PATH: what was expected".
class ConfigError : public std::runtime_error {
 public:
  ConfigError(const SourcePos& pos, std::string_view key_path, std::string_view message);
  explicit ConfigError(std::string message) : std::runtime_error(std::move(message)) {}
};

struct ConfigEntry;

struct ConfigNode {
  enum class Kind { null, scalar, sequence, map };
  Kind kind = Kind::null;
  std::string scalar;
  bool quoted = false;   // a quoted scalar is a string, never a number or a boolean
  bool replace = false;  // tagged !replace: replaces the base's mapping instead of merging
  std::vector<ConfigNode> items;
  std::vector<ConfigEntry> entries;  // in file order
  SourcePos pos;

  const ConfigNode* find(std::string_view key) const;
  const ConfigEntry* find_entry(std::string_view key) const;
  std::string describe() const;  // "the string \"x\"", "a mapping", ... for error messages
};

struct ConfigEntry {
  std::string key;
  SourcePos key_pos;
  ConfigNode value;
};

// The largest configuration file (profile, workload, scenario) parse_yaml_file reads.
inline constexpr std::uintmax_t kMaxConfigFileBytes = std::uintmax_t{4} << 20;

// Parses one YAML file. Syntax errors, duplicate keys, non-scalar keys, invalid UTF-8,
// aliases (*name) and files over kMaxConfigFileBytes are ConfigErrors.
ConfigNode parse_yaml_file(const std::filesystem::path& file);

// Overlays `overlay` on `base`: mappings merge key by key, recursively; anything else in
// the overlay replaces the base's value; a null in the overlay removes the base's key;
// a mapping tagged !replace replaces the base's mapping whole.
ConfigNode merge_config(ConfigNode base, const ConfigNode& overlay);

// Closest of `candidates` to `word` when it is a plausible misspelling, else empty.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

// Typed, range-checked access to one mapping. The constructor rejects every key that is
// not in `allowed`, suggesting the nearest allowed one, so a misspelt key is reported as
// such rather than as a missing key.
class MapReader {
 public:
  MapReader(const ConfigNode& node, std::string path, std::initializer_list<std::string_view> allowed);
  // A mapping with free-form keys (each key is checked by the caller).
  MapReader(const ConfigNode& node, std::string path);

  const std::string& path() const { return path_; }
  const ConfigNode& node() const { return node_; }
  std::string child_path(std::string_view key) const;

  bool has(std::string_view key) const { return node_.find(key) != nullptr; }
  const ConfigNode& required(std::string_view key, std::string_view expected) const;

  std::int64_t integer(std::string_view key, std::int64_t min, std::int64_t max) const;
  double number(std::string_view key, double min_exclusive, double max) const;
  double non_negative(std::string_view key, double max) const;
  bool boolean(std::string_view key) const;
  std::string string(std::string_view key) const;
  std::int64_t size_bytes(std::string_view key, std::int64_t min, std::int64_t max) const;
  MapReader map(std::string_view key, std::initializer_list<std::string_view> allowed) const;
  MapReader free_map(std::string_view key) const;
  // Index of the value in `names`, for enumerations.
  std::size_t choice(std::string_view key, const std::vector<std::string_view>& names) const;

  [[noreturn]] void fail(std::string_view key, std::string_view message) const;
  [[noreturn]] void fail_here(std::string_view message) const;

 private:
  const ConfigNode& node_;
  std::string path_;
};

// Scalar conversions used by MapReader, also for sequence items and free-form maps.
std::int64_t config_integer(const ConfigNode& node, const std::string& path, std::int64_t min, std::int64_t max);
double config_number(const ConfigNode& node, const std::string& path, double min_exclusive, double max);
std::size_t config_choice(const ConfigNode& node, const std::string& path, const std::vector<std::string_view>& names);
std::string config_string(const ConfigNode& node, const std::string& path);

}  // namespace ssmsoc
