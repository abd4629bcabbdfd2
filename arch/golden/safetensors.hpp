// Reading and writing safetensors files (https://github.com/huggingface/safetensors), the
// format of the reference kernels and model weights: an 8-byte little-endian header length
// N, N bytes of JSON header naming each tensor's dtype, shape and byte range, then the raw
// little-endian row-major data.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arch/spec/output_file.hpp"

namespace ssmsoc {

enum class DType { f32, f16, bf16, f64, i64, i32, i16, i8, u8, boolean };

inline constexpr std::array kAllDTypes = {DType::f32, DType::f16, DType::bf16, DType::f64, DType::i64,
                                          DType::i32, DType::i16, DType::i8,   DType::u8,  DType::boolean};

std::string_view dtype_name(DType dtype);  // the safetensors spelling: "F32", "BF16", "BOOL", ...
std::optional<DType> dtype_from_name(std::string_view name);
std::size_t dtype_size(DType dtype);  // bytes per element
bool is_integer(DType dtype);         // integers and BOOL, which to_i64 accepts

struct Tensor {
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;  // empty for a scalar
  std::vector<std::byte> data;      // element_count() * dtype_size(dtype) bytes, row-major, little-endian

  // The product of the dimensions. Throws std::invalid_argument on a negative dimension or
  // when the product overflows.
  std::int64_t element_count() const;

  // Every element as a float: exact from F32, F16 and BF16; F64 and large integers are
  // rounded to the nearest float; BOOL gives 0 or 1.
  std::vector<float> to_f32() const;
  // Every element of an integer (or BOOL) tensor; std::invalid_argument for a float dtype.
  std::vector<std::int64_t> to_i64() const;

  // A tensor of a float dtype (F32, F16, BF16 or F64) holding `values`, rounded to nearest
  // even where the dtype is narrower. std::invalid_argument when the value count does not
  // match the shape or the dtype is not a float one.
  static Tensor from_f32(std::vector<std::int64_t> shape, const std::vector<float>& values, DType dtype = DType::f32);
  // A tensor of an integer dtype (or BOOL) holding `values`; std::invalid_argument when a
  // value does not fit the dtype, the count does not match the shape or the dtype is a float one.
  static Tensor from_i64(std::vector<std::int64_t> shape, const std::vector<std::int64_t>& values,
                         DType dtype = DType::i64);
};

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;  // sorted by name, so writing is deterministic
  std::map<std::string, std::string> metadata;
};

// Reads and validates a whole file. Every malformed file is a ConfigError (config_tree.hpp)
// with a one-line message "FILE: PLACE: what is wrong".
SafetensorsFile read_safetensors(const std::filesystem::path& file);

// Writes tensors in name order with their data contiguous in that order, the header padded
// with spaces to a multiple of 8 bytes and "__metadata__" first when there is any metadata:
// the same content always gives the same bytes. The file is written as an OutputFile
// (arch/spec/output_file.hpp: a temporary renamed into place, so a failure never leaves a
// partial file; a device is written through). A tensor whose data does not match its shape,
// or a failure to write, is a ConfigError.
void write_safetensors(const std::filesystem::path& file, const SafetensorsFile& contents);
// The same into an output of a set (OutputFiles) that its caller commits.
void write_safetensors(OutputFile& out, const SafetensorsFile& contents);

}  // namespace ssmsoc
