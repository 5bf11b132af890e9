#include "serve/session_server.h"

#include <torch/torch.h>
#include <unistd.h>

#include <QFile>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <algorithm>
#include <iostream>
#include <thread>

#include "analysis/jobs.h"
#include "analysis/result.h"
#include "analysis/source.h"
#include "common/config_io.h"
#include "common/config_json.h"
#include "common/config_resources.h"
#include "common/config_schema.h"
#include "common/config_validate.h"
#include "common/error.h"
#include "common/presets.h"
#include "devices.h"
#include "model/device.h"
#include "run_paths.h"
#include "store/analysis_codec.h"
#include "store/analysis_file.h"
#include "store/run_summary.h"
#include "store/step_files.h"

namespace dlab::serve {

using protocol::ErrorCode;
using protocol::Message;
using json = nlohmann::json;
namespace msg = protocol::type;
using Clock = std::chrono::steady_clock;

namespace {

// A request that cannot be served, with the code its error reply carries.
struct RequestError {
  ErrorCode code;
  std::string text;
};

Message reply(const std::string& type, const Message& request, json body = json::object()) {
  Message m;
  m.type = type;
  m.id = request.id;
  m.run = request.run;
  m.body = std::move(body);
  return m;
}

// "<key>=<value> <what is wrong>; ..." -> {"field": key, "message": text}.
// A parse error of the config object reads "body.config: <key>=<value> ...":
// the key after that prefix is the field.
json field_error(const std::string& text) {
  const std::string origin = "body.config: ";
  const size_t from = text.rfind(origin, 0) == 0 ? origin.size() : 0;
  const size_t eq = text.find('=', from);
  const size_t space = text.find(' ', from);
  const std::string field =
      eq != std::string::npos && eq < space ? text.substr(from, eq - from) : "";
  return {{"field", field}, {"message", text}};
}

// Block position `key` of `obj` (a plan entry or a jacobian body) as an int,
// checked as int64 against the model's L blocks first: 2^40 is refused, not
// truncated to 0. `at` prefixes the field name ("body.", "body.plan[2].").
int layer_position(const json& obj, const char* key, const std::string& at, int n_layers) {
  const int64_t p = obj.at(key).get<int64_t>();
  if (p < 0 || p >= n_layers) {
    throw Error(at + key + "=" + std::to_string(p) + " out of range; 0.." +
                std::to_string(n_layers - 1) + " (the model has " + std::to_string(n_layers) +
                " blocks)");
  }
  return int(p);
}

// A preset by name only: preset_load() also reads any .toml path, and a
// client must not make the server read its files (client_paths.h).
std::string preset_name(const std::string& name) {
  const std::vector<std::string> names = preset_names();
  if (std::find(names.begin(), names.end(), name) != names.end()) return name;
  std::string list;
  for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
  throw Error("body.preset=" + printable_text(name) + " is not a preset of this server; one of " +
              list + " (or send the config itself as body.config)");
}

}  // namespace

bool token_equal(const std::string& a, const std::string& b) {
  // Every byte of the longer string is visited whatever the contents.
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

SessionServer::SessionServer(ServerOptions options)
    : options_(std::move(options)),
      paths_(options_.runs_dir, options_.data_dirs),
      runs_(options_.runs_dir, options_.replay_capacity) {
  server_ = new QWebSocketServer(
      QStringLiteral("dlab serve"),
      options_.tls_cert.empty() ? QWebSocketServer::NonSecureMode : QWebSocketServer::SecureMode,
      &context_);
  QObject::connect(server_, &QWebSocketServer::newConnection, &context_,
                   [this] { on_connection(); });
  timer_.setInterval(options_.tick_ms);
  QObject::connect(&timer_, &QTimer::timeout, &context_, [this] { tick(); });
}

SessionServer::~SessionServer() {
  // A running analysis stops at its next progress tick while the runs stop
  // at their next step (or evaluation batch): shutdown waits for neither.
  worker_.quit();
  timer_.stop();
  for (auto& [id, c] : clients_) {
    // abort() emits disconnected at once; that handler must not erase from
    // clients_ while this loop walks it.
    QObject::disconnect(c->socket, nullptr, &context_, nullptr);
    c->socket->abort();
  }
  runs_.stop_all();
}

QString SessionServer::listen() {
  if (!options_.tls_cert.empty()) {
    QFile cert_file(QString::fromStdString(options_.tls_cert));
    QFile key_file(QString::fromStdString(options_.tls_key));
    if (!cert_file.open(QIODevice::ReadOnly)) {
      throw Error("--tls-cert " + options_.tls_cert + ": cannot read the file");
    }
    if (!key_file.open(QIODevice::ReadOnly)) {
      throw Error("--tls-key " + options_.tls_key + ": cannot read the file");
    }
    const QSslCertificate cert(cert_file.readAll(), QSsl::Pem);
    const QByteArray key_pem = key_file.readAll();
    QSslKey key(key_pem, QSsl::Rsa, QSsl::Pem);
    if (key.isNull()) key = QSslKey(key_pem, QSsl::Ec, QSsl::Pem);
    if (cert.isNull()) throw Error("--tls-cert " + options_.tls_cert + ": not a PEM certificate");
    if (key.isNull()) throw Error("--tls-key " + options_.tls_key + ": not a PEM RSA or EC key");
    QSslConfiguration conf = QSslConfiguration::defaultConfiguration();
    conf.setLocalCertificate(cert);
    conf.setPrivateKey(key);
    conf.setPeerVerifyMode(QSslSocket::VerifyNone);
    server_->setSslConfiguration(conf);
  }
  if (!server_->listen(options_.address, options_.port)) {
    throw Error("cannot listen on " + options_.address.toString().toStdString() + ":" +
                std::to_string(options_.port) + ": " + server_->errorString().toStdString());
  }
  timer_.start();
  QString host = server_->serverAddress().toString();
  if (server_->serverAddress().protocol() == QAbstractSocket::IPv6Protocol) host = "[" + host + "]";
  return QString(options_.tls_cert.empty() ? "ws://" : "wss://") + host + ":" +
         QString::number(server_->serverPort());
}

SessionServer::Client* SessionServer::client(int64_t id) {
  const auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : it->second.get();
}

void SessionServer::on_connection() {
  while (QWebSocket* socket = server_->nextPendingConnection()) {
    auto c = std::make_unique<Client>();
    c->id = next_client_++;
    c->socket = socket;
    c->tokens = 2.0 * options_.requests_per_second;
    c->refill = c->connected = Clock::now();
    // Oversize messages close the socket with 1009 (CloseCodeTooMuchData).
    socket->setMaxAllowedIncomingMessageSize(protocol::kMaxMessageBytes);
    socket->setMaxAllowedIncomingFrameSize(protocol::kMaxMessageBytes);
    const int64_t id = c->id;
    QObject::connect(socket, &QWebSocket::textMessageReceived, &context_,
                     [this, id](const QString& text) {
                       if (Client* cl = client(id)) on_message(*cl, text.toStdString(), false);
                     });
    QObject::connect(socket, &QWebSocket::binaryMessageReceived, &context_,
                     [this, id](const QByteArray& data) {
                       if (Client* cl = client(id)) {
                         on_message(*cl, std::string(data.constData(), size_t(data.size())), true);
                       }
                     });
    QObject::connect(socket, &QWebSocket::bytesWritten, &context_, [this, id](qint64 n) {
      if (Client* cl = client(id)) cl->backlog = std::max<int64_t>(0, cl->backlog - n);
    });
    QObject::connect(socket, &QWebSocket::disconnected, &context_, [this, id] {
      const auto it = clients_.find(id);
      if (it == clients_.end()) return;
      worker_.cancel_client(id);  // nobody will read those results
      it->second->socket->deleteLater();
      clients_.erase(it);  // its runs keep training
    });
    clients_[id] = std::move(c);
  }
}

void SessionServer::send(Client& c, const Message& m) {
  // Telemetry gives way at client_backlog_bytes (flush()); replies cannot be
  // dropped, so a client that keeps asking and never reads would make this
  // queue grow without end. Past client_queue_bytes it is dropped instead:
  // what one client costs is bounded by that plus one message.
  if (c.dropping) return;
  if (c.backlog > options_.client_queue_bytes) return drop_slow_client(c);
  const std::string text = protocol::encode_json(m);
  c.backlog += c.socket->sendTextMessage(QString::fromStdString(text));
}

void SessionServer::drop_slow_client(Client& c) {
  c.dropping = true;
  worker_.cancel_client(c.id);
  std::cerr << "dlab serve: client " << c.id << " dropped: " << c.backlog
            << " bytes unsent (--client-queue-mib)\n";
  // Told if it ever reads again: an error, then the close frame. If it has not
  // closed within a second the connection is aborted, freeing its queue.
  const std::string why = "too_slow: " + std::to_string(c.backlog) +
                          " bytes of replies unsent, more than " +
                          std::to_string(options_.client_queue_bytes) +
                          " (--client-queue-mib); read your replies. Closing the connection";
  c.socket->sendTextMessage(QString::fromStdString(
      protocol::encode_json(protocol::error_message(ErrorCode::TooSlow, why))));
  // Both later, from the event loop: close() and abort() may emit
  // disconnected at once, whose handler deletes the Client that the caller
  // of send() is still using.
  const int64_t id = c.id;
  const QString reason = QString::fromStdString(why.substr(0, 120));
  QTimer::singleShot(0, &context_, [this, id, reason] {
    if (Client* cl = client(id))
      cl->socket->close(QWebSocketProtocol::CloseCodePolicyViolated, reason);
  });
  QTimer::singleShot(1000, &context_, [this, id] {
    if (Client* cl = client(id)) cl->socket->abort();
  });
}

void SessionServer::send_error(Client& c, ErrorCode code, const std::string& text, int64_t id) {
  send(c, protocol::error_message(code, text, id));
}

void SessionServer::on_message(Client& c, const std::string& bytes, bool binary) {
  if (c.dropping) return;  // being closed for not reading: nothing more is answered
  if (!c.authenticated) {
    // Before hello succeeds nothing is answered: the connection closes with a reason.
    const protocol::DecodeResult d = protocol::decode(bytes, binary);
    if (!d.ok || d.message.type != msg::kHello) {
      c.socket->close(QWebSocketProtocol::CloseCodePolicyViolated,
                      "auth_required: the first message must be a valid hello");
      return;
    }
    const auto token = d.message.body.find("token");
    const std::string given = token == d.message.body.end() ? "" : token->get<std::string>();
    if (!options_.token.empty() && !token_equal(given, options_.token)) {
      c.socket->close(QWebSocketProtocol::CloseCodePolicyViolated,
                      "auth_failed: wrong or missing token");
      return;
    }
    c.authenticated = true;
    c.cbor = d.message.body.value("telemetry", std::string("cbor")) == "cbor";
    send(c, reply(msg::kServerInfo, d.message, server_info()));
    return;
  }
  // Token bucket: requests_per_second, bursts of twice that.
  const Clock::time_point now = Clock::now();
  const double rate = options_.requests_per_second;
  c.tokens =
      std::min(2.0 * rate, c.tokens + rate * std::chrono::duration<double>(now - c.refill).count());
  c.refill = now;
  if (c.tokens < 1.0) {
    send_error(c, ErrorCode::RateLimited,
               "more than " + std::to_string(options_.requests_per_second) +
                   " requests per second; this request was dropped",
               -1);
    return;
  }
  c.tokens -= 1.0;
  const protocol::DecodeResult d = protocol::decode(bytes, binary);
  if (!d.ok) {
    send_error(c, d.code, d.error, d.message.id);  // the id when it could be read
    return;
  }
  try {
    dispatch(c, d.message);
  } catch (const RequestError& e) {
    send_error(c, e.code, e.text, d.message.id);
  } catch (const std::exception& e) {
    send_error(c, ErrorCode::Internal, e.what(), d.message.id);
  }
}

void SessionServer::dispatch(Client& c, const Message& m) {
  const std::string& t = m.type;
  if (t == msg::kHello) throw RequestError{ErrorCode::Conflict, "already authenticated"};
  if (t == msg::kPing) return send(c, reply(msg::kPong, m));
  if (t == msg::kServerInfo) return send(c, reply(msg::kServerInfo, m, server_info()));
  if (t == msg::kListRuns) return send(c, reply(msg::kRuns, m, list_runs()));
  if (t == msg::kStart) return start(c, m);
  if (t == msg::kContinue) return continue_run(c, m);
  if (t == msg::kSweep) return sweep(c, m);
  if (t == msg::kListSweeps) return send(c, reply(msg::kSweeps, m, list_sweeps()));
  if (t == msg::kCancelSweep) return cancel_sweep(c, m);
  if (t == msg::kSubscribe) return subscribe(c, m);
  if (t == msg::kUnsubscribe) {
    c.next_seq.erase(m.run);
    c.sent_state.erase(m.run);
    return send(c, reply(msg::kOk, m));
  }
  if (t == msg::kEvaluate || t == msg::kAnalyze || t == msg::kJacobian) return post_job(c, m);
  // stop / pause / resume
  LiveRun* run = runs_.find(m.run);
  if (!run) throw RequestError{ErrorCode::NotFound, "no live run \"" + m.run + "\" on this server"};
  if (run->ended.load()) {
    throw RequestError{ErrorCode::Conflict, "run \"" + m.run + "\" has already ended (" +
                                                run_state_name(run->state()) + ")"};
  }
  // Rank 0 holding still would leave the other ranks waiting in a collective
  // until their timeout, so a data-parallel run cannot pause.
  if (t == msg::kPause && run->ranks > 1) {
    throw RequestError{ErrorCode::Conflict, "run \"" + m.run + "\" trains on " +
                                                std::to_string(run->ranks) +
                                                " ranks and cannot pause; stop it instead (it "
                                                "checkpoints; `dlab launch --nproc N -- train "
                                                "--resume <run dir>` continues it)"};
  }
  if (t == msg::kStop) run->stop.store(true);
  if (t == msg::kPause) run->pause.store(true);
  if (t == msg::kResume) run->pause.store(false);
  send(c, reply(msg::kOk, m,
                {{"state", t == msg::kStop ? "stopping" : run_state_name(run->state())}}));
}

json SessionServer::server_info() const {
  // Asked afresh for each hello: free GPU memory changes (no CUDA context is made).
  const cli::DeviceList devices = cli::devices_list();
  // Where a client's config may name files (docs/protocol.md, "Paths").
  json data_dirs = json::array();
  for (const auto& root : paths_.roots()) data_dirs.push_back(root.string());
  return {{"server", "dlab " DEPTHLAB_VERSION},
          {"protocol", protocol::kVersion},
          {"devices", devices.devices},
          {"cuda_problem", devices.cuda_problem},
          {"presets", preset_names()},
          {"runs_dir", options_.runs_dir.string()},
          {"limits",
           {{"max_message_bytes", protocol::kMaxMessageBytes},
            {"max_pending_jobs", options_.max_pending_jobs},
            {"requests_per_second", options_.requests_per_second},
            {"replay_capacity", options_.replay_capacity},
            {"telemetry_period_ms", options_.tick_ms},
            {"max_ranks", options_.max_ranks},
            {"max_runs", options_.max_runs},
            {"max_samples", protocol::kMaxSamples},
            {"client_queue_bytes", options_.client_queue_bytes}}},
          {"data_dirs", data_dirs}};
}

json SessionServer::list_runs() {
  json list = json::array();
  std::error_code ec;
  std::vector<std::filesystem::path> dirs;
  for (const auto& e : std::filesystem::directory_iterator(options_.runs_dir, ec)) {
    if (std::filesystem::exists(e.path() / "run.h5", ec)) dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());
  for (const auto& dir : dirs) {
    const std::string name = dir.filename().string();
    json steps = json::array();
    for (const auto& [step, path] : step_files_list(dir / "checkpoints")) steps.push_back(step);
    LiveRun* live = runs_.find(name);
    json r = {{"name", name},
              {"checkpoints", steps},
              {"state", live ? run_state_name(live->state()) : "stored"}};
    if (live) {
      r["step"] = live->step.load();
      r["ranks"] = live->ranks;
    }
    // Where the run stood when it last checkpointed or ended (summary.json, a
    // small JSON file: no run.h5 is opened to answer).
    if (const std::optional<RunSummary> s = run_summary_read(dir))
      r["summary"] = run_summary_json(*s);
    list.push_back(std::move(r));
  }
  return {{"runs", list}};
}

Config SessionServer::requested_config(const Message& m, json& errors) const {
  Config config;
  try {
    if (m.body.contains("config")) {
      config = config_from_json(m.body["config"].dump(), "body.config");
    } else {
      config = preset_load(preset_name(m.body["preset"].get<std::string>()));
    }
    for (const auto& s : m.body.value("set", json::array()))
      config_set(config, s.get<std::string>());
  } catch (const Error& e) {
    errors.push_back(field_error(e.what()));
  }
  return config;
}

int SessionServer::requested_ranks(const Message& m) const {
  // int64 until checked (the decoder made sure it is an integer >= 1).
  const int64_t ranks = m.body.value("ranks", int64_t(1));
  if (ranks < 1 || ranks > options_.max_ranks) {
    throw RequestError{ErrorCode::BadField,
                       "body.ranks=" + std::to_string(ranks) + " out of range; 1.." +
                           std::to_string(options_.max_ranks) +
                           " data-parallel processes on this machine (limits.max_ranks)"};
  }
  return int(ranks);
}

void SessionServer::start(Client& c, const Message& m) {
  json errors = json::array();
  Config config = requested_config(m, errors);
  if (errors.empty()) errors = config_problems(config);
  if (!errors.empty()) return send_invalid_config(c, m, errors);
  const int ranks = requested_ranks(m);
  check_run_caps(ranks);
  LiveRun& run = runs_.start(config, ranks);
  send_started(c, m, run);
}

void SessionServer::sweep(Client& c, const Message& m) {
  json errors = json::array();
  const Config base = requested_config(m, errors);
  if (!errors.empty()) return send_invalid_config(c, m, errors);
  const std::string text = m.body["sweep"].get<std::string>();
  std::vector<Config> configs;
  try {
    configs = config_expand_sweep(base, text);
  } catch (const Error& e) {
    throw RequestError{ErrorCode::BadField, "body.sweep: " + std::string(e.what())};
  }
  if (configs.size() > SweepQueue::kMaxMembers) {
    throw RequestError{ErrorCode::BadField, "body.sweep lists " + std::to_string(configs.size()) +
                                                " values; a sweep has at most " +
                                                std::to_string(SweepQueue::kMaxMembers) + " runs"};
  }
  const int ranks = requested_ranks(m);
  // Every member is checked now, so a sweep does not stop half way on a value
  // its first runs did not reveal; each problem names its run.
  // config_expand_sweep accepted the key: it names a field.
  std::string key = text.substr(0, text.find('='));
  key.erase(0, key.find_first_not_of(" \t"));
  key.erase(key.find_last_not_of(" \t") + 1);
  const ConfigField* field = config_field_find(key);
  std::vector<SweepMember> members;
  for (Config& config : configs) {
    for (json problem : config_problems(config)) {
      problem["message"] = config.run.name + ": " + problem["message"].get<std::string>();
      errors.push_back(std::move(problem));
    }
    SweepMember member;
    member.value = field ? field->get(config) : "";
    member.config = config;
    members.push_back(std::move(member));
  }
  if (!errors.empty()) return send_invalid_config(c, m, errors);
  Sweep& queued = sweeps_.add(key, std::move(members), ranks);
  // Its first run starts now when the caps allow; the reply goes before the
  // sweep_state every client gets, so the asker knows the sweep is its own.
  const std::vector<Sweep*> changed = sweeps_.advance(can_start_run());
  send(c, reply(msg::kSweepQueued, m, SweepQueue::describe(queued)));
  send_sweep_states(changed);
}

void SessionServer::cancel_sweep(Client& c, const Message& m) {
  const std::string id = m.body["sweep"].get<std::string>();
  Sweep* s = sweeps_.find(id);
  if (!s) {
    throw RequestError{ErrorCode::NotFound,
                       "no sweep \"" + printable_text(id) + "\" on this server (list_sweeps)"};
  }
  try {
    sweeps_.cancel(*s);
  } catch (const Error& e) {
    throw RequestError{ErrorCode::Conflict, e.what()};
  }
  send(c, reply(msg::kOk, m, {{"state", "cancelled"}, {"sweep", SweepQueue::describe(*s)}}));
  advance_sweeps();
}

json SessionServer::list_sweeps() const {
  json list = json::array();
  for (const Sweep* s : sweeps_.list()) list.push_back(SweepQueue::describe(*s));
  return {{"sweeps", list}};
}

std::function<bool(int)> SessionServer::can_start_run() const {
  return [this](int ranks) {
    try {
      check_run_caps(ranks);
      return true;
    } catch (const RequestError&) {
      return false;
    }
  };
}

void SessionServer::advance_sweeps() { send_sweep_states(sweeps_.advance(can_start_run())); }

void SessionServer::send_sweep_states(const std::vector<Sweep*>& changed) {
  for (Sweep* s : changed) {
    Message m;
    m.type = msg::kSweepState;
    m.body = SweepQueue::describe(*s);
    for (auto& [id, c] : clients_) {
      if (c->authenticated && !c->dropping) send(*c, m);
    }
  }
}

void SessionServer::send_invalid_config(Client& c, const Message& m, const json& fields) {
  Message e = protocol::error_message(ErrorCode::InvalidConfig,
                                      "the config is not valid (see fields)", m.id);
  e.body["fields"] = fields;
  send(c, e);
}

void SessionServer::send_started(Client& c, const Message& m, const LiveRun& run) {
  Message r = reply(msg::kStarted, m,
                    {{"dir", run.dir.string()},
                     {"total_steps", run.total_steps},
                     {"ranks", run.ranks},
                     {"config", json::parse(config_to_json(run.config))}});
  r.run = run.name;
  send(c, r);
}

json SessionServer::config_problems(Config& config) const {
  json errors = json::array();
  for (const std::string& problem : config_validate(config)) errors.push_back(field_error(problem));
  if (errors.empty()) {  // a device this server can use (run.device=cuda on a CPU-only build: no)
    if (const std::string problem = device_problem(config.run.device); !problem.empty())
      errors.push_back(field_error(problem));
  }
  if (errors.empty()) {  // the paths it names: inside the runs and --data folders only
    for (const std::string& problem : paths_.confine(config))
      errors.push_back(field_error(problem));
  }
  if (errors.empty()) {
    try {  // before anything is allocated: does it fit this machine?
      config_check_resources(config, Workload::Training);
    } catch (const Error& e) {
      errors.push_back(field_error(e.what()));
    }
  }
  return errors;
}

// `dlab train --resume DIR --set ...` through the server: a run that is not
// live trains on from its newest intact checkpoint, with the config in its
// run.h5 and the `set` overrides (train.steps or train.tokens to go further).
void SessionServer::continue_run(Client& c, const Message& m) {
  const std::filesystem::path dir = stored_run_dir(m);
  if (LiveRun* live = runs_.find(m.run); live && !live->ended.load()) {
    throw RequestError{ErrorCode::Conflict, "run \"" + m.run + "\" is " +
                                                run_state_name(live->state()) +
                                                "; it can be continued once it has ended"};
  }
  if (step_files_list(dir / "checkpoints").empty()) {
    throw RequestError{ErrorCode::NotFound, "run \"" + m.run +
                                                "\" has no checkpoint to continue from; start "
                                                "it again instead"};
  }
  // One rank: the server's data-parallel children learn a new run's directory
  // from rank 0, which a resumed run does not claim.
  if (m.body.value("ranks", int64_t(1)) != 1) {
    throw RequestError{ErrorCode::BadField,
                       "body.ranks: continue trains on 1 rank; to continue on N ranks run "
                       "`dlab launch --nproc N -- train --resume " +
                           dir.string() + "` on the worker's machine"};
  }
  // Its name and folder are the run's own: an override of either would be ignored.
  for (const auto& s : m.body.value("set", json::array())) {
    const std::string kv = s.get<std::string>();
    const std::string key = kv.substr(0, kv.find('='));
    if (key == "run.name" || key == "run.dir") {
      throw RequestError{ErrorCode::BadField, "body.set: " + key +
                                                  " cannot change: a continued run keeps its "
                                                  "name and folder (start a new run instead)"};
    }
  }
  Config config;
  json errors = json::array();
  try {
    config = cli::resume_config(dir);
    for (const auto& s : m.body.value("set", json::array()))
      config_set(config, s.get<std::string>());
    // Where it is now, whatever its run.h5 says it was started as.
    config.run.dir = options_.runs_dir.string();
    config.run.name = m.run;
  } catch (const Error& e) {
    errors.push_back(field_error(e.what()));
  }
  if (errors.empty()) errors = config_problems(config);
  if (!errors.empty()) return send_invalid_config(c, m, errors);
  check_run_caps(1);
  LiveRun& run = runs_.resume(dir, config);
  send_started(c, m, run);
}

void SessionServer::check_run_caps(int ranks) const {
  const int live = runs_.live_runs();
  if (live >= options_.max_runs) {
    throw RequestError{ErrorCode::Busy,
                       "busy: " + std::to_string(live) + " runs are live on this server, at most " +
                           std::to_string(options_.max_runs) +
                           " (dlab serve --max-runs, limits.max_runs); stop one or wait until "
                           "one ends"};
  }
  const int used = runs_.live_ranks();
  if (used + ranks > options_.max_ranks) {
    throw RequestError{
        ErrorCode::Busy,
        "busy: body.ranks=" + std::to_string(ranks) + " with the " + std::to_string(used) +
            " ranks of the live runs exceeds " + std::to_string(options_.max_ranks) +
            " (dlab serve --max-ranks, limits.max_ranks); stop a run or ask for fewer ranks"};
  }
}

void SessionServer::subscribe(Client& c, const Message& m) {
  LiveRun* run = runs_.find(m.run);
  if (!run) throw RequestError{ErrorCode::NotFound, "no live run \"" + m.run + "\" on this server"};
  const int64_t next = run->hub.next_seq();
  const int64_t from = m.body.value("from_seq", run->hub.oldest_seq());
  if (from < 1 || from > next) {
    throw RequestError{ErrorCode::BadField, "body.from_seq=" + std::to_string(from) +
                                                " out of range; 1.." + std::to_string(next)};
  }
  send(c, reply(msg::kSubscribed, m,
                {{"from_seq", from}, {"next_seq", next}, {"oldest_seq", run->hub.oldest_seq()}}));
  c.next_seq[m.run] = from;
  // As in tick(): state before rows, so an ended run's last rows precede its final state.
  const RunState state = run->state();
  run->hub.drain();
  flush(c, m.run);
  send_run_state(c, *run, state, /*force=*/true);
}

void SessionServer::flush(Client& c, const std::string& name) {
  if (c.dropping) return;
  LiveRun* run = runs_.find(name);
  auto it = c.next_seq.find(name);
  if (!run || it == c.next_seq.end()) return;
  int64_t& next = it->second;
  const auto frames = run->hub.frames_from(next);
  if (frames.empty()) return;
  if (frames.front()->seq > next) {
    // Older than the replay buffer: the client reads those steps from run.h5.
    Message gap;
    gap.type = msg::kTelemetryGap;
    gap.run = name;
    gap.body = {{"from_seq", next}, {"to_seq", frames.front()->seq - 1}};
    send(c, gap);
  }
  int64_t dropped_from = -1, dropped_to = -1;
  for (const auto& f : frames) {
    if (c.dropping) return;  // the gap message above passed client_queue_bytes
    if (c.backlog > options_.client_backlog_bytes) {
      if (dropped_from < 0) dropped_from = f->seq;
      dropped_to = f->seq;
      continue;
    }
    c.backlog +=
        c.cbor ? c.socket->sendBinaryMessage(QByteArray(
                     reinterpret_cast<const char*>(f->cbor.data()), qsizetype(f->cbor.size())))
               : c.socket->sendTextMessage(QString::fromStdString(f->json));
  }
  next = frames.back()->seq + 1;
  if (dropped_from >= 0) {
    Message drop;
    drop.type = msg::kTelemetryDropped;
    drop.run = name;
    drop.body = {{"from_seq", dropped_from}, {"to_seq", dropped_to}};
    send(c, drop);
  }
}

void SessionServer::send_run_state(Client& c, LiveRun& run, RunState s, bool force) {
  const std::string name = run_state_name(s);
  auto& sent = c.sent_state[run.name];
  if (!force && sent == name) return;
  sent = name;
  Message m;
  m.type = msg::kRunState;
  m.run = run.name;
  m.body = {{"state", name}, {"step", run.step.load()}, {"total_steps", run.total_steps}};
  if (s != RunState::Running && s != RunState::Paused) m.body["message"] = run.state_message();
  send(c, m);
}

void SessionServer::tick() {
  // State first, then the rows: a run that has ended has pushed all of its
  // rows, so "finished" never overtakes its last telemetry.
  std::map<std::string, RunState> before;
  for (auto& [name, run] : runs_.runs()) {
    before[name] = run->state();
    run->hub.drain();
  }
  const Clock::time_point now = Clock::now();
  std::vector<int64_t> stale;
  for (auto& [id, c] : clients_) {
    if (!c->authenticated) {
      if (now - c->connected > std::chrono::seconds(10)) stale.push_back(id);
      continue;
    }
    for (auto& [name, next] : c->next_seq) {
      flush(*c, name);
      if (LiveRun* run = runs_.find(name)) send_run_state(*c, *run, before[name], /*force=*/false);
    }
  }
  for (int64_t id : stale) {
    clients_[id]->socket->close(QWebSocketProtocol::CloseCodePolicyViolated,
                                "auth_required: no hello within 10 s");
  }
  // After the runs' final states went out: a client sees member k finish
  // before the sweep_state that starts member k+1.
  advance_sweeps();
}

std::filesystem::path SessionServer::stored_run_dir(const Message& m) const {
  // A run name is one directory of the runs folder: no separator, no leading
  // dot ("..") and no control character (a NUL would cut the path short).
  const bool control = std::any_of(m.run.begin(), m.run.end(), [](char ch) {
    return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
  });
  if (m.run.find('/') != std::string::npos || m.run.find('\\') != std::string::npos ||
      m.run[0] == '.' || control) {
    throw RequestError{ErrorCode::NotFound,
                       "run \"" + printable_text(m.run) + "\": not a run name"};
  }
  const std::filesystem::path dir = options_.runs_dir / m.run;
  std::error_code ec;
  if (!std::filesystem::exists(dir / "run.h5", ec)) {
    throw RequestError{ErrorCode::NotFound,
                       "no run \"" + m.run + "\" in " + options_.runs_dir.string()};
  }
  return dir;
}

std::filesystem::path SessionServer::checkpoint_for(const Message& m) const {
  const std::filesystem::path dir = stored_run_dir(m);
  const auto steps = step_files_list(dir / "checkpoints");
  if (steps.empty())
    throw RequestError{ErrorCode::NotFound, "run \"" + m.run + "\" has no checkpoint yet"};
  if (!m.body.contains("checkpoint_step")) return steps.back().second;
  const int64_t want = m.body["checkpoint_step"].get<int64_t>();
  std::string have;
  for (const auto& [step, path] : steps) {
    if (step == want) return path;
    have += (have.empty() ? "" : ", ") + std::to_string(step);
  }
  throw RequestError{ErrorCode::NotFound, "body.checkpoint_step=" + std::to_string(want) +
                                              ": run \"" + m.run + "\" has checkpoints " + have};
}

void SessionServer::post_job(Client& c, const Message& m) {
  if (c.pending_jobs >= options_.max_pending_jobs) {
    throw RequestError{ErrorCode::Busy,
                       "busy: " + std::to_string(c.pending_jobs) +
                           " evaluate/analyze/jacobian requests of this connection are queued or "
                           "running; at most " +
                           std::to_string(options_.max_pending_jobs) +
                           " (limits.max_pending_jobs): wait for a reply before sending more"};
  }
  const std::filesystem::path checkpoint = checkpoint_for(m);
  // Checked as int64 before it becomes an int (the decoder checks it too).
  const int64_t samples64 = m.body.value("samples", int64_t(16));
  if (samples64 < 1 || samples64 > protocol::kMaxSamples) {
    throw RequestError{ErrorCode::BadField, "body.samples=" + std::to_string(samples64) +
                                                " out of range; an integer in 1.." +
                                                std::to_string(protocol::kMaxSamples)};
  }
  const int samples = int(samples64);
  ++c.pending_jobs;
  const int64_t cid = c.id;
  // Runs on the server thread: delivers one message of the job to its client.
  auto deliver = [this, cid](Message out, bool last) {
    QMetaObject::invokeMethod(
        &context_,
        [this, cid, out = std::move(out), last] {
          Client* cl = client(cid);
          if (!cl) return;  // gone: the result is dropped (analyses are also stored)
          if (last) --cl->pending_jobs;
          send(*cl, out);
        },
        Qt::QueuedConnection);
  };
  worker_.post(cid, [m, checkpoint, samples, deliver](AnalysisWorker& w) {
    // Every analysis reports progress: that is where a job notices that its
    // client has gone or the server is stopping.
    const AnalysisProgress cancel_point = [&w](const std::string&, double) { w.check_cancelled(); };
    try {
      int64_t step = 0;
      Analyzer& a = w.analyzer(checkpoint, samples, &step);
      json body = {{"checkpoint_step", step}, {"samples", samples}};
      if (m.type == msg::kEvaluate) {
        // Decoded here (field names, positions checked against L), built in core/analysis.
        std::vector<PlanOp> ops;
        const json& plan_json = m.body["plan"];
        for (size_t i = 0; i < plan_json.size(); ++i) {
          const json& e = plan_json[i];
          const std::string at = "body.plan[" + std::to_string(i) + "].";
          PlanOp op;
          op.op = e["op"].get<std::string>();
          if (op.op == "swap") {
            op.i = layer_position(e, "i", at, a.n_layers());
            op.j = layer_position(e, "j", at, a.n_layers());
          } else {
            op.position = layer_position(e, "position", at, a.n_layers());
          }
          ops.push_back(op);
        }
        const LayerPlan plan = plan_build(a, ops, [&w] { w.check_cancelled(); });
        const EvalResult r = a.evaluate(plan);
        body["loss"] = r.loss;
        body["delta_loss"] = r.delta_loss;
        body["base_loss"] = r.loss - r.delta_loss;
        body["hidden_change"] = r.hidden_change;
        body["plan"] = r.plan;
        deliver(reply(msg::kEvaluation, m, body), true);
      } else if (m.type == msg::kJacobian) {
        const int p = layer_position(m.body, "position", "body.", a.n_layers());
        const int js = std::min(samples, 4);
        const JacobianLayers jl = a.jacobians(js, cancel_point);
        const torch::Tensor J = jl.matrix[size_t(p)].contiguous().to(torch::kFloat32);  // (d, d)
        const float* data = J.data_ptr<float>();
        body["position"] = p;
        body["jacobian_samples"] = js;
        body["rows"] = J.size(0);
        body["cols"] = J.size(1);
        body["values"] = std::vector<float>(data, data + J.numel());
        deliver(reply(msg::kJacobian, m, body), true);
      } else {                // analyze
        AnalysisRequest req;  // every analysis unless body.analyses names some
        if (m.body.contains("analyses")) {
          req = analysis_request_for(m.body["analyses"].get<std::vector<std::string>>(),
                                     "body.analyses");
        }
        req.jacobian_samples = std::min(samples, 4);
        auto last = Clock::now() - std::chrono::seconds(1);
        AnalysisResult r = a.analyze(req, [&](const std::string& stage, double f) {
          w.check_cancelled();
          const auto now = Clock::now();
          if (now - last < std::chrono::milliseconds(100) && f < 1.0) return;  // <= 10/s
          last = now;
          deliver(reply(msg::kAnalysisProgress, m, {{"stage", stage}, {"fraction", f}}), false);
        });
        r.checkpoint = checkpoint.string();
        r.step = step;
        const std::filesystem::path stored = analysis_store(r, checkpoint, step);
        body["stored"] = stored.string();
        body["result"] = json::parse(analysis_to_json(r, -1));
        // The file's arrays, Jacobian matrices included, for a client that cannot read
        // `stored` (store/analysis_codec.h).
        body["arrays"] = json::parse(analysis_file_to_json(analysis_to_file(r)));
        deliver(reply(msg::kAnalysisResult, m, body), true);
      }
    } catch (const AnalysisWorker::Cancelled& e) {
      deliver(protocol::error_message(ErrorCode::Internal, e.what(), m.id), true);
    } catch (const Error& e) {
      deliver(protocol::error_message(ErrorCode::BadField, e.what(), m.id), true);
    } catch (const std::exception& e) {
      deliver(protocol::error_message(ErrorCode::Internal, e.what(), m.id), true);
    }
  });
}

}  // namespace dlab::serve
