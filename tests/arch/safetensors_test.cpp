// The safetensors reader and writer: round trips of every dtype, the exact bytes written,
// half and bfloat16 rounding, a file from the reference set, and one test per kind of
// corrupt file with the exact one-line error it must give.
#include "arch/golden/safetensors.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include "arch/numerics/numerics.hpp"
#include "arch/spec/config_tree.hpp"
#include "tests/support.hpp"

namespace ssmsoc {
namespace {

namespace fs = std::filesystem;

// Copied from the reference set (/work/shared/refdata/kernels); the values checked below
// were read from it independently with Python's struct and json modules.
const fs::path kKernelFile = fs::path(SSMSOC_TEST_DATA_DIR) / "safetensors" / "selective_scan_n1.safetensors";

std::string file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string little_endian_u64(std::uint64_t value) {
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

// A file of the given header length field, header text and data bytes.
fs::path raw_file(const std::string& name, std::uint64_t header_length, const std::string& header,
                  const std::string& data = "") {
  return test::write_file(name, little_endian_u64(header_length) + header + data);
}

// A file whose length field is right for `header`.
fs::path raw_file(const std::string& name, const std::string& header, const std::string& data = "") {
  return raw_file(name, header.size(), header, data);
}

std::string read_error(const fs::path& file) {
  try {
    read_safetensors(file);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(read without error)";
}

// The message must be exactly "FILE: rest", on one line.
void expect_read_error(const fs::path& file, const std::string& rest) {
  EXPECT_EQ(read_error(file), file.string() + ": " + rest);
}

std::uint32_t bits_of(float value) { return std::bit_cast<std::uint32_t>(value); }

SafetensorsFile one_of_each_dtype() {
  SafetensorsFile contents;
  // Values every dtype holds exactly, including the extremes of each integer type.
  const std::vector<float> floats = {0.0f, -0.0f, 1.0f, -2.5f, 0.15625f, 1024.0f};
  contents.tensors["f32"] = Tensor::from_f32({2, 3}, {1e-30f, -3.25f, 1e30f, 0.1f, 7.0f, -0.0f}, DType::f32);
  contents.tensors["f16"] = Tensor::from_f32({3, 2}, floats, DType::f16);
  contents.tensors["bf16"] = Tensor::from_f32({6}, floats, DType::bf16);
  contents.tensors["f64"] = Tensor::from_f32({1, 2}, {0.1f, -1e-40f}, DType::f64);
  contents.tensors["i64"] =
      Tensor::from_i64({3}, {std::numeric_limits<std::int64_t>::min(), -1, std::numeric_limits<std::int64_t>::max()});
  contents.tensors["i32"] = Tensor::from_i64({2}, {-2147483648, 2147483647}, DType::i32);
  contents.tensors["i16"] = Tensor::from_i64({2}, {-32768, 32767}, DType::i16);
  contents.tensors["i8"] = Tensor::from_i64({3}, {-128, 0, 127}, DType::i8);
  contents.tensors["u8"] = Tensor::from_i64({2}, {0, 255}, DType::u8);
  contents.tensors["bool"] = Tensor::from_i64({2, 1}, {1, 0}, DType::boolean);
  contents.tensors["scalar"] = Tensor::from_f32({}, {42.0f});
  contents.tensors["empty"] = Tensor::from_f32({0, 5}, {});
  contents.metadata = {{"kernel", "test"}, {"note", "quotes \" and\nnewlines survive"}};
  return contents;
}

TEST(SafetensorsDType, HasTheFormatsSpellingAndSize) {
  EXPECT_EQ(dtype_name(DType::bf16), "BF16");
  EXPECT_EQ(dtype_name(DType::boolean), "BOOL");
  EXPECT_EQ(dtype_size(DType::f64), 8u);
  EXPECT_EQ(dtype_size(DType::bf16), 2u);
  EXPECT_EQ(dtype_size(DType::boolean), 1u);
  for (DType dtype : kAllDTypes) EXPECT_EQ(dtype_from_name(dtype_name(dtype)), dtype);
  EXPECT_EQ(dtype_from_name("f32"), std::nullopt);
}

TEST(SafetensorsRoundTrip, KeepsEveryDTypesBytesAndValues) {
  const SafetensorsFile written = one_of_each_dtype();
  const fs::path file = test::temp_dir() / "every-dtype.safetensors";
  write_safetensors(file, written);
  const SafetensorsFile read = read_safetensors(file);

  EXPECT_EQ(read.metadata, written.metadata);
  ASSERT_EQ(read.tensors.size(), written.tensors.size());
  for (const auto& [name, tensor] : written.tensors) {
    SCOPED_TRACE(name);
    const Tensor& back = read.tensors.at(name);
    EXPECT_EQ(back.dtype, tensor.dtype);
    EXPECT_EQ(back.shape, tensor.shape);
    EXPECT_EQ(back.data, tensor.data);
    if (is_integer(tensor.dtype)) {
      EXPECT_EQ(back.to_i64(), tensor.to_i64());
    }
  }
  EXPECT_EQ(read.tensors.at("f16").to_f32(), (std::vector<float>{0.0f, -0.0f, 1.0f, -2.5f, 0.15625f, 1024.0f}));
  EXPECT_EQ(read.tensors.at("bf16").to_f32(), (std::vector<float>{0.0f, -0.0f, 1.0f, -2.5f, 0.15625f, 1024.0f}));
  EXPECT_EQ(read.tensors.at("f32").to_f32(), (std::vector<float>{1e-30f, -3.25f, 1e30f, 0.1f, 7.0f, -0.0f}));
  EXPECT_EQ(read.tensors.at("f64").to_f32(), (std::vector<float>{0.1f, -1e-40f}));
  EXPECT_EQ(read.tensors.at("i64").to_i64(), (std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(), -1,
                                                                        std::numeric_limits<std::int64_t>::max()}));
  EXPECT_EQ(read.tensors.at("i8").to_i64(), (std::vector<std::int64_t>{-128, 0, 127}));
  EXPECT_EQ(read.tensors.at("u8").to_f32(), (std::vector<float>{0.0f, 255.0f}));
  EXPECT_EQ(read.tensors.at("bool").to_i64(), (std::vector<std::int64_t>{1, 0}));
  EXPECT_EQ(read.tensors.at("scalar").element_count(), 1);
  EXPECT_EQ(read.tensors.at("scalar").to_f32(), std::vector<float>{42.0f});
  EXPECT_EQ(read.tensors.at("empty").element_count(), 0);
}

TEST(SafetensorsWriter, GivesIdenticalBytesWhenWritingTwice) {
  const fs::path first = test::temp_dir() / "twice-1.safetensors";
  const fs::path second = test::temp_dir() / "twice-2.safetensors";
  write_safetensors(first, one_of_each_dtype());
  write_safetensors(second, one_of_each_dtype());
  EXPECT_EQ(file_bytes(first), file_bytes(second));
}

TEST(SafetensorsWriter, WritesMetadataFirstTensorsInNameOrderAndPadsTheHeader) {
  SafetensorsFile contents;
  contents.tensors["b"] = Tensor::from_i64({2}, {1, 2}, DType::u8);
  contents.tensors["a"] = Tensor::from_f32({1}, {1.0f});
  contents.metadata["k"] = "v";
  const fs::path file = test::temp_dir() / "layout.safetensors";
  write_safetensors(file, contents);

  const std::string header = R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})";
  const std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  EXPECT_EQ(file_bytes(file), little_endian_u64(padded.size()) + padded + std::string("\x00\x00\x80\x3f\x01\x02", 6));
}

TEST(SafetensorsWriter, LeavesOutEmptyMetadata) {
  SafetensorsFile contents;
  contents.tensors["x"] = Tensor::from_i64({1}, {7}, DType::i8);
  const fs::path file = test::temp_dir() / "no-metadata.safetensors";
  write_safetensors(file, contents);
  EXPECT_EQ(file_bytes(file).substr(8), R"({"x":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}})"
                                        "   \x07");
}

TEST(SafetensorsWriter, FailsIntoAMissingDirectoryAndLeavesNoFile) {
  const fs::path file = test::temp_dir() / "no-such-directory" / "out.safetensors";
  EXPECT_THROW(write_safetensors(file, one_of_each_dtype()), ConfigError);
  EXPECT_FALSE(fs::exists(file.parent_path()));
}

TEST(SafetensorsWriter, FailsToReplaceADirectoryAndLeavesNoTemporaryFile) {
  const fs::path dir = test::temp_dir() / "failed-rename";
  fs::create_directories(dir / "out.safetensors" / "occupied");
  EXPECT_THROW(write_safetensors(dir / "out.safetensors", one_of_each_dtype()), ConfigError);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);  // only the directory in the way
}

TEST(SafetensorsWriter, RejectsDataNotMatchingTheShapeAndKeepsTheOldFile) {
  const fs::path file = test::temp_dir() / "keep-old.safetensors";
  write_safetensors(file, one_of_each_dtype());
  const std::string before = file_bytes(file);
  SafetensorsFile bad;
  bad.tensors["x"] = Tensor{DType::f32, {2, 3}, std::vector<std::byte>(20)};
  try {
    write_safetensors(file, bad);
    FAIL() << "wrote a tensor whose data does not match its shape";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), file.string() + ": tensor 'x': F32[2, 3] cannot hold 20 bytes of data");
  }
  EXPECT_EQ(file_bytes(file), before);
}

TEST(SafetensorsWriter, RejectsNamesItCannotWrite) {
  const fs::path file = test::temp_dir() / "bad-name.safetensors";
  SafetensorsFile reserved;
  reserved.tensors["__metadata__"] = Tensor::from_f32({1}, {1.0f});
  EXPECT_THROW(write_safetensors(file, reserved), ConfigError);
  SafetensorsFile not_utf8;
  not_utf8.tensors["\xff"] = Tensor::from_f32({1}, {1.0f});
  EXPECT_THROW(write_safetensors(file, not_utf8), ConfigError);
  EXPECT_FALSE(fs::exists(file));
}

TEST(SafetensorsConversion, Bf16RoundsToNearestEven) {
  EXPECT_EQ(numerics::f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(numerics::f32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie, down to even
  EXPECT_EQ(numerics::f32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie, up to even
  EXPECT_EQ(numerics::f32_to_bf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);  // just above the tie
  EXPECT_EQ(numerics::f32_to_bf16(-std::bit_cast<float>(0x3f80ffffu)), 0xbf81);
  EXPECT_EQ(numerics::f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to infinity
  EXPECT_EQ(numerics::f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_TRUE(std::isnan(numerics::bf16_to_f32(numerics::f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  // A NaN whose payload sits only in the low bits must not round to infinity.
  EXPECT_TRUE(std::isnan(numerics::bf16_to_f32(numerics::f32_to_bf16(std::bit_cast<float>(0x7f800001u)))));
}

TEST(SafetensorsConversion, F16RoundsToNearestEven) {
  // Expected bits from Python's struct.pack('<e', x), which rounds to nearest even.
  EXPECT_EQ(numerics::f32_to_f16(1.0f + 0x1p-11f), 0x3c00);      // tie, down to even
  EXPECT_EQ(numerics::f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);  // tie, up to even
  EXPECT_EQ(numerics::f32_to_f16(0.1f), 0x2e66);
  EXPECT_EQ(numerics::f32_to_f16(-2.5f), 0xc100);
  EXPECT_EQ(numerics::f32_to_f16(65504.0f), 0x7bff);  // the largest half
  EXPECT_EQ(numerics::f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(numerics::f32_to_f16(0x1p-24f), 0x0001);  // the smallest subnormal
  EXPECT_EQ(numerics::f32_to_f16(0x1p-25f), 0x0000);  // tie, down to even zero
  EXPECT_EQ(numerics::f32_to_f16(1.5f * 0x1p-25f), 0x0001);
  EXPECT_EQ(numerics::f32_to_f16(3 * 0x1p-25f), 0x0002);         // tie between subnormals, up to even
  EXPECT_EQ(numerics::f32_to_f16(0x1p-14f - 0x1p-26f), 0x0400);  // rounds up into the normals
  EXPECT_EQ(numerics::f32_to_f16(-0.0f), 0x8000);
}

TEST(SafetensorsConversion, F16OverflowsToInfinityAndKeepsNaN) {
  EXPECT_EQ(numerics::f32_to_f16(65520.0f), 0x7c00);  // halfway to the next power of two rounds to infinity
  EXPECT_EQ(numerics::f32_to_f16(1e6f), 0x7c00);
  EXPECT_EQ(numerics::f32_to_f16(-1e30f), 0xfc00);
  EXPECT_EQ(numerics::f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_TRUE(std::isnan(numerics::f16_to_f32(numerics::f32_to_f16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(numerics::f16_to_f32(numerics::f32_to_f16(std::bit_cast<float>(0x7f800001u)))));
}

TEST(SafetensorsConversion, WideningIsExactForEveryHalfAndBfloat16) {
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const auto narrow = static_cast<std::uint16_t>(bits);
    const float half = numerics::f16_to_f32(narrow);
    const float bfloat = numerics::bf16_to_f32(narrow);
    if (!std::isnan(half)) {
      ASSERT_EQ(numerics::f32_to_f16(half), narrow) << std::hex << bits;
    }
    if (!std::isnan(bfloat)) {
      ASSERT_EQ(numerics::f32_to_bf16(bfloat), narrow) << std::hex << bits;
    }
  }
  EXPECT_EQ(numerics::f16_to_f32(0x0001), 0x1p-24f);
  EXPECT_EQ(numerics::f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(bits_of(numerics::bf16_to_f32(0xbf81)), 0xbf810000u);
}

TEST(SafetensorsConversion, F64RoundsToNearestFloat) {
  Tensor tensor{DType::f64, {2}, {}};
  for (double value : {0.1, 1.0 + 0x1p-24}) {  // the second is a tie that rounds to even 1.0
    for (int i = 0; i < 8; ++i)
      tensor.data.push_back(static_cast<std::byte>((std::bit_cast<std::uint64_t>(value) >> (8 * i)) & 0xff));
  }
  EXPECT_EQ(tensor.to_f32(), (std::vector<float>{0.1f, 1.0f}));
}

TEST(SafetensorsConversion, ToI64RejectsFloatTensors) {
  EXPECT_THROW(Tensor::from_f32({1}, {1.0f}).to_i64(), std::invalid_argument);
  EXPECT_THROW(Tensor::from_f32({1}, {1.0f}, DType::bf16).to_i64(), std::invalid_argument);
}

TEST(SafetensorsConversion, FactoriesRejectWrongCountsDTypesAndRanges) {
  EXPECT_THROW(Tensor::from_f32({2, 2}, {1.0f}), std::invalid_argument);
  EXPECT_THROW(Tensor::from_f32({1}, {1.0f}, DType::i32), std::invalid_argument);
  EXPECT_THROW(Tensor::from_i64({1}, {1}, DType::f32), std::invalid_argument);
  EXPECT_THROW(Tensor::from_i64({1}, {256}, DType::u8), std::invalid_argument);
  EXPECT_THROW(Tensor::from_i64({1}, {-129}, DType::i8), std::invalid_argument);
  EXPECT_THROW(Tensor::from_i64({1}, {2}, DType::boolean), std::invalid_argument);
  EXPECT_THROW(Tensor::from_i64({-1}, {}, DType::i64), std::invalid_argument);
  EXPECT_THROW((Tensor{DType::f32, {3}, std::vector<std::byte>(8)}.to_f32()), std::invalid_argument);
}

TEST(SafetensorsReader, ReadsAReferenceKernelFile) {
  const SafetensorsFile contents = read_safetensors(kKernelFile);
  EXPECT_EQ(contents.metadata.at("kernel"), "selective_scan");
  EXPECT_EQ(contents.tensors.size(), 9u);
  const Tensor& u = contents.tensors.at("u");
  EXPECT_EQ(u.dtype, DType::f32);
  EXPECT_EQ(u.shape, (std::vector<std::int64_t>{1, 4, 9}));
  EXPECT_EQ(bits_of(u.to_f32().at(23)), 0x3fc9d9b4u);  // u[0, 2, 5] = 1.5769562721252441
  const std::vector<float> a = contents.tensors.at("A").to_f32();
  EXPECT_EQ(contents.tensors.at("A").shape, (std::vector<std::int64_t>{4, 1}));
  EXPECT_EQ(bits_of(a.at(0)), 0xbde9dd4cu);                                     // -0.11419162154197693
  EXPECT_EQ(bits_of(a.at(3)), 0xbe565cdfu);                                     // -0.20933865010738373
  EXPECT_EQ(bits_of(contents.tensors.at("out").to_f32().at(35)), 0x3eb234e1u);  // 0.34805968403816223
}

TEST(SafetensorsReader, KeepsAReferenceFileThroughAWriteAndRead) {
  const SafetensorsFile original = read_safetensors(kKernelFile);
  const fs::path copy = test::temp_dir() / "kernel-copy.safetensors";
  write_safetensors(copy, original);
  const SafetensorsFile again = read_safetensors(copy);
  EXPECT_EQ(again.metadata, original.metadata);
  ASSERT_EQ(again.tensors.size(), original.tensors.size());
  for (const auto& [name, tensor] : original.tensors) {
    EXPECT_EQ(again.tensors.at(name).shape, tensor.shape) << name;
    EXPECT_EQ(again.tensors.at(name).data, tensor.data) << name;
  }
}

TEST(SafetensorsReader, RejectsEveryTruncationOfAValidFile) {
  const std::string bytes = file_bytes(kKernelFile);
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    const fs::path file = test::write_file("truncated.safetensors", bytes.substr(0, size));
    EXPECT_THROW(read_safetensors(file), ConfigError) << size << " bytes";
  }
}

TEST(SafetensorsReader, ReadsAFileWithNoTensors) {
  const SafetensorsFile contents = read_safetensors(raw_file("empty.safetensors", "{}      "));
  EXPECT_TRUE(contents.tensors.empty());
  EXPECT_TRUE(contents.metadata.empty());
}

TEST(SafetensorsReader, RejectsAMissingFile) {
  const fs::path file = test::temp_dir() / "absent.safetensors";
  EXPECT_EQ(read_error(file), file.string() + ": cannot read the file: No such file or directory");
}

TEST(SafetensorsReader, RejectsAFileShorterThanTheHeaderLength) {
  expect_read_error(test::write_file("short.safetensors", std::string("\x02\x00\x00", 3)),
                    "header: the file has 3 bytes, too few for the 8-byte header length");
}

TEST(SafetensorsReader, RejectsAHeaderLengthBeyondTheFile) {
  expect_read_error(raw_file("long-header.safetensors", 1000, "{}"),
                    "header: length 1000 runs past the end of the file (2 bytes follow the length)");
}

TEST(SafetensorsReader, RejectsAnAbsurdHeaderLength) {
  expect_read_error(raw_file("absurd-header.safetensors", 0xffffffffffffffffu, "{}"),
                    "header: length 18446744073709551615 is more than the 100 MiB a header may have");
}

TEST(SafetensorsReader, RejectsAHeaderThatIsNotJson) {
  const fs::path file = raw_file("not-json.safetensors", R"({"x": {"dtype": F32}})");
  const std::string error = read_error(file);
  EXPECT_EQ(error.rfind(file.string() + ": header: not valid JSON at byte 17: ", 0), 0u) << error;
  EXPECT_NE(error.find("syntax error while parsing value"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

TEST(SafetensorsReader, RejectsANumberTooLargeForJson) {
  expect_read_error(raw_file("huge-number.safetensors", R"({"x": 1e999})"),
                    "header: not valid JSON: number overflow parsing '1e999'");
}

TEST(SafetensorsReader, RejectsAHeaderThatIsNotUtf8) {
  const fs::path file = raw_file("not-utf8.safetensors", "{\"\xff\": 1}");
  EXPECT_EQ(read_error(file).rfind(file.string() + ": header: not valid JSON at byte 3: ", 0), 0u);
}

TEST(SafetensorsReader, RejectsAHeaderThatIsNotAnObject) {
  expect_read_error(raw_file("array-header.safetensors", "[1, 2]"), "header: expected a JSON object, got [1,2]");
}

TEST(SafetensorsReader, RejectsADeeplyNestedHeader) {
  expect_read_error(raw_file("nested.safetensors", R"({"x": {"shape": [[[1]]]}})"),
                    "header: nested deeper than a safetensors header can be");
}

TEST(SafetensorsReader, RejectsATensorNameGivenTwice) {
  const std::string entry = R"({"dtype": "U8", "shape": [1], "data_offsets": [0, 1]})";
  expect_read_error(raw_file("twice.safetensors", R"({"x": )" + entry + R"(, "x": )" + entry + "}", "a"),
                    "header: 'x' is given twice");
}

TEST(SafetensorsReader, RejectsATensorEntryThatIsNotAnObject) {
  expect_read_error(raw_file("entry-not-object.safetensors", R"({"x": [1, 2]})"),
                    "header: tensor 'x': expected an object with dtype, shape and data_offsets, got [1,2]");
}

TEST(SafetensorsReader, RejectsATensorWithoutDtype) {
  expect_read_error(raw_file("no-dtype.safetensors", R"({"x": {"shape": [1], "data_offsets": [0, 4]}})", "abcd"),
                    "header: tensor 'x': missing dtype");
}

TEST(SafetensorsReader, RejectsATensorWithoutShape) {
  expect_read_error(raw_file("no-shape.safetensors", R"({"x": {"dtype": "F32", "data_offsets": [0, 4]}})", "abcd"),
                    "header: tensor 'x': missing shape");
}

TEST(SafetensorsReader, RejectsATensorWithoutDataOffsets) {
  expect_read_error(raw_file("no-offsets.safetensors", R"({"x": {"dtype": "F32", "shape": [1]}})", "abcd"),
                    "header: tensor 'x': missing data_offsets");
}

TEST(SafetensorsReader, RejectsADtypeThatIsNotAString) {
  expect_read_error(raw_file("dtype-number.safetensors", R"({"x": {"dtype": 7, "shape": [], "data_offsets": [0, 1]}})"),
                    "header: tensor 'x': dtype: expected a string, got 7");
}

TEST(SafetensorsReader, RejectsAShapeThatIsNotAList) {
  expect_read_error(
      raw_file("shape-string.safetensors", R"({"x": {"dtype": "U8", "shape": "2x3", "data_offsets": [0, 6]}})"),
      "header: tensor 'x': shape: expected a list of dimensions, got \"2x3\"");
}

TEST(SafetensorsReader, RejectsAnUnknownDtype) {
  expect_read_error(
      raw_file("unknown-dtype.safetensors", R"({"x": {"dtype": "F8", "shape": [1], "data_offsets": [0, 1]}})", "a"),
      "header: tensor 'x': unknown dtype 'F8' (known: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)");
}

TEST(SafetensorsReader, RejectsANegativeDimension) {
  expect_read_error(
      raw_file("negative-dim.safetensors", R"({"x": {"dtype": "F32", "shape": [2, -3], "data_offsets": [0, 0]}})"),
      "header: tensor 'x': shape[1]: expected a non-negative 64-bit integer, got -3");
}

TEST(SafetensorsReader, RejectsANonIntegerDimension) {
  expect_read_error(
      raw_file("fraction-dim.safetensors", R"({"x": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 0]}})"),
      "header: tensor 'x': shape[0]: expected a non-negative 64-bit integer, got 2.5");
}

TEST(SafetensorsReader, RejectsAShapeWhoseSizeOverflows) {
  expect_read_error(raw_file("overflow.safetensors",
                             R"({"x": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})"),
                    "header: tensor 'x': F32[4294967296, 4294967296] is too large: its byte count overflows 64 bits");
  // The element count fits, the byte count does not.
  expect_read_error(raw_file("overflow-bytes.safetensors",
                             R"({"x": {"dtype": "F64", "shape": [2305843009213693952], "data_offsets": [0, 0]}})"),
                    "header: tensor 'x': F64[2305843009213693952] is too large: its byte count overflows 64 bits");
}

TEST(SafetensorsReader, RejectsDataOffsetsThatAreNotAPair) {
  expect_read_error(
      raw_file("three-offsets.safetensors", R"({"x": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1, 2]}})", "a"),
      "header: tensor 'x': data_offsets: expected [begin, end], two non-negative integers, got [0,1,2]");
  expect_read_error(
      raw_file("negative-offset.safetensors", R"({"x": {"dtype": "U8", "shape": [1], "data_offsets": [-1, 0]}})", "a"),
      "header: tensor 'x': data_offsets: expected [begin, end], two non-negative integers, got [-1,0]");
}

TEST(SafetensorsReader, RejectsDataOffsetsThatBeginAfterTheyEnd) {
  expect_read_error(
      raw_file("reversed.safetensors", R"({"x": {"dtype": "U8", "shape": [1], "data_offsets": [1, 0]}})", "a"),
      "header: tensor 'x': data_offsets [1, 0]: begin is after end");
}

TEST(SafetensorsReader, RejectsDataOffsetsBeyondTheData) {
  expect_read_error(
      raw_file("beyond.safetensors", R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "abcd"),
      "header: tensor 'x': data_offsets [0, 8]: end is beyond the 4-byte data section");
}

TEST(SafetensorsReader, RejectsDataOffsetsNotMatchingTheShape) {
  expect_read_error(
      raw_file("mismatch.safetensors", R"({"x": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 40]}})",
               std::string(40, 'd')),
      "header: tensor 'x': data_offsets [0, 40] cover 40 bytes but F32[2, 3] needs 24");
}

TEST(SafetensorsReader, RejectsOverlappingTensors) {
  expect_read_error(raw_file("overlap.safetensors",
                             R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                             R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                             std::string(12, 'd')),
                    "header: tensors 'a' at [0, 8] and 'b' at [4, 12] overlap");
}

TEST(SafetensorsReader, RejectsAGapBetweenTensors) {
  expect_read_error(raw_file("gap.safetensors",
                             R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},)"
                             R"( "b": {"dtype": "U8", "shape": [2], "data_offsets": [5, 7]}})",
                             std::string(7, 'd')),
                    "data: bytes [2, 5) belong to no tensor");
}

TEST(SafetensorsReader, RejectsTrailingBytes) {
  expect_read_error(raw_file("trailing.safetensors", R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}})",
                             std::string(3, 'd')),
                    "data: bytes [2, 3) at the end belong to no tensor");
}

TEST(SafetensorsReader, RejectsMetadataThatIsNotAnObjectOfStrings) {
  expect_read_error(raw_file("metadata-number.safetensors", R"({"__metadata__": {"seed": 116}})"),
                    "header: __metadata__ 'seed': expected a string, got 116");
  expect_read_error(raw_file("metadata-list.safetensors", R"({"__metadata__": ["a"]})"),
                    "header: __metadata__: expected an object of strings, got [\"a\"]");
}

TEST(SafetensorsReader, EscapesControlCharactersInNamesToKeepTheErrorOnOneLine) {
  expect_read_error(raw_file("control-name.safetensors", R"({"a\nb": 1})"),
                    "header: tensor 'a\\x0ab': expected an object with dtype, shape and data_offsets, got 1");
}

}  // namespace
}  // namespace ssmsoc
