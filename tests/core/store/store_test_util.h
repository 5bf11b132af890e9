// Shared helpers of the store tests: fresh temp directories, raw file edits
// (to damage files on purpose) and running a function in a child process.
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "test_dir.h"

namespace dlab::test {

// A fresh, empty directory for one test: $DEPTHLAB_TEST_TMP/store/<name>-<pid>.
inline std::filesystem::path test_dir(const std::string& name) {
  return test_dir_fresh("store", name);
}

inline std::vector<char> file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void file_put(const std::filesystem::path& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// Runs `body` in a forked child and returns its exit status as waitpid gives it.
// The child never returns into the test runner: it leaves with _exit (status 0,
// or 1 after printing an exception), or however `body` ends it (abort, _exit).
inline int run_in_child(const std::function<void()>& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    struct rlimit no_core {
      0, 0
    };
    ::setrlimit(RLIMIT_CORE, &no_core);  // an abort() on purpose leaves no core file
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      ::_exit(1);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

// How a child run by run_in_child_deadline ended.
struct ChildEnd {
  bool timed_out = false;  // killed at the deadline (it hung)
  int status = 0;          // as waitpid gives it, when it did not time out
  double seconds = 0;      // how long it ran
};

// Runs `body` in a forked child like run_in_child, but kills it (SIGKILL) after
// `deadline_s`: a regression that hangs fails the test instead of hanging it.
// With `exit_normally` the child ends with exit(0) (atexit handlers and static
// destructors run, as at the end of a program), else with _exit(0).
inline ChildEnd run_in_child_deadline(double deadline_s, const std::function<void()>& body,
                                      bool exit_normally = false) {
  std::fflush(nullptr);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    struct rlimit no_core {
      0, 0
    };
    ::setrlimit(RLIMIT_CORE, &no_core);
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      ::_exit(1);
    }
    if (exit_normally) std::exit(0);
    ::_exit(0);
  }
  ChildEnd end;
  for (;;) {
    const pid_t done = ::waitpid(pid, &end.status, WNOHANG);
    end.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (done == pid) return end;
    if (end.seconds > deadline_s) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &end.status, 0);
      end.timed_out = true;
      return end;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace dlab::test
