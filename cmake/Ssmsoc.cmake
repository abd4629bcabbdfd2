# Project-wide build settings and helpers.

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
endif()

# SSMSOC_FUZZ: every object file (the libraries the fuzz targets link included) gets
# libFuzzer's coverage instrumentation and ASan + UBSan, with any UB report fatal, so a
# sanitizer report is a finding. Only clang has libFuzzer.
if(SSMSOC_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SSMSOC_FUZZ needs clang (libFuzzer): configure a build folder of its own with "
                        "-DCMAKE_CXX_COMPILER=clang++-14 (tests/fuzz/README.md)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# Warnings (as errors in our own code) and the optional sanitizers for one target.
function(ssmsoc_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Werror)
  if(SSMSOC_FUZZ)  # warnings are errors in the g++ build; clang's own warnings stay warnings here
    target_compile_options(${target} PRIVATE -Wno-error)
  endif()
  if(SSMSOC_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    # g++ 12 with ASan reports "may be used uninitialized" inside libstdc++'s <regex>
    # (tests/cli/profile_cli_test.cpp fails to build); the normal build keeps the warning.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
    endif()
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# ssmsoc_add_gtest(NAME SOURCES files... LIBS targets...): one GoogleTest executable whose
# tests are registered with CTest one by one.
function(ssmsoc_add_gtest name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  ssmsoc_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE SSMSOC_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data"
                                             SSMSOC_SSMSOC_BINARY="$<TARGET_FILE:ssmsoc>")
  gtest_discover_tests(${name} WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}" DISCOVERY_TIMEOUT 60)
endfunction()

# Fails the configuration when a part's library links a part it may not depend on
# (cmake/PartDependencies.cmake); the test PartDependencies checks the #include lines.
function(ssmsoc_check_target_dependencies)
  include(${PROJECT_SOURCE_DIR}/cmake/PartDependencies.cmake)
  get_cmake_property(variables VARIABLES)
  foreach(variable ${variables})
    if(NOT variable MATCHES "^SSMSOC_TARGET_(.+)$")
      continue()
    endif()
    set(target ${CMAKE_MATCH_1})
    set(own ${${variable}})
    if(own STREQUAL "CLI" OR NOT TARGET ${target})
      continue()
    endif()
    get_target_property(links ${target} LINK_LIBRARIES)
    foreach(link ${links})
      if(DEFINED SSMSOC_TARGET_${link})
        set(used ${SSMSOC_TARGET_${link}})
        if(NOT used STREQUAL own AND NOT used IN_LIST SSMSOC_PART_${own})
          message(FATAL_ERROR "${target} (${own}) links ${link} (${used}): ${own} may not depend on ${used} "
                              "(cmake/PartDependencies.cmake)")
        endif()
      endif()
    endforeach()
  endforeach()
endfunction()
