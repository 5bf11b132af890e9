#include "kernels/threads.h"

#include <ATen/Parallel.h>

#include "kernels/blas_setup.h"
#include "kernels/cpu_features.h"

namespace dlab::kernels {

int threads_default() { return cpu_cores_usable(); }

int threads_set(int n) {
  const int threads = n > 0 ? n : threads_default();
  at::set_num_threads(threads);
  blas_threads_set(threads);
  return threads;
}

}  // namespace dlab::kernels
