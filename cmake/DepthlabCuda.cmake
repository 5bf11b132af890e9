# CUDA set-up for gpu/ (docs/gpu.md). Sets DEPTHLAB_CUDA_KERNELS_BUILT.
#
# The kernels need only nvcc and the CUDA runtime, so they are compiled
# wherever nvcc is found (every machine of this project's kind has the CUDA
# toolkit in /usr/local/cuda, CI included), and their tests skip where no GPU
# is visible. Linking them into the engine (DEPTHLAB_CUDA=ON) also needs a
# LibTorch built with CUDA, since the engine's tensors must live on the GPU.

set(DEPTHLAB_CUDA_KERNELS_BUILT OFF)
if(DEPTHLAB_CUDA)
  if(NOT TARGET torch_cuda AND NOT TORCH_CUDA_LIBRARIES)
    message(FATAL_ERROR
      "DEPTHLAB_CUDA=ON needs a LibTorch built with CUDA; this one (${Torch_DIR}) is CPU-only. "
      "Point CMAKE_PREFIX_PATH at a CUDA LibTorch, e.g. "
      "$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'), or leave DEPTHLAB_CUDA OFF")
  endif()
  set(DEPTHLAB_CUDA_KERNELS ON CACHE STRING "" FORCE)
endif()

if(NOT DEPTHLAB_CUDA_KERNELS STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES ${DEPTHLAB_CUDA_ARCHITECTURES})
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(DEPTHLAB_CUDA_KERNELS_BUILT ON)
    message(STATUS "DepthLab: CUDA kernels in gpu/ compiled by ${CMAKE_CUDA_COMPILER} "
                   "(${CMAKE_CUDA_COMPILER_VERSION}) for architectures ${CMAKE_CUDA_ARCHITECTURES}")
  elseif(DEPTHLAB_CUDA_KERNELS STREQUAL "ON")
    message(FATAL_ERROR "DEPTHLAB_CUDA_KERNELS=ON (or DEPTHLAB_CUDA=ON) but no nvcc was found; "
                        "set CMAKE_CUDA_COMPILER or put nvcc on PATH")
  else()
    message(STATUS "DepthLab: no nvcc found; the CUDA kernels in gpu/ are not compiled")
  endif()
endif()
