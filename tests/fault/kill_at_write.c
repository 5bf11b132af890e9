/* Fault injection for the kill-anywhere tests (docs/reliability.md), loaded
 * with LD_PRELOAD into an unmodified dlab: counts the writes to HDF5 files
 * (paths ending in .h5, .h5.resuming or .h5.tmp) and sends the process SIGKILL
 * instead of performing write number DEPTHLAB_KILL_AT_WRITE (1-based). With
 * DEPTHLAB_WRITE_COUNT_FILE set, the number of such writes is written there at
 * exit, so that a test knows how many points there are to kill at. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static long kill_at = -1;
static long count = 0;

static void report(void) {
  const char* file = getenv("DEPTHLAB_WRITE_COUNT_FILE");
  if (!file) return;
  FILE* f = fopen(file, "w");
  if (!f) return;
  fprintf(f, "%ld\n", count);
  fclose(f);
}

__attribute__((constructor)) static void init(void) {
  const char* k = getenv("DEPTHLAB_KILL_AT_WRITE");
  if (k) kill_at = atol(k);
  atexit(report);
}

static int is_hdf5_file(int fd) {
  char link[64], path[4096];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof(path) - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  const char* ends[] = {".h5", ".h5.resuming", ".h5.tmp"};
  for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); ++i) {
    const size_t e = strlen(ends[i]);
    if ((size_t)n >= e && strcmp(path + n - e, ends[i]) == 0) return 1;
  }
  return strstr(path, ".h5.tmp") != NULL; /* checkpoint temporaries: step-N.h5.tmp-... */
}

static void maybe_kill(int fd) {
  if (!is_hdf5_file(fd)) return;
  ++count;
  if (count == kill_at) {
    report();
    kill(getpid(), SIGKILL);
  }
}

ssize_t write(int fd, const void* buf, size_t n) {
  static ssize_t (*real)(int, const void*, size_t) = NULL;
  if (!real) real = (ssize_t(*)(int, const void*, size_t))dlsym(RTLD_NEXT, "write");
  maybe_kill(fd);
  return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  static ssize_t (*real)(int, const void*, size_t, off_t) = NULL;
  if (!real) real = (ssize_t(*)(int, const void*, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
  maybe_kill(fd);
  return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  static ssize_t (*real)(int, const void*, size_t, off_t) = NULL;
  if (!real) real = (ssize_t(*)(int, const void*, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
  maybe_kill(fd);
  return real(fd, buf, n, off);
}
