# Warnings apply to our own targets only (not to generated protobuf code).
set(SMFG_WARNINGS -Wall -Wextra -Wno-unused-parameter)
# scripts/test (and so CI) builds with SMFG_WERROR=ON: a warning fails the build.
option(SMFG_WERROR "Treat warnings in our targets as errors" OFF)
if(SMFG_WERROR)
  list(APPEND SMFG_WARNINGS -Werror)
endif()

# smfg_library(NAME SRCS ... [DEPS ...] [PRIVATE_DEPS ...])
# DEPS are what the library's headers need (PUBLIC); PRIVATE_DEPS only its .cc
# files: users get neither their include paths nor their compile flags.
function(smfg_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${SMFG_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# smfg_test(NAME SRCS ... DEPS ... [LABEL label]) builds a gtest binary and
# registers every test in it with ctest, labelled "unit" unless LABEL is given.
function(smfg_test name)
  cmake_parse_arguments(ARG "" "LABEL" "SRCS;DEPS" ${ARGN})
  if(NOT ARG_LABEL)
    set(ARG_LABEL unit)
  endif()
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${SMFG_WARNINGS})
  # Test data is found from the source tree's root, not from __FILE__ (which
  # is relative under ccache's base_dir).
  target_compile_definitions(${name} PRIVATE SMFG_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                       PROPERTIES LABELS ${ARG_LABEL} DISCOVERY_TIMEOUT 60)
endfunction()

function(smfg_binary name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${SMFG_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()
