#include "dist/rank_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <set>

#include "common/error.h"

extern char** environ;

namespace dlab {

int dist_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(std::string("socket(): ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw Error(std::string("could not find a free port on 127.0.0.1: ") + std::strerror(errno));
  }
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

pid_t rank_process_spawn(const std::string& executable, const std::string& argv0,
                         const std::vector<std::string>& args, const DistEnv& env,
                         const RankProcessOptions& options) {
  // The parent's environment without the contract's variables, then ours.
  const std::set<std::string> contract = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR",
                                          "MASTER_PORT"};
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry = *e;
    if (!contract.count(entry.substr(0, entry.find('=')))) env_strings.push_back(entry);
  }
  env_strings.push_back("RANK=" + std::to_string(env.rank));
  env_strings.push_back("LOCAL_RANK=" + std::to_string(env.local_rank));
  env_strings.push_back("WORLD_SIZE=" + std::to_string(env.world_size));
  env_strings.push_back("MASTER_ADDR=" + env.master_addr);
  env_strings.push_back("MASTER_PORT=" + std::to_string(env.master_port));
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string name = argv0;
  std::vector<std::string> argv_strings = args;
  std::vector<char*> argv{name.data()};
  for (std::string& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string failed =
      "rank " + std::to_string(env.rank) + ": could not execute " + executable + "\n";

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(std::string("fork(): ") + std::strerror(errno));
  if (pid > 0) return pid;
  // The child: async-signal-safe calls only.
  if (options.new_process_group) ::setpgid(0, 0);
  if (options.die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    // The parent may have died before prctl: then nobody would send it.
    if (::getppid() != parent) ::_exit(1);
  }
  ::execve(executable.c_str(), argv.data(), envp.data());
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, failed.data(), failed.size());
  ::_exit(127);
}

}  // namespace dlab
