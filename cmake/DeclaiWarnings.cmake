# One INTERFACE target carries warnings, Qt strictness defines and sanitizer flags; every target links it.
add_library(declai_build_flags INTERFACE)
add_library(Declai::BuildFlags ALIAS declai_build_flags)
target_compile_options(declai_build_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic>
  # Shadowed locals: GCC's spelling, and clang's (the fuzz build uses clang).
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wshadow=local>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:Clang>>:-Wshadow-uncaptured-local>
  $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor -Wcast-align -Wunused -Woverloaded-virtual -Wnull-dereference
  -Wimplicit-fallthrough>)
# No fused multiply-adds the source did not ask for: GCC contracts a * b + c by default where the target has
# FMA (AArch64 always), which would make the scalar reference round differently from the SIMD kernels and
# an ARM node's results differ from an x86 node's.
target_compile_options(declai_build_flags INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-ffp-contract=off>)
if(DECLAI_WERROR)
  target_compile_options(declai_build_flags INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()
target_compile_definitions(declai_build_flags INTERFACE
  QT_NO_CAST_FROM_ASCII QT_NO_CAST_TO_ASCII QT_NO_CONTEXTLESS_CONNECT QT_NO_KEYWORDS
  QT_NO_URL_CAST_FROM_STRING QT_USE_QSTRINGBUILDER)

if(DECLAI_SANITIZE STREQUAL "address")
  set(_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
elseif(DECLAI_SANITIZE STREQUAL "thread")
  set(_san -fsanitize=thread -fno-omit-frame-pointer)
endif()
if(DECLAI_FUZZ)
  # libFuzzer's coverage instrumentation in every library, so the fuzzers are guided by the code they test.
  list(APPEND _san -fsanitize=fuzzer-no-link)
endif()
if(_san)
  target_compile_options(declai_build_flags INTERFACE ${_san})
  target_link_options(declai_build_flags INTERFACE ${_san})
endif()
