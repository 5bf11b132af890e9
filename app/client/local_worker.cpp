#include "local_worker.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QProcessEnvironment>
#include <QRandomGenerator>
#include <QStandardPaths>
#include <QTimer>

#include <csignal>
#include <sys/prctl.h>
#include <unistd.h>

#include "protocol/message_types.h"

namespace dlab::client {

namespace {
constexpr const char* kTokenVariable = "DEPTHLAB_WORKER_TOKEN";

// Removes the complete lines (up to their '\n') from `buffer` and returns them;
// a partial last line stays for the next read.
QStringList lines_take(QByteArray& buffer) {
  QStringList lines;
  qsizetype nl;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    lines << QString::fromUtf8(buffer.left(nl));
    buffer.remove(0, nl + 1);
  }
  return lines;
}
}  // namespace

QString dlab_binary_find() {
  const QString env = qEnvironmentVariable("DEPTHLAB_DLAB");
  if (!env.isEmpty()) return QFileInfo(env).isExecutable() ? env : QString();
  const QString here = QCoreApplication::applicationDirPath();
  for (const QString& candidate : {here + "/dlab", here + "/../dlab/dlab"}) {
    if (QFileInfo(candidate).isExecutable()) return QFileInfo(candidate).canonicalFilePath();
  }
  return QStandardPaths::findExecutable("dlab");
}

LocalWorker::LocalWorker(QObject* parent) : QObject(parent) {
  connect(&process_, &QProcess::readyReadStandardOutput, this, &LocalWorker::readStdout);
  connect(&process_, &QProcess::readyReadStandardError, this, &LocalWorker::readStderr);
  connect(&process_, &QProcess::errorOccurred, this, [this](QProcess::ProcessError e) {
    if (e == QProcess::FailedToStart)
      fail(tr("could not start %1: %2").arg(process_.program(), process_.errorString()));
  });
  connect(&process_, &QProcess::finished, this, [this](int code, QProcess::ExitStatus status) {
    readStderr();
    fail(status == QProcess::CrashExit ? tr("the local worker crashed")
                                       : tr("the local worker exited with code %1").arg(code));
  });
}

LocalWorker::~LocalWorker() { stop(); }

void LocalWorker::start(const QString& dlab_binary, const QString& runs_dir) {
  if (dlab_binary.isEmpty()) {
    fail(tr("no dlab executable found (set DEPTHLAB_DLAB, or install dlab next to depthlab)"));
    return;
  }
  runs_dir_ = QDir(runs_dir).absolutePath();
  QDir().mkpath(runs_dir_);
  // 32 random bytes from the system's generator, as hex.
  QByteArray bytes(32, 0);
  QRandomGenerator::system()->fillRange(reinterpret_cast<quint32*>(bytes.data()), 8);
  token_ = QString::fromLatin1(bytes.toHex());
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  env.insert(kTokenVariable, token_);
  process_.setProcessEnvironment(env);
  process_.setProgram(dlab_binary);
  // The local worker serves only this user, who may train on any corpus of
  // their own: their home folder is a data folder (dlab serve refuses client
  // paths outside --runs and --data, docs/protocol.md).
  process_.setArguments({"serve", "--listen", "127.0.0.1:0", "--token-env", kTokenVariable,
                         "--runs", runs_dir_, "--data", QDir::homePath()});
  // The worker ends with this process however it ends (killed, crashed): the
  // kernel sends it SIGTERM when its parent dies, and it stops its runs with a
  // checkpoint, as on a normal close. Without this a killed GUI left a worker
  // training on, holding its runs. (The parent may die before prctl: then the
  // child's parent is no longer `parent` and it stops at once.)
  const pid_t parent = getpid();
  process_.setChildProcessModifier([parent] {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) raise(SIGTERM);
  });
  announced_ = false;
  process_.start();
  QTimer::singleShot(30000, this, [this] {
    if (!announced_ && running()) {
      fail(tr("the local worker printed no address within 30 s"));
      stop(2000);
    }
  });
}

void LocalWorker::stop(int timeout_ms) {
  if (process_.state() == QProcess::NotRunning) return;
  process_.disconnect(this);  // its exit is expected now
  process_.terminate();       // SIGTERM: live runs stop at a step boundary and checkpoint
  if (!process_.waitForFinished(timeout_ms)) {
    process_.kill();
    process_.waitForFinished(2000);
  }
}

void LocalWorker::readStdout() {
  out_buffer_ += process_.readAllStandardOutput();
  for (const QString& line : lines_take(out_buffer_)) {
    const std::string url = protocol::listening_url(line.toStdString());
    if (!announced_ && !url.empty()) {
      url_ = QUrl(QString::fromStdString(url));
      announced_ = true;
      Q_EMIT ready(url_, token_);
    }
  }
}

void LocalWorker::readStderr() {
  err_buffer_ += process_.readAllStandardError();
  for (QString line : lines_take(err_buffer_)) {
    // Progress lines use '\r'; keep the last state of each line.
    const qsizetype cr = line.lastIndexOf('\r', line.size() - 2);
    if (cr >= 0) line = line.mid(cr + 1);
    line = line.trimmed();
    if (line.isEmpty()) continue;
    log_.append(line);
    if (log_.size() > 200) log_.removeFirst();
    Q_EMIT logLine(line);
  }
}

void LocalWorker::fail(const QString& why) {
  QString message = why;
  if (!log_.isEmpty()) {
    message +=
        tr("; its last messages:\n") + log_.mid(std::max<qsizetype>(0, log_.size() - 5)).join('\n');
  }
  Q_EMIT failed(message);
}

}  // namespace dlab::client
