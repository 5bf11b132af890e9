// File > Connect to worker: the URL and token of a remote `dlab serve`
// (ws:// or wss://). The URLs used before are offered again (QSettings
// "connections/recent"); tokens are never stored.
//
// Connect tries the worker while the dialog stays open: it closes (accepted)
// once the worker has answered, and a refused token, an unreachable address
// or no answer within kAnswerTimeoutMs keeps it open with the reason, the
// client no longer retrying, so the user can correct the URL or token.
//
// A wss:// worker with a certificate this machine does not trust (dlab serve
// with a self-signed one) keeps the dialog open with the certificate's
// SHA-256 fingerprint and a "Trust this certificate" button: once the user
// has compared the fingerprint with the worker's, it is pinned for that
// host:port (QSettings "trusted_certificates") and the connection is retried.
#pragma once

#include <QComboBox>
#include <QDialog>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QTimer>
#include <QUrl>

#include "worker_client.h"

namespace dlab::gui {

class ConnectDialog : public QDialog {
  Q_OBJECT
 public:
  static constexpr int kAnswerTimeoutMs = 15000;

  explicit ConnectDialog(client::WorkerClient* worker, QWidget* parent = nullptr);

  QUrl url() const;
  QString token() const { return token_->text(); }
  void setUrl(const QString& url);
  void setToken(const QString& token) { token_->setText(token); }
  // Empty when the URL can be used, else what is wrong with it.
  QString problem() const;
  // Remembers the URL at the top of the recent list (at most 10).
  void remember() const;
  // Pins every certificate the user trusted (QSettings) in `worker`.
  static void loadTrustedCertificates(client::WorkerClient* worker);
  // The certificate of the failed attempt that can be trusted ("" sha256: none).
  const client::Certificate& untrusted() const { return untrusted_; }
  // Pins untrusted() for its address (saved) and connects again.
  void trustAndRetry();

  // Checks the URL, then connects the worker (the dialog stays open until it answers).
  void accept() override;
  // Cancel also ends an attempt in progress (the worker is then disconnected).
  void reject() override;
  // Whether a Connect was pressed and failed or was cancelled (the worker is then disconnected).
  bool attemptFailed() const { return failed_; }
  QString errorText() const { return error_->text(); }

 private:
  void attemptEnded(const QString& why);

  client::WorkerClient* worker_;
  QComboBox* url_;
  QLineEdit* token_;
  QLabel* error_;
  QPushButton* connect_button_;
  QPushButton* trust_button_;
  client::Certificate untrusted_;
  QTimer answer_timer_;
  bool attempting_ = false;
  bool failed_ = false;
};

}  // namespace dlab::gui
