# How the test suite is registered with CTest; included by tests/CMakeLists.txt and by the throwaway
# project of tests/selfcheck, which proves that a failing suite fails the run even when it also skips.
#
# declai_add_test(NAME SOURCES a.cpp ... LIBS ... LABELS unit|gpu|integration|ui|slow [TIMEOUT s])
# Every test is a QtTest executable run by CTest through tests/support/run-qtest.sh, which takes the verdict
# from the suite's exit status and Totals line: a failure or crash fails the test even when another function
# skipped; a suite that passed with skipped functions is reported as skipped (exit 77), with the reasons.
# Tests that need data find it through DECLAI_MODEL_PATH and DECLAI_REFERENCE_DIR, which .ci/run and the
# README's test command set; a dependency missing where DECLAI_REQUIRED_DEPS names it (CI) fails instead of
# skipping (tests/TestData.h: DECLAI_SKIP_MISSING).
set(DECLAI_QTEST_RUNNER ${CMAKE_CURRENT_LIST_DIR}/../tests/support/run-qtest.sh)
set(DECLAI_MISSING_DEPENDENCY ${CMAKE_CURRENT_LIST_DIR}/../tests/support/missing-dependency.sh)
function(declai_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE Qt6::Test ${T_LIBS} Declai::BuildFlags)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${DECLAI_QTEST_RUNNER} $<TARGET_FILE:${name}>)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  # QtTest's crash handler forks inside a signal handler and can deadlock on a corrupted heap; a crash
  # must fail fast instead of hanging until the timeout.
  # QtTest aborts a test function after QTEST_FUNCTION_TIMEOUT (default 300 s): CTest's TIMEOUT is the one
  # limit, so a slow function on a busy machine is not killed early by a second, hidden one.
  math(EXPR _function_timeout_ms "${T_TIMEOUT} * 1000")
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77
    ENVIRONMENT "QTEST_DISABLE_STACK_TRACE=1;QTEST_DISABLE_CORE_DUMP=1;QTEST_FUNCTION_TIMEOUT=${_function_timeout_ms}")
endfunction()

# A test that stands for one whose dependency is missing at configure time: a skip with the reason, or a
# failure where DECLAI_REQUIRED_DEPS names the dependency.
function(declai_add_missing_test name dependency reason)
  cmake_parse_arguments(T "" "" "LABELS" ${ARGN})
  add_test(NAME ${name} COMMAND ${DECLAI_MISSING_DEPENDENCY} ${dependency} ${reason})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" SKIP_RETURN_CODE 77)
endfunction()
