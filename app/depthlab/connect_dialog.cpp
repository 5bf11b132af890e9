#include "connect_dialog.h"

#include <QDialogButtonBox>
#include <QFormLayout>
#include <QPushButton>
#include <QSettings>
#include <QVBoxLayout>

namespace dlab::gui {

ConnectDialog::ConnectDialog(client::WorkerClient* worker, QWidget* parent)
    : QDialog(parent), worker_(worker) {
  setWindowTitle(tr("Connect to a worker"));
  url_ = new QComboBox;
  url_->setObjectName("combo_url");
  url_->setEditable(true);
  url_->addItems(QSettings().value("connections/recent").toStringList());
  url_->setCurrentText(url_->count() ? url_->itemText(0) : "ws://127.0.0.1:8765");
  url_->setToolTip(tr("The address `dlab serve` printed: ws://HOST:PORT, or wss:// with TLS"));
  token_ = new QLineEdit;
  token_->setObjectName("edit_token");
  token_->setEchoMode(QLineEdit::Password);
  token_->setToolTip(tr("The worker's token (--token-file / --token-env); never saved"));
  error_ = new QLabel;
  error_->setObjectName("label_connect_error");
  error_->setStyleSheet("color: #c0392b;");
  error_->setWordWrap(true);
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);  // the fingerprint can be copied
  auto* form = new QFormLayout;
  form->addRow(tr("URL:"), url_);
  form->addRow(tr("Token:"), token_);
  trust_button_ = new QPushButton(tr("&Trust this certificate"));
  trust_button_->setObjectName("button_trust_certificate");
  trust_button_->setToolTip(
      tr("Accept this certificate for this address from now on (pinned: another certificate "
         "there is refused again). Compare the fingerprint with the worker's first."));
  trust_button_->hide();
  connect(trust_button_, &QPushButton::clicked, this, &ConnectDialog::trustAndRetry);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  connect_button_ = buttons->button(QDialogButtonBox::Ok);
  connect_button_->setText(tr("Connect"));
  connect_button_->setObjectName("button_connect");
  connect(buttons, &QDialogButtonBox::accepted, this, &ConnectDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(new QLabel(
      tr("Start a worker on the other machine with\n"
         "  dlab serve --listen 0.0.0.0:8765 --token-file TOKEN [--tls-cert C --tls-key K]\n"
         "and give its address and token here. Runs, checkpoints and analyses stay there.")));
  layout->addLayout(form);
  layout->addWidget(error_);
  layout->addWidget(trust_button_, 0, Qt::AlignLeft);
  layout->addWidget(buttons);

  answer_timer_.setSingleShot(true);
  connect(&answer_timer_, &QTimer::timeout, this, [this] {
    attemptEnded(
        tr("no answer from %1 within %2 s").arg(url().toString()).arg(kAnswerTimeoutMs / 1000));
  });
  connect(worker_, &client::WorkerClient::untrustedCertificate, this,
          [this](const client::Certificate& c) {
            if (attempting_) untrusted_ = c;
          });
  connect(worker_, &client::WorkerClient::connectFailed, this,
          [this](const QString& why) { attemptEnded(why); });
  connect(worker_, &client::WorkerClient::connected, this, [this] {
    if (!attempting_) return;
    attempting_ = false;
    answer_timer_.stop();
    remember();
    QDialog::accept();
  });
}

QUrl ConnectDialog::url() const { return QUrl(url_->currentText().trimmed()); }

void ConnectDialog::setUrl(const QString& url) { url_->setCurrentText(url); }

QString ConnectDialog::problem() const {
  const QUrl u = url();
  if (!u.isValid() || u.host().isEmpty())
    return tr("\"%1\" is not a URL; expected ws://HOST:PORT").arg(url_->currentText());
  if (u.scheme() != "ws" && u.scheme() != "wss")
    return tr("the scheme must be ws or wss, not \"%1\"").arg(u.scheme());
  if (u.port() < 1) return tr("the URL has no port (ws://HOST:PORT)");
  return {};
}

void ConnectDialog::remember() const {
  QSettings settings;
  QStringList recent = settings.value("connections/recent").toStringList();
  const QString u = url().toString();
  recent.removeAll(u);
  recent.prepend(u);
  while (recent.size() > 10) recent.removeLast();
  settings.setValue("connections/recent", recent);
}

namespace {
constexpr char kTrustedGroup[] = "trusted_certificates";
}

void ConnectDialog::loadTrustedCertificates(client::WorkerClient* worker) {
  QSettings settings;
  settings.beginGroup(kTrustedGroup);
  for (const QString& host_port : settings.childKeys()) {
    const QByteArray sha256 = QByteArray::fromHex(settings.value(host_port).toByteArray());
    if (sha256.size() == 32) worker->trustCertificate(host_port, sha256);
  }
}

void ConnectDialog::trustAndRetry() {
  if (untrusted_.sha256.isEmpty()) return;
  QSettings settings;
  settings.beginGroup(kTrustedGroup);
  settings.setValue(untrusted_.host_port, QString::fromLatin1(untrusted_.sha256.toHex()));
  worker_->trustCertificate(untrusted_.host_port, untrusted_.sha256);
  accept();
}

void ConnectDialog::accept() {
  const QString why = problem();
  error_->setText(why);
  if (!why.isEmpty() || attempting_) return;
  attempting_ = true;
  failed_ = false;
  untrusted_ = client::Certificate();
  trust_button_->hide();
  connect_button_->setEnabled(false);
  error_->setStyleSheet("");
  error_->setText(tr("Connecting to %1 ...").arg(url().toString()));
  answer_timer_.start(kAnswerTimeoutMs);
  worker_->connectTo(url(), token());
}

void ConnectDialog::reject() {
  attemptEnded(tr("cancelled"));
  QDialog::reject();
}

void ConnectDialog::attemptEnded(const QString& why) {
  if (!attempting_) return;
  attempting_ = false;
  failed_ = true;
  answer_timer_.stop();
  worker_->disconnectFrom();  // no retrying behind the user's back
  connect_button_->setEnabled(true);
  error_->setStyleSheet("color: #c0392b;");
  error_->setText(tr("Could not connect: %1").arg(why));
  token_->setFocus();
  if (!untrusted_.sha256.isEmpty()) {
    error_->setText(
        tr("Could not connect: the certificate of %1 is not trusted by this machine (%2).\n"
           "Subject: %3, valid until %4\nSHA-256 fingerprint: %5\n"
           "Compare it with the worker's: openssl x509 -noout -fingerprint -sha256 -in CERT.pem")
            .arg(untrusted_.host_port, untrusted_.problems, untrusted_.subject, untrusted_.expires,
                 client::certificate_fingerprint_text(untrusted_.sha256)));
    trust_button_->show();
  }
  adjustSize();  // the reason is read whole, not clipped under the fields
}

}  // namespace dlab::gui
