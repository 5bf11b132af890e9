#include "help_window.h"

#include <QAction>
#include <QDialogButtonBox>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMenu>
#include <QRegularExpression>
#include <QSignalBlocker>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include "common/install_paths.h"

namespace dlab::gui {
namespace {

QString action_label(const QAction* a) {
  QString text = a->text();
  text.remove(QRegularExpression("&(?!&)"));
  if (text.endsWith("...")) text.chop(3);
  return text;
}

void collect(const QMenu* menu, const QString& path, std::vector<ShortcutEntry>* out) {
  for (const QAction* a : menu->actions()) {
    if (a->menu()) {
      collect(a->menu(), path + " > " + action_label(a), out);
      continue;
    }
    QStringList keys;
    for (const QKeySequence& k : a->shortcuts()) keys << k.toString(QKeySequence::NativeText);
    if (!keys.isEmpty()) out->push_back({path, action_label(a), keys.join(", ")});
  }
}

// "# Title" of a Markdown file, else its file name.
QString document_title(const QString& path) {
  QFile f(path);
  if (f.open(QIODevice::ReadOnly | QIODevice::Text)) {
    const QString first = QString::fromUtf8(f.readLine()).trimmed();
    if (first.startsWith("# ")) return first.mid(2).remove('`');
  }
  return QFileInfo(path).fileName();
}

}  // namespace

QString docs_root_find() {
  QStringList candidates{QString::fromStdString(installed_doc_dir().string())};
#ifdef DEPTHLAB_SOURCE_DOCS_ROOT
  candidates << QStringLiteral(DEPTHLAB_SOURCE_DOCS_ROOT);
#endif
  for (const QString& dir : candidates) {
    if (!dir.isEmpty() && QFileInfo::exists(dir + "/docs/gui.md")) return QDir(dir).absolutePath();
  }
  return {};
}

std::vector<ShortcutEntry> shortcuts_collect(const QMenuBar* bar) {
  std::vector<ShortcutEntry> out;
  for (const QAction* top : bar->actions()) {
    if (top->menu()) collect(top->menu(), action_label(top), &out);
  }
  return out;
}

ShortcutsDialog::ShortcutsDialog(const QMenuBar* bar, const std::vector<ShortcutEntry>& extra,
                                 QWidget* parent)
    : QDialog(parent) {
  setObjectName("dialog_shortcuts");
  setWindowTitle(tr("Keyboard shortcuts"));
  std::vector<ShortcutEntry> entries = shortcuts_collect(bar);
  entries.insert(entries.end(), extra.begin(), extra.end());
  auto* table = new QTableWidget(static_cast<int>(entries.size()), 3);
  table->setObjectName("table_shortcuts");
  table->setHorizontalHeaderLabels({tr("Keys"), tr("Action"), tr("Where")});
  table->verticalHeader()->hide();
  table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table->setSelectionMode(QAbstractItemView::NoSelection);
  for (int r = 0; r < static_cast<int>(entries.size()); ++r) {
    table->setItem(r, 0, new QTableWidgetItem(entries[r].keys));
    table->setItem(r, 1, new QTableWidgetItem(entries[r].action));
    table->setItem(r, 2, new QTableWidgetItem(entries[r].menu));
  }
  table->resizeColumnsToContents();
  table->horizontalHeader()->setStretchLastSection(true);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(table);
  layout->addWidget(buttons);
  resize(560, 480);
}

DocumentationWindow::DocumentationWindow(QWidget* parent) : QWidget(parent, Qt::Window) {
  setObjectName("window_documentation");
  setWindowTitle(tr("DepthLab documentation"));
  root_ = docs_root_find();
  pages_ = new QListWidget;
  pages_->setObjectName("list_documents");
  browser_ = new QTextBrowser;
  browser_->setObjectName("browser_documentation");
  browser_->setOpenExternalLinks(true);  // http(s) links go to the web browser
  auto* split = new QSplitter;
  split->addWidget(pages_);
  split->addWidget(browser_);
  split->setStretchFactor(1, 1);
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(split);
  resize(1100, 800);

  if (root_.isEmpty()) {
    browser_->setPlainText(
        tr("The documentation is not installed: it ships in the dlab package "
           "(/usr/share/doc/dlab) and in the source tree's docs/."));
    return;
  }
  QStringList files{root_ + "/README.md"};
  for (const QString& f : QDir(root_ + "/docs").entryList({"*.md"}, QDir::Files, QDir::Name))
    files << root_ + "/docs/" + f;
  for (const QString& path : files) {
    auto* item = new QListWidgetItem(document_title(path), pages_);
    item->setData(Qt::UserRole, path);
  }
  connect(pages_, &QListWidget::currentItemChanged, this, [this](QListWidgetItem* item) {
    if (item)
      browser_->setSource(QUrl::fromLocalFile(item->data(Qt::UserRole).toString()),
                          QTextDocument::MarkdownResource);
  });
  // A link followed inside the browser selects its page in the list.
  connect(browser_, &QTextBrowser::sourceChanged, this, [this](const QUrl& url) {
    for (int i = 0; i < pages_->count(); ++i) {
      if (QUrl::fromLocalFile(pages_->item(i)->data(Qt::UserRole).toString()).path() ==
          url.path()) {
        const QSignalBlocker block(pages_);
        pages_->setCurrentRow(i);
      }
    }
  });
}

bool DocumentationWindow::showDocument(const QString& name) {
  for (int i = 0; i < pages_->count(); ++i) {
    const QString path = pages_->item(i)->data(Qt::UserRole).toString();
    if (QFileInfo(path).fileName() == name) {
      // The list follows through sourceChanged, as for a followed link.
      browser_->setSource(QUrl::fromLocalFile(path), QTextDocument::MarkdownResource);
      return true;
    }
  }
  return false;
}

}  // namespace dlab::gui
