# Concatenates OpenCL C sources into one C++ header holding a raw string literal, so the kernels ship
# inside the binary. Run as: cmake -DOUTPUT=... -DSOURCES="a.cl;b.cl" -P EmbedKernels.cmake
set(_text "")
foreach(_file IN LISTS SOURCES)
  file(READ "${_file}" _content)
  get_filename_component(_name "${_file}" NAME)
  string(APPEND _text "// ---- ${_name} ----\n${_content}\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "// Generated from gpu/src/opencl/kernels/*.cl by EmbedKernels.cmake. Do not edit.\n#pragma once\n\nnamespace declai::gpu {\ninline constexpr const char* kOpenClKernelSource = R\"DECLAICL(\n${_text})DECLAICL\";\n} // namespace declai::gpu\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
