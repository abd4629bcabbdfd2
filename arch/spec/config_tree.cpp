#include "arch/spec/config_tree.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <fmt/format.h>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_set>

namespace ssmsoc {

namespace {

std::string format_error(const SourcePos& pos, std::string_view key_path, std::string_view message) {
  std::string where = pos.line > 0 ? fmt::format("{}:{}:{}", pos.file, pos.line, pos.column) : pos.file;
  if (key_path.empty()) return fmt::format("{}: {}", where, message);
  return fmt::format("{}: {}: {}", where, key_path, message);
}

SourcePos position_of(const YAML::Mark& mark, const std::string& file, const SourcePos& fallback) {
  if (mark.line < 0) return fallback;  // yaml-cpp gives null marks to empty values
  return SourcePos{file, mark.line + 1, mark.column + 1};
}

ConfigNode convert(const YAML::Node& yaml, const std::string& file, const SourcePos& fallback,
                   const std::string& path) {
  ConfigNode node;
  // yaml-cpp places empty values at the end of the document: point at their key instead.
  node.pos = yaml.IsNull() ? fallback : position_of(yaml.Mark(), file, fallback);
  const std::string& tag = yaml.Tag();
  if (tag == "!replace" && yaml.IsMap()) {
    node.replace = true;
  } else if (tag == "tag:yaml.org,2002:str" && yaml.IsScalar()) {
    node.quoted = true;
  } else if (!tag.empty() && tag != "?" && tag != "!") {
    throw ConfigError(node.pos, path, fmt::format("unsupported tag '{}' (only !replace, on a mapping)", tag));
  }
  switch (yaml.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      node.kind = ConfigNode::Kind::null;
      break;
    case YAML::NodeType::Scalar:
      node.kind = ConfigNode::Kind::scalar;
      node.scalar = yaml.Scalar();
      node.quoted = node.quoted || tag == "!";
      break;
    case YAML::NodeType::Sequence:
      node.kind = ConfigNode::Kind::sequence;
      for (const auto& item : yaml)
        node.items.push_back(convert(item, file, node.pos, fmt::format("{}[{}]", path, node.items.size())));
      break;
    case YAML::NodeType::Map:
      node.kind = ConfigNode::Kind::map;
      // A set, not node.find: a file of many keys must not take quadratic time.
      std::unordered_set<std::string> keys;
      for (const auto& kv : yaml) {
        SourcePos key_pos = position_of(kv.first.Mark(), file, node.pos);
        if (!kv.first.IsScalar()) throw ConfigError(key_pos, path, "a mapping key must be a plain name");
        std::string key = kv.first.Scalar();
        std::string key_path = path.empty() ? key : fmt::format("{}.{}", path, key);
        if (!keys.insert(key).second) throw ConfigError(key_pos, key_path, "duplicate key (it is already given above)");
        node.entries.push_back(ConfigEntry{key, key_pos, convert(kv.second, file, key_pos, key_path)});
      }
      break;
  }
  return node;
}

// Aliases are refused: a few hundred bytes of nested aliases ("billion laughs") expand into
// gigabytes when the tree is copied out, and no configuration needs them.
class UnsupportedYamlRefuser : public YAML::EventHandler {
 public:
  UnsupportedYamlRefuser(std::string file, std::string_view text) : file_(std::move(file)), text_(text) {}
  // One document per file. Also what bounds the parse: on some malformed input (text after a
  // quoted scalar) yaml-cpp 0.7 starts document after document at the same place, forever.
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 1) return;
    const bool marked = mark.pos >= 0 && text_.substr(static_cast<std::size_t>(mark.pos)).starts_with("---");
    throw ConfigError(SourcePos{file_, mark.line + 1, mark.column + 1}, "",
                      marked ? "a second YAML document starts here; a configuration file holds one"
                             : "YAML syntax error: unexpected text after the value before it");
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    throw ConfigError(SourcePos{file_, mark.line + 1, mark.column + 1}, "",
                      "YAML aliases (*name) are not supported; write the value out");
  }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  std::string file_;
  std::string_view text_;
  int documents_ = 0;
};

// The place of the first byte that is not part of valid UTF-8, if any.
bool first_invalid_utf8(const std::string& text, int& line, int& column, unsigned& byte) {
  line = 1;
  column = 1;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool valid = length > 0 && i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) valid = (static_cast<unsigned char>(text[i + k]) >> 6) == 0x2;
    // No overlong encodings, no surrogates, nothing past U+10FFFF (as a JSON library checks).
    if (valid && length == 2) valid = c >= 0xC2;
    if (valid && length >= 3) {
      const auto second = static_cast<unsigned char>(text[i + 1]);
      valid = !(c == 0xE0 && second < 0xA0) && !(c == 0xED && second > 0x9F) && !(c == 0xF0 && second < 0x90) &&
              !(c == 0xF4 && second > 0x8F) && c <= 0xF4;
    }
    if (!valid) {
      byte = c;
      return true;
    }
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += length;
  }
  return false;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words) out += (out.empty() ? "" : ", ") + word;
  return out;
}

}  // namespace

ConfigError::ConfigError(const SourcePos& pos, std::string_view key_path, std::string_view message)
    : std::runtime_error(format_error(pos, key_path, message)) {}

const ConfigEntry* ConfigNode::find_entry(std::string_view key) const {
  for (const auto& entry : entries)
    if (entry.key == key) return &entry;
  return nullptr;
}

const ConfigNode* ConfigNode::find(std::string_view key) const {
  const ConfigEntry* entry = find_entry(key);
  return entry ? &entry->value : nullptr;
}

std::string ConfigNode::describe() const {
  switch (kind) {
    case Kind::null:
      return "nothing";
    case Kind::scalar:
      return quoted ? fmt::format("the string \"{}\"", scalar) : fmt::format("'{}'", scalar);
    case Kind::sequence:
      return "a list";
    case Kind::map:
      return "a mapping";
  }
  return "?";
}

namespace {

ConfigNode parse_yaml_text(const std::string& name, const std::string& text) {
  int line = 0, column = 0;
  unsigned byte = 0;
  if (first_invalid_utf8(text, line, column, byte))
    throw ConfigError(SourcePos{name, line, column}, "", fmt::format("invalid UTF-8 (byte 0x{:02X})", byte));
  YAML::Node root;
  try {
    std::istringstream events(text);
    YAML::Parser parser(events);
    UnsupportedYamlRefuser refuser(name, text);
    while (parser.HandleNextDocument(refuser)) {
    }
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(SourcePos{name, e.mark.line + 1, e.mark.column + 1}, "",
                      fmt::format("YAML syntax error: {}", e.msg));
  }
  return convert(root, name, SourcePos{name, 1, 1}, "");
}

}  // namespace

ConfigNode parse_yaml_file(const std::filesystem::path& file) {
  const std::string name = file.string();
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot open the file", name));
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(file, ec);
  if (!ec && bytes > kMaxConfigFileBytes)
    throw ConfigError(fmt::format("{}: the file has {} bytes; a configuration file may have at most {} (4 MiB)", name,
                                  bytes, kMaxConfigFileBytes));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  // A process reads the same files again and again (a sweep loads its base profile for every
  // design point, its forked workers inheriting what the parent parsed): a file whose bytes are
  // those parsed last under its name is that tree again. One entry per name keeps the cache
  // bounded when a name is rewritten with new bytes (a fuzzer's input file).
  static std::mutex cache_mutex;
  static std::map<std::string, std::pair<std::string, ConfigNode>> cache;  // name -> (bytes, tree)
  {
    const std::lock_guard lock(cache_mutex);
    if (const auto it = cache.find(name); it != cache.end() && it->second.first == text) return it->second.second;
  }
  ConfigNode tree = parse_yaml_text(name, text);
  const std::lock_guard lock(cache_mutex);
  cache.insert_or_assign(name, std::make_pair(text, tree));
  return tree;
}

ConfigNode merge_config(ConfigNode base, const ConfigNode& overlay) {
  if (base.kind != ConfigNode::Kind::map || overlay.kind != ConfigNode::Kind::map || overlay.replace) return overlay;
  for (const auto& entry : overlay.entries) {
    auto it = std::find_if(base.entries.begin(), base.entries.end(),
                           [&](const ConfigEntry& e) { return e.key == entry.key; });
    if (entry.value.kind == ConfigNode::Kind::null) {
      if (it != base.entries.end()) base.entries.erase(it);
    } else if (it == base.entries.end()) {
      base.entries.push_back(entry);
    } else {
      it->value = merge_config(std::move(it->value), entry.value);
      it->key_pos = entry.key_pos;
    }
  }
  base.pos = overlay.pos;
  return base;
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& candidate : candidates) {
    std::size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

std::int64_t config_integer(const ConfigNode& node, const std::string& path, std::int64_t min, std::int64_t max) {
  auto expected = [&] { return fmt::format("expected an integer in {}..{}", min, max); };
  if (node.kind != ConfigNode::Kind::scalar || node.quoted)
    throw ConfigError(node.pos, path, fmt::format("{}, got {}", expected(), node.describe()));
  std::int64_t value = 0;
  const char* begin = node.scalar.data();
  const char* end = begin + node.scalar.size();
  if (begin != end && *begin == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end)
    throw ConfigError(node.pos, path, fmt::format("{}, got {}", expected(), node.describe()));
  if (value < min || value > max) throw ConfigError(node.pos, path, fmt::format("{}, got {}", expected(), value));
  return value;
}

namespace {

double parse_number(const ConfigNode& node, const std::string& path, std::string_view expected) {
  if (node.kind != ConfigNode::Kind::scalar || node.quoted)
    throw ConfigError(node.pos, path, fmt::format("{}, got {}", expected, node.describe()));
  double value = 0;
  const char* begin = node.scalar.data();
  const char* end = begin + node.scalar.size();
  if (begin != end && *begin == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end || !std::isfinite(value))
    throw ConfigError(node.pos, path, fmt::format("{}, got {}", expected, node.describe()));
  return value;
}

}  // namespace

double config_number(const ConfigNode& node, const std::string& path, double min_exclusive, double max) {
  std::string expected = fmt::format("expected a number greater than {} and at most {}", min_exclusive, max);
  double value = parse_number(node, path, expected);
  if (!(value > min_exclusive) || value > max)
    throw ConfigError(node.pos, path, fmt::format("{}, got {}", expected, node.scalar));
  return value;
}

std::size_t config_choice(const ConfigNode& node, const std::string& path, const std::vector<std::string_view>& names) {
  std::vector<std::string> options(names.begin(), names.end());
  if (node.kind == ConfigNode::Kind::scalar) {
    for (std::size_t i = 0; i < names.size(); ++i)
      if (node.scalar == names[i]) return i;
  }
  std::string message = fmt::format("expected one of {}, got {}", join(options), node.describe());
  if (node.kind == ConfigNode::Kind::scalar) {
    std::string suggestion = closest_match(node.scalar, options);
    if (!suggestion.empty()) message += fmt::format(" (did you mean '{}'?)", suggestion);
  }
  throw ConfigError(node.pos, path, message);
}

std::string config_string(const ConfigNode& node, const std::string& path) {
  if (node.kind != ConfigNode::Kind::scalar || node.scalar.empty())
    throw ConfigError(node.pos, path, fmt::format("expected a non-empty string, got {}", node.describe()));
  return node.scalar;
}

MapReader::MapReader(const ConfigNode& node, std::string path) : node_(node), path_(std::move(path)) {
  if (node.kind != ConfigNode::Kind::map)
    throw ConfigError(node.pos, path_, fmt::format("expected a mapping, got {}", node.describe()));
}

MapReader::MapReader(const ConfigNode& node, std::string path, std::initializer_list<std::string_view> allowed)
    : MapReader(node, std::move(path)) {
  std::vector<std::string> names(allowed.begin(), allowed.end());
  for (const auto& entry : node.entries) {
    if (std::find(names.begin(), names.end(), entry.key) != names.end()) continue;
    std::string suggestion = closest_match(entry.key, names);
    std::string message = suggestion.empty() ? fmt::format("unknown key; expected one of {}", join(names))
                                             : fmt::format("unknown key (did you mean '{}'?)", suggestion);
    throw ConfigError(entry.key_pos, child_path(entry.key), message);
  }
}

std::string MapReader::child_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
}

void MapReader::fail(std::string_view key, std::string_view message) const {
  const ConfigNode* value = node_.find(key);
  throw ConfigError(value ? value->pos : node_.pos, child_path(key), message);
}

void MapReader::fail_here(std::string_view message) const { throw ConfigError(node_.pos, path_, message); }

const ConfigNode& MapReader::required(std::string_view key, std::string_view expected) const {
  const ConfigNode* value = node_.find(key);
  if (value == nullptr) {
    std::string where = path_.empty() ? "the profile" : fmt::format("'{}'", path_);
    throw ConfigError(node_.pos, child_path(key), fmt::format("missing in {}; expected {}", where, expected));
  }
  return *value;
}

std::int64_t MapReader::integer(std::string_view key, std::int64_t min, std::int64_t max) const {
  return config_integer(required(key, fmt::format("an integer in {}..{}", min, max)), child_path(key), min, max);
}

double MapReader::number(std::string_view key, double min_exclusive, double max) const {
  return config_number(required(key, fmt::format("a number in ({}, {}]", min_exclusive, max)), child_path(key),
                       min_exclusive, max);
}

double MapReader::non_negative(std::string_view key, double max) const {
  std::string expected = fmt::format("a number in [0, {}]", max);
  const ConfigNode& node = required(key, expected);
  double value = parse_number(node, child_path(key), "expected " + expected);
  if (value < 0 || value > max)
    throw ConfigError(node.pos, child_path(key), fmt::format("expected {}, got {}", expected, node.scalar));
  return value;
}

bool MapReader::boolean(std::string_view key) const {
  const ConfigNode& node = required(key, "true or false");
  if (node.kind == ConfigNode::Kind::scalar && !node.quoted) {
    std::string lower = node.scalar;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "true") return true;
    if (lower == "false") return false;
  }
  throw ConfigError(node.pos, child_path(key), fmt::format("expected true or false, got {}", node.describe()));
}

std::string MapReader::string(std::string_view key) const {
  return config_string(required(key, "a string"), child_path(key));
}

std::int64_t MapReader::size_bytes(std::string_view key, std::int64_t min, std::int64_t max) const {
  std::string expected = fmt::format(
      "a size in bytes from {} to {} (an integer, or a number with B, KiB, "
      "MiB, GiB or TiB)",
      min, max);
  const ConfigNode& node = required(key, expected);
  auto bad = [&](std::string_view why) {
    throw ConfigError(node.pos, child_path(key), fmt::format("expected {}, got {}{}", expected, node.describe(), why));
  };
  if (node.kind != ConfigNode::Kind::scalar) bad("");
  std::string_view text = node.scalar;
  double amount = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), amount);
  if (ec != std::errc() || !std::isfinite(amount) || amount < 0) bad("");
  std::string_view unit(ptr, text.data() + text.size() - ptr);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  static const std::vector<std::pair<std::string_view, double>> units = {
      {"", 1.0}, {"B", 1.0}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}};
  auto unit_it = std::find_if(units.begin(), units.end(), [&](const auto& u) { return u.first == unit; });
  if (unit_it == units.end()) {
    if (unit == "KB" || unit == "MB" || unit == "GB" || unit == "TB" || unit == "kB")
      bad(" (decimal units are ambiguous: write KiB, MiB, GiB or TiB)");
    bad("");
  }
  double bytes = amount * unit_it->second;
  if (bytes != std::floor(bytes)) bad(" (not a whole number of bytes)");
  if (bytes < static_cast<double>(min) || bytes > static_cast<double>(max)) bad("");
  return static_cast<std::int64_t>(bytes);
}

MapReader MapReader::map(std::string_view key, std::initializer_list<std::string_view> allowed) const {
  std::string expected = "a mapping with keys ";
  for (auto name : allowed) expected += fmt::format("{}{}", expected.back() == ' ' ? "" : ", ", name);
  return MapReader(required(key, expected), child_path(key), allowed);
}

MapReader MapReader::free_map(std::string_view key) const {
  return MapReader(required(key, "a mapping"), child_path(key));
}

std::size_t MapReader::choice(std::string_view key, const std::vector<std::string_view>& names) const {
  std::vector<std::string> options(names.begin(), names.end());
  return config_choice(required(key, fmt::format("one of {}", join(options))), child_path(key), names);
}

}  // namespace ssmsoc
