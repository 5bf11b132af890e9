// The local worker: a `dlab serve` child process on 127.0.0.1 port 0 that a
// client (the GUI) spawns at start, so that launching runs and intervening on layers needs
// no set-up. Its token is random, passed in its environment (never on the
// command line, where `ps` would show it), and its address is read from the
// one line it prints on stdout (docs/protocol.md, "The listening line").
#pragma once

#include <QObject>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QUrl>

namespace dlab::client {

// Where the `dlab` executable is: $DEPTHLAB_DLAB, else next to this program
// (installed), else ../dlab/dlab (the build tree), else on PATH. Empty when
// none exists.
QString dlab_binary_find();

class LocalWorker : public QObject {
  Q_OBJECT
 public:
  explicit LocalWorker(QObject* parent = nullptr);
  ~LocalWorker() override;  // stops the worker (its live runs checkpoint first)

  // Spawns `<dlab> serve --listen 127.0.0.1:0 --token-env ... --runs <runs_dir>`.
  // Emits ready() once it listens, or failed() (no binary, exited, no address
  // within 30 s) with the reason and the last lines of its stderr.
  void start(const QString& dlab_binary, const QString& runs_dir);
  // SIGTERM, then waits up to `timeout_ms` for live runs to checkpoint.
  void stop(int timeout_ms = 15000);

  bool running() const { return process_.state() != QProcess::NotRunning; }
  qint64 pid() const { return process_.processId(); }
  const QUrl& url() const { return url_; }
  const QString& token() const { return token_; }
  const QString& runsDir() const { return runs_dir_; }
  // The worker's stderr (diagnostics, progress of its runs), last 200 lines.
  const QStringList& log() const { return log_; }

 Q_SIGNALS:
  void ready(const QUrl& url, const QString& token);
  void failed(const QString& message);
  void logLine(const QString& line);

 private:
  void readStdout();
  void readStderr();
  void fail(const QString& why);

  QProcess process_;
  QUrl url_;
  QString token_, runs_dir_;
  QStringList log_;
  QByteArray out_buffer_, err_buffer_;
  bool announced_ = false;
};

}  // namespace dlab::client
