// File > Connect to worker: the URL and token of a remote `dlab serve`
// (ws:// or wss://). The URLs used before are offered again (QSettings
// "connections/recent"); tokens are never stored.
#pragma once

#include <QComboBox>
#include <QDialog>
#include <QLabel>
#include <QLineEdit>
#include <QUrl>

namespace dlab::gui {

class ConnectDialog : public QDialog {
  Q_OBJECT
 public:
  explicit ConnectDialog(QWidget* parent = nullptr);

  QUrl url() const;
  QString token() const { return token_->text(); }
  void setUrl(const QString& url);
  void setToken(const QString& token) { token_->setText(token); }
  // Empty when the URL can be used, else what is wrong with it.
  QString problem() const;
  // Remembers the URL at the top of the recent list (at most 10).
  void remember() const;

  void accept() override;

 private:
  QComboBox* url_;
  QLineEdit* token_;
  QLabel* error_;
};

}  // namespace dlab::gui
