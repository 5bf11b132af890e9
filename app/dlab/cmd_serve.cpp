// dlab serve: the session server (docs/protocol.md). A QCoreApplication event
// loop runs only inside this command.
#include <QCoreApplication>
#include <QHostAddress>
#include <QTimer>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "commands.h"
#include "common/error.h"
#include "protocol/message_types.h"
#include "serve/session_server.h"

namespace dlab::cli {
namespace {

struct ServeArgs {
  std::string listen = "127.0.0.1:0";
  std::string token_file;
  std::string token_env;
  std::string tls_cert, tls_key;
  std::string runs = "runs";
  std::vector<std::string> data;
  double client_backlog_mib = 8;
  double client_queue_mib = 64;
  int max_runs = 4;
  int max_ranks = 64;
};

std::atomic<bool> g_quit{false};
void on_signal(int) { g_quit.store(true); }

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string token_from(const ServeArgs& a) {
  if (!a.token_file.empty() && !a.token_env.empty()) {
    throw Error("--token-file and --token-env exclude each other: give one token source");
  }
  if (!a.token_file.empty()) {
    std::ifstream in(a.token_file);
    if (!in) throw Error("--token-file " + a.token_file + ": cannot read the file");
    std::stringstream s;
    s << in.rdbuf();
    const std::string t = trim(s.str());
    if (t.empty()) throw Error("--token-file " + a.token_file + ": the file is empty");
    return t;
  }
  if (!a.token_env.empty()) {
    const char* v = std::getenv(a.token_env.c_str());
    if (!v || !*v) throw Error("--token-env " + a.token_env + ": the variable is unset or empty");
    return trim(v);
  }
  return "";
}

int serve_main(const ServeArgs& a) {
  serve::ServerOptions o;
  const size_t colon = a.listen.rfind(':');
  if (colon == std::string::npos) {
    throw Error("--listen " + a.listen + ": expected HOST:PORT, e.g. 127.0.0.1:0");
  }
  std::string host = a.listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const std::string port = a.listen.substr(colon + 1);
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end || p < 0 || p > 65535) {
    throw Error("--listen " + a.listen + ": port \"" + port + "\" must be 0..65535 (0 = any free)");
  }
  if (!o.address.setAddress(QString::fromStdString(host))) {
    throw Error("--listen " + a.listen + ": \"" + host + "\" is not an IP address");
  }
  o.port = quint16(p);
  o.client_backlog_bytes = int64_t(a.client_backlog_mib * 1024.0 * 1024.0);
  o.client_queue_bytes = int64_t(a.client_queue_mib * 1024.0 * 1024.0);
  // Telemetry gives way first (client-backlog); only a client that still does
  // not read is dropped (client-queue).
  if (a.client_queue_mib < a.client_backlog_mib) {
    throw Error("--client-queue-mib " + std::to_string(a.client_queue_mib) +
                " is below --client-backlog-mib " + std::to_string(a.client_backlog_mib) +
                ": a client is dropped only after its telemetry has been dropped; give a "
                "queue at least as large as the backlog");
  }
  o.max_runs = a.max_runs;
  o.max_ranks = a.max_ranks;
  o.token = token_from(a);
  if (!o.address.isLoopback() && o.token.empty()) {
    throw Error("--listen " + a.listen +
                ": not a loopback address; listening on the network needs a token "
                "(--token-file F or --token-env VAR)");
  }
  if (a.tls_cert.empty() != a.tls_key.empty()) {
    throw Error("--tls-cert and --tls-key go together: give both for wss://, neither for ws://");
  }
  o.tls_cert = a.tls_cert;
  o.tls_key = a.tls_key;
  o.runs_dir = a.runs;
  for (const std::string& d : a.data) o.data_dirs.push_back(d);

  int argc = 1;
  char name[] = "dlab";
  char* argv[] = {name, nullptr};
  QCoreApplication app(argc, argv);
  serve::SessionServer server(o);
  const QString url = server.listen();
  // The one machine-readable line (docs/protocol.md): a parent process reads it.
  std::cout << protocol::kListeningPrefix << url.toStdString() << std::endl;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  QTimer quit_poll;
  QObject::connect(&quit_poll, &QTimer::timeout, &app, [&] {
    if (g_quit.load()) app.quit();
  });
  quit_poll.start(100);
  app.exec();
  std::cerr << "dlab serve: stopping (live runs checkpoint first)\n";
  return 0;
}

}  // namespace

Command command_serve_register(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  app.description(
      "Serve the session protocol (docs/protocol.md) over WebSocket: start, stop, pause and\n"
      "resume runs, stream their telemetry, evaluate layer plans and run analyses.\n"
      "Prints one line \"dlab serve: listening on ws://HOST:PORT\" on stdout once bound.\n"
      "Examples:\n"
      "  dlab serve                                   # ws://127.0.0.1:<free port>\n"
      "  DLAB_TOKEN=s3cret dlab serve --listen 0.0.0.0:8765 --token-env DLAB_TOKEN\n"
      "  dlab serve --listen 0.0.0.0:8765 --token-file tok --tls-cert c.pem --tls-key k.pem\n"
      "  dlab serve --data /srv/corpora --max-runs 2   # clients may train on /srv/corpora/*\n"
      "Limits: a start request's config may name local paths (data.corpus, data.tokenizer,\n"
      "data.cache_dir) only inside --runs and the --data folders; at most --max-runs runs\n"
      "and --max-ranks ranks train at once; each client has at most 4 analyses pending and\n"
      "is disconnected past --client-queue-mib of unread replies (docs/protocol.md).");
  app.add_option("--listen", a->listen,
                 "HOST:PORT to bind (port 0 = any free one); a non-loopback host needs a token")
      ->capture_default_str();
  app.add_option("--token-file", a->token_file, "file whose content (trimmed) is the token");
  app.add_option("--token-env", a->token_env, "environment variable holding the token");
  app.add_option("--tls-cert", a->tls_cert, "PEM certificate: serve wss:// instead of ws://");
  app.add_option("--tls-key", a->tls_key, "PEM private key (RSA or EC) of --tls-cert");
  app.add_option("--runs", a->runs,
                 "directory of runs (new runs go here; clients may name paths inside it)")
      ->capture_default_str();
  app.add_option("--data", a->data,
                 "a folder whose files clients may name in a start request's config "
                 "(data.corpus, data.tokenizer, data.cache_dir); repeatable. Paths outside "
                 "these folders and --runs are refused (symlinks and .. resolved first); the "
                 "server's own defaults (@synthetic, @demo, byte, bpe, its cache) always work")
      ->check(CLI::ExistingDirectory);
  app.add_option("--max-runs", a->max_runs,
                 "runs training at the same time; a start beyond it is refused (busy) and the "
                 "live runs go on")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--max-ranks", a->max_ranks,
                 "data-parallel ranks of one run, and of all live runs together (each rank past "
                 "the first is a child process)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--client-backlog-mib", a->client_backlog_mib,
                 "unsent bytes per client (MiB) beyond which its oldest telemetry is dropped "
                 "(it is told so; training is never slowed)")
      ->check(CLI::Range(0.01, 4096.0))
      ->capture_default_str();
  app.add_option("--client-queue-mib", a->client_queue_mib,
                 "unsent bytes per client (MiB) beyond which a client that does not read its "
                 "replies is told (too_slow) and disconnected; at least --client-backlog-mib")
      ->check(CLI::Range(0.01, 65536.0))
      ->capture_default_str();
  return [a] { return serve_main(*a); };
}

}  // namespace dlab::cli
