#include "arch/golden/safetensors.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <fstream>
#include <limits>
#include <set>
#include <stdexcept>
#include <utility>

#include "arch/numerics/numerics.hpp"
#include "arch/spec/config_tree.hpp"
#include "arch/spec/output_file.hpp"

namespace ssmsoc {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<DTypeInfo, kAllDTypes.size()> kDTypeInfo = {{{DType::f32, "F32", 4},
                                                                  {DType::f16, "F16", 2},
                                                                  {DType::bf16, "BF16", 2},
                                                                  {DType::f64, "F64", 8},
                                                                  {DType::i64, "I64", 8},
                                                                  {DType::i32, "I32", 4},
                                                                  {DType::i16, "I16", 2},
                                                                  {DType::i8, "I8", 1},
                                                                  {DType::u8, "U8", 1},
                                                                  {DType::boolean, "BOOL", 1}}};

static_assert(
    [] {
      for (std::size_t i = 0; i < kDTypeInfo.size(); ++i)
        if (static_cast<std::size_t>(kDTypeInfo[i].dtype) != i) return false;
      return true;
    }(),
    "kDTypeInfo must follow the order of DType: info() indexes it by the enum's value");

const DTypeInfo& info(DType dtype) { return kDTypeInfo[static_cast<std::size_t>(dtype)]; }

// The official reader's limit too: a longer header is garbage, not a model.
constexpr std::uint64_t kMaxHeaderBytes = 100 * 1024 * 1024;
constexpr std::string_view kMetadataKey = "__metadata__";

// Byte by byte, so the file format does not depend on the host's byte order.
template <typename Bits>
Bits load_le(const std::byte* bytes) {
  Bits bits = 0;
  for (std::size_t i = 0; i < sizeof(Bits); ++i) bits |= static_cast<Bits>(std::to_integer<Bits>(bytes[i]) << (8 * i));
  return bits;
}

template <typename Bits>
void store_le(std::byte* bytes, Bits bits) {
  for (std::size_t i = 0; i < sizeof(Bits); ++i) bytes[i] = static_cast<std::byte>((bits >> (8 * i)) & 0xff);
}

std::optional<std::int64_t> checked_element_count(const std::vector<std::int64_t>& shape) {
  std::int64_t count = 1;
  for (std::int64_t dim : shape)
    if (dim < 0 || __builtin_mul_overflow(count, dim, &count)) return std::nullopt;
  return count;
}

std::optional<std::int64_t> checked_byte_size(DType dtype, const std::vector<std::int64_t>& shape) {
  const auto count = checked_element_count(shape);
  std::int64_t bytes = 0;
  if (!count || __builtin_mul_overflow(*count, static_cast<std::int64_t>(dtype_size(dtype)), &bytes))
    return std::nullopt;
  return bytes;
}

// "F32[2, 3]"
std::string type_text(DType dtype, const std::vector<std::int64_t>& shape) {
  return fmt::format("{}[{}]", dtype_name(dtype), fmt::join(shape, ", "));
}

// Shifts right by `shift` (1 to 31) bits, rounding to nearest, ties to even.
// Calls `visit` with each element in its natural C++ type (F16 and BF16 widened to float).
template <typename Visit>
void visit_elements(const Tensor& tensor, Visit&& visit) {
  const auto bytes = checked_byte_size(tensor.dtype, tensor.shape);
  if (!bytes || static_cast<std::uint64_t>(*bytes) != tensor.data.size())
    throw std::invalid_argument(
        fmt::format("a {} tensor holding {} bytes of data", type_text(tensor.dtype, tensor.shape), tensor.data.size()));
  const std::size_t size = dtype_size(tensor.dtype);
  for (const std::byte* at = tensor.data.data(); at != tensor.data.data() + tensor.data.size(); at += size) {
    switch (tensor.dtype) {
      case DType::f32:
        visit(std::bit_cast<float>(load_le<std::uint32_t>(at)));
        break;
      case DType::f16:
        visit(numerics::f16_to_f32(load_le<std::uint16_t>(at)));
        break;
      case DType::bf16:
        visit(numerics::bf16_to_f32(load_le<std::uint16_t>(at)));
        break;
      case DType::f64:
        visit(std::bit_cast<double>(load_le<std::uint64_t>(at)));
        break;
      case DType::i64:
        visit(std::bit_cast<std::int64_t>(load_le<std::uint64_t>(at)));
        break;
      case DType::i32:
        visit(std::bit_cast<std::int32_t>(load_le<std::uint32_t>(at)));
        break;
      case DType::i16:
        visit(std::bit_cast<std::int16_t>(load_le<std::uint16_t>(at)));
        break;
      case DType::i8:
        visit(std::bit_cast<std::int8_t>(load_le<std::uint8_t>(at)));
        break;
      case DType::u8:
        visit(load_le<std::uint8_t>(at));
        break;
      case DType::boolean:
        visit(static_cast<std::uint8_t>(load_le<std::uint8_t>(at) != 0));
        break;
    }
  }
}

Tensor empty_tensor(DType dtype, std::vector<std::int64_t> shape, std::size_t value_count, std::string_view factory) {
  Tensor tensor{dtype, std::move(shape), {}};
  const auto count = checked_element_count(tensor.shape);
  if (!count || static_cast<std::uint64_t>(*count) != value_count)
    throw std::invalid_argument(
        fmt::format("Tensor::{}: {} values for shape [{}]", factory, value_count, fmt::join(tensor.shape, ", ")));
  tensor.data.resize(value_count * dtype_size(dtype));
  return tensor;
}

// Reading.

[[noreturn]] void fail(const std::string& file, std::string_view place, std::string_view message) {
  throw ConfigError(fmt::format("{}: {}: {}", file, place, message));
}

// A name from the file, quoted, with control characters escaped so the message stays one line.
std::string quote_name(std::string_view name) {
  std::string text = "'";
  for (char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    text += byte < 0x20 || byte == 0x7f ? fmt::format("\\x{:02x}", byte) : std::string(1, c);
  }
  return text + "'";
}

// A JSON value for an error message: compact (so one line) and cut short.
std::string describe(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() <= 40 ? text : text.substr(0, 37) + "...";
}

std::string known_dtypes() {
  std::vector<std::string_view> names;
  for (const auto& dtype : kDTypeInfo) names.push_back(dtype.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

void read_exactly(std::ifstream& in, void* buffer, std::uint64_t size, const std::string& file,
                  std::string_view place) {
  if (!in.read(static_cast<char*>(buffer), static_cast<std::streamsize>(size)))
    fail(file, place, "the file ended early (did it change while being read?)");
}

// What follows the first `separator` in `text` (all of it when there is none).
std::string text_after(std::string_view text, std::string_view separator) {
  const auto at = text.find(separator);
  return std::string(at == std::string_view::npos ? text : text.substr(at + separator.size()));
}

json parse_header(const std::string& file, const std::string& text) {
  std::set<std::string> names;
  // A valid header nests three deep (header, tensor entry, shape): refusing deeper nesting as
  // it is parsed bounds the memory a hostile header can make the parser take. nlohmann::json
  // would silently keep only the last of two equal names.
  const auto check = [&](int depth, json::parse_event_t event, json& parsed) {
    const bool opens = event == json::parse_event_t::object_start || event == json::parse_event_t::array_start;
    if (opens && depth > 2) fail(file, "header", "nested deeper than a safetensors header can be");
    if (event == json::parse_event_t::key && depth == 1 && !names.insert(parsed.get<std::string>()).second)
      fail(file, "header", fmt::format("{} is given twice", quote_name(parsed.get<std::string>())));
    return true;
  };
  try {
    return json::parse(text, check);
  } catch (const json::parse_error& e) {
    // what() is "[json.exception.parse_error.N] parse error at line L, column C: DETAIL".
    fail(file, "header", fmt::format("not valid JSON at byte {}: {}", e.byte, text_after(e.what(), ": ")));
  } catch (const json::exception& e) {
    // A number too large for a double: "[json.exception.out_of_range.406] DETAIL".
    fail(file, "header", fmt::format("not valid JSON: {}", text_after(e.what(), "] ")));
  }
}

std::optional<std::uint64_t> as_unsigned(const json& value) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0) return value.get<std::int64_t>();
  return std::nullopt;
}

struct Entry {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin;
  std::uint64_t end;
};

std::string offsets_text(const Entry& entry) { return fmt::format("[{}, {}]", entry.begin, entry.end); }

Entry parse_entry(const std::string& file, const std::string& name, const json& value, std::uint64_t data_size) {
  const std::string place = fmt::format("header: tensor {}", quote_name(name));
  if (!value.is_object())
    fail(file, place, fmt::format("expected an object with dtype, shape and data_offsets, got {}", describe(value)));
  const auto field = [&](const char* key) -> const json& {
    const auto it = value.find(key);
    if (it == value.end()) fail(file, place, fmt::format("missing {}", key));
    return *it;
  };
  Entry entry{name, DType::f32, {}, 0, 0};

  const json& dtype = field("dtype");
  if (!dtype.is_string()) fail(file, place, fmt::format("dtype: expected a string, got {}", describe(dtype)));
  const auto known = dtype_from_name(dtype.get<std::string>());
  if (!known)
    fail(file, place,
         fmt::format("unknown dtype {} (known: {})", quote_name(dtype.get<std::string>()), known_dtypes()));
  entry.dtype = *known;

  const json& shape = field("shape");
  if (!shape.is_array())
    fail(file, place, fmt::format("shape: expected a list of dimensions, got {}", describe(shape)));
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const auto dim = as_unsigned(shape[i]);
    if (!dim || *dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      fail(file, place,
           fmt::format("shape[{}]: expected a non-negative 64-bit integer, got {}", i, describe(shape[i])));
    entry.shape.push_back(static_cast<std::int64_t>(*dim));
  }
  const auto bytes = checked_byte_size(entry.dtype, entry.shape);
  if (!bytes)
    fail(file, place,
         fmt::format("{} is too large: its byte count overflows 64 bits", type_text(entry.dtype, entry.shape)));

  const json& offsets = field("data_offsets");
  const auto begin = offsets.is_array() && offsets.size() == 2 ? as_unsigned(offsets[0]) : std::nullopt;
  const auto end = offsets.is_array() && offsets.size() == 2 ? as_unsigned(offsets[1]) : std::nullopt;
  if (!begin || !end)
    fail(file, place,
         fmt::format("data_offsets: expected [begin, end], two non-negative integers, got {}", describe(offsets)));
  entry.begin = *begin;
  entry.end = *end;
  if (entry.begin > entry.end)
    fail(file, place, fmt::format("data_offsets {}: begin is after end", offsets_text(entry)));
  if (entry.end > data_size)
    fail(file, place,
         fmt::format("data_offsets {}: end is beyond the {}-byte data section", offsets_text(entry), data_size));
  if (entry.end - entry.begin != static_cast<std::uint64_t>(*bytes))
    fail(file, place,
         fmt::format("data_offsets {} cover {} bytes but {} needs {}", offsets_text(entry), entry.end - entry.begin,
                     type_text(entry.dtype, entry.shape), *bytes));
  return entry;
}

std::map<std::string, std::string> parse_metadata(const std::string& file, const json& value) {
  const std::string place = fmt::format("header: {}", kMetadataKey);
  if (!value.is_object()) fail(file, place, fmt::format("expected an object of strings, got {}", describe(value)));
  std::map<std::string, std::string> metadata;
  for (const auto& [key, text] : value.items()) {
    if (!text.is_string())
      fail(file, fmt::format("{} {}", place, quote_name(key)),
           fmt::format("expected a string, got {}", describe(text)));
    metadata.emplace(key, text.get<std::string>());
  }
  return metadata;
}

// Sorts the entries by offset and checks that they tile the data section exactly, as the
// official reader does: no overlaps, no gaps, nothing after the last tensor.
void check_layout(const std::string& file, std::vector<Entry>& entries, std::uint64_t data_size) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return std::pair(a.begin, a.end) < std::pair(b.begin, b.end); });
  std::uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& entry : entries) {
    if (entry.begin < covered)
      fail(file, "header",
           fmt::format("tensors {} at {} and {} at {} overlap", quote_name(previous->name), offsets_text(*previous),
                       quote_name(entry.name), offsets_text(entry)));
    if (entry.begin > covered)
      fail(file, "data", fmt::format("bytes [{}, {}) belong to no tensor", covered, entry.begin));
    covered = entry.end;
    previous = &entry;
  }
  if (covered < data_size)
    fail(file, "data", fmt::format("bytes [{}, {}) at the end belong to no tensor", covered, data_size));
}

// Writing.

// A string as JSON text; the writer refuses names and metadata that are not UTF-8, which
// JSON cannot hold.
std::string json_string(const std::string& file, std::string_view text) {
  try {
    return json(text).dump();
  } catch (const json::type_error&) {
    throw ConfigError(fmt::format("{}: {} is not valid UTF-8", file, quote_name(text)));
  }
}

std::string header_text(const std::string& file, const SafetensorsFile& contents) {
  std::vector<std::string> items;
  if (!contents.metadata.empty()) {
    std::vector<std::string> pairs;
    for (const auto& [key, value] : contents.metadata)
      pairs.push_back(fmt::format("{}:{}", json_string(file, key), json_string(file, value)));
    items.push_back(fmt::format("\"{}\":{{{}}}", kMetadataKey, fmt::join(pairs, ",")));
  }
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : contents.tensors) {
    if (name == kMetadataKey) throw ConfigError(fmt::format("{}: a tensor cannot be named {}", file, kMetadataKey));
    const auto bytes = checked_byte_size(tensor.dtype, tensor.shape);
    if (!bytes || static_cast<std::uint64_t>(*bytes) != tensor.data.size())
      throw ConfigError(fmt::format("{}: tensor {}: {} cannot hold {} bytes of data", file, quote_name(name),
                                    type_text(tensor.dtype, tensor.shape), tensor.data.size()));
    // The official writer's key order: dtype, shape, data_offsets.
    items.push_back(fmt::format("{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                                json_string(file, name), dtype_name(tensor.dtype), fmt::join(tensor.shape, ","), offset,
                                offset + tensor.data.size()));
    offset += tensor.data.size();
  }
  std::string header = fmt::format("{{{}}}", fmt::join(items, ","));
  // Padding keeps the data section 8-byte aligned, as the official writer does.
  header.append((8 - header.size() % 8) % 8, ' ');
  return header;
}

// Unique among processes (pid) and among threads of this one (counter).
}  // namespace

std::string_view dtype_name(DType dtype) { return info(dtype).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& dtype : kDTypeInfo)
    if (dtype.name == name) return dtype.dtype;
  return std::nullopt;
}

std::size_t dtype_size(DType dtype) { return info(dtype).size; }

bool is_integer(DType dtype) {
  return dtype != DType::f32 && dtype != DType::f16 && dtype != DType::bf16 && dtype != DType::f64;
}

std::int64_t Tensor::element_count() const {
  const auto count = checked_element_count(shape);
  if (!count) throw std::invalid_argument(fmt::format("shape [{}] has no valid element count", fmt::join(shape, ", ")));
  return *count;
}

std::vector<float> Tensor::to_f32() const {
  std::vector<float> values;
  values.reserve(data.size() / dtype_size(dtype));
  visit_elements(*this, [&](auto value) { values.push_back(static_cast<float>(value)); });
  return values;
}

std::vector<std::int64_t> Tensor::to_i64() const {
  if (!is_integer(dtype)) throw std::invalid_argument(fmt::format("to_i64 on a {} tensor", dtype_name(dtype)));
  std::vector<std::int64_t> values;
  values.reserve(data.size() / dtype_size(dtype));
  visit_elements(*this, [&](auto value) {
    if constexpr (std::is_integral_v<decltype(value)>) values.push_back(value);
  });
  return values;
}

Tensor Tensor::from_f32(std::vector<std::int64_t> shape, const std::vector<float>& values, DType dtype) {
  if (is_integer(dtype)) throw std::invalid_argument(fmt::format("Tensor::from_f32 to {}", dtype_name(dtype)));
  Tensor tensor = empty_tensor(dtype, std::move(shape), values.size(), "from_f32");
  std::byte* at = tensor.data.data();
  for (float value : values) {
    if (dtype == DType::f32) store_le(at, std::bit_cast<std::uint32_t>(value));
    if (dtype == DType::f16) store_le(at, numerics::f32_to_f16(value));
    if (dtype == DType::bf16) store_le(at, numerics::f32_to_bf16(value));
    if (dtype == DType::f64) store_le(at, std::bit_cast<std::uint64_t>(static_cast<double>(value)));
    at += dtype_size(dtype);
  }
  return tensor;
}

Tensor Tensor::from_i64(std::vector<std::int64_t> shape, const std::vector<std::int64_t>& values, DType dtype) {
  if (!is_integer(dtype)) throw std::invalid_argument(fmt::format("Tensor::from_i64 to {}", dtype_name(dtype)));
  Tensor tensor = empty_tensor(dtype, std::move(shape), values.size(), "from_i64");
  const std::size_t size = dtype_size(dtype);
  const int bits = static_cast<int>(size) * 8;
  // The range of a `bits`-wide integer: signed except U8 and BOOL.
  const bool is_signed = dtype != DType::u8 && dtype != DType::boolean;
  const std::int64_t max = dtype == DType::boolean ? 1
                           : is_signed             ? std::numeric_limits<std::int64_t>::max() >> (64 - bits)
                                                   : (std::int64_t{1} << bits) - 1;
  const std::int64_t min = is_signed ? -max - 1 : 0;
  std::byte* at = tensor.data.data();
  for (std::int64_t value : values) {
    if (value < min || value > max)
      throw std::invalid_argument(fmt::format("Tensor::from_i64: {} does not fit in {}", value, dtype_name(dtype)));
    // Two's complement: the low `size` bytes of the value are its encoding.
    for (std::size_t i = 0; i < size; ++i)
      at[i] = static_cast<std::byte>((static_cast<std::uint64_t>(value) >> (8 * i)) & 0xff);
    at += size;
  }
  return tensor;
}

SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  const std::string file = path.string();
  // The size comes first: every length in the file is checked against it before anything
  // is allocated.
  std::error_code error;
  const std::uint64_t file_size = fs::file_size(path, error);
  if (error) throw ConfigError(fmt::format("{}: cannot read the file: {}", file, error.message()));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot open the file", file));
  if (file_size < 8)
    fail(file, "header", fmt::format("the file has {} bytes, too few for the 8-byte header length", file_size));

  std::array<std::byte, 8> length_bytes;
  read_exactly(in, length_bytes.data(), length_bytes.size(), file, "header");
  const auto header_size = load_le<std::uint64_t>(length_bytes.data());
  if (header_size > kMaxHeaderBytes)
    fail(file, "header", fmt::format("length {} is more than the 100 MiB a header may have", header_size));
  if (header_size > file_size - 8)
    fail(file, "header",
         fmt::format("length {} runs past the end of the file ({} bytes follow the length)", header_size,
                     file_size - 8));
  std::string text(header_size, '\0');
  read_exactly(in, text.data(), header_size, file, "header");

  const json header = parse_header(file, text);
  if (!header.is_object()) fail(file, "header", fmt::format("expected a JSON object, got {}", describe(header)));
  const std::uint64_t data_size = file_size - 8 - header_size;
  SafetensorsFile contents;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      contents.metadata = parse_metadata(file, value);
    } else {
      entries.push_back(parse_entry(file, name, value, data_size));
    }
  }
  check_layout(file, entries, data_size);

  // The entries are now in offset order and tile the data section, which starts right here.
  for (Entry& entry : entries) {
    Tensor tensor{entry.dtype, std::move(entry.shape), std::vector<std::byte>(entry.end - entry.begin)};
    read_exactly(in, tensor.data.data(), tensor.data.size(), file,
                 fmt::format("data: tensor {}", quote_name(entry.name)));
    contents.tensors.emplace(std::move(entry.name), std::move(tensor));
  }
  return contents;
}

namespace {

void write_with_header(OutputFile& out, const std::string& header, const SafetensorsFile& contents) {
  std::array<std::byte, 8> length_bytes;
  store_le<std::uint64_t>(length_bytes.data(), header.size());
  out.write(length_bytes.data(), length_bytes.size());
  out.write(header);
  for (const auto& [name, tensor] : contents.tensors) out.write(tensor.data.data(), tensor.data.size());
}

}  // namespace

void write_safetensors(OutputFile& out, const SafetensorsFile& contents) {
  write_with_header(out, header_text(out.target().string(), contents), contents);
}

void write_safetensors(const std::filesystem::path& path, const SafetensorsFile& contents) {
  const std::string header = header_text(path.string(), contents);  // a bad tensor: nothing touched
  OutputFile out(path);
  write_with_header(out, header, contents);
  out.commit();
}

}  // namespace ssmsoc
