# LibTorch glue: one interface target every torch-using library links, and an
# optional shared precompiled header (torch/torch.h costs ~10 s per file on 2 cores).

add_library(dlab_torch INTERFACE)
target_link_libraries(dlab_torch INTERFACE ${TORCH_LIBRARIES})
target_compile_options(dlab_torch INTERFACE ${TORCH_CXX_FLAGS})
# Torch's own headers are noisy under -Wall; keep our warnings, silence theirs.
target_include_directories(dlab_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})

if(DEPTHLAB_PCH)
  # A tiny object library owns the PCH; other targets reuse it with
  # depthlab_use_torch_pch(<target>). Compile flags must match, which they do
  # because every target takes them from dlab_torch and the global flags.
  # No target sets POSITION_INDEPENDENT_CODE: libraries are static and the
  # compiler's default (PIE on Debian) must be the same for the PCH and its users.
  add_library(dlab_torch_pch OBJECT ${CMAKE_CURRENT_LIST_DIR}/torch_pch.cpp)
  target_link_libraries(dlab_torch_pch PUBLIC dlab_torch)
  target_precompile_headers(dlab_torch_pch PRIVATE <torch/torch.h>)
endif()

function(depthlab_use_torch_pch target)
  if(DEPTHLAB_PCH)
    target_precompile_headers(${target} REUSE_FROM dlab_torch_pch)
  endif()
endfunction()
