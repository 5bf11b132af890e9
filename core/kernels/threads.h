// Intra-op threads: one number for everything a thread computes with.
//
// A thread's intra-op threads are its OpenMP team, which runs ATen's
// parallel_for, the fused kernels and oneDNN's matrix products alike; the
// setting is per calling thread (OpenMP's nthreads-var), so a training thread
// and an analysis thread in one `dlab serve` each keep their own. OpenBLAS
// (LibTorch's reference matrix products) has one process-wide pool of its own:
// threads_set() sizes it to match.
#pragma once

namespace dlab::kernels {

// The default: one thread per physical core this process may run on
// (cpu_cores_usable()). Never more: a second thread on a core's SMT sibling or
// on a core the process may not use only waits and spins.
int threads_default();

// Sets the calling thread's intra-op threads (n >= 1; 0 means threads_default()).
// Returns the number set.
int threads_set(int n);

}  // namespace dlab::kernels
