// Help > Documentation (F1) and Help > Keyboard shortcuts.
//
// The documentation is the Markdown that ships with DepthLab (README.md and
// docs/*.md), rendered by a QTextBrowser: links between the files and the
// screenshots work, web links open in the browser. It is read from the dlab
// package's /usr/share/doc/dlab (found from the executable, like every
// installed file: common/install_paths.h), else from the source tree of a build.
//
// The shortcut list is generated from the actions registered on the menus, so
// it cannot drift from what the keys do.
#pragma once

#include <QDialog>
#include <QListWidget>
#include <QMenuBar>
#include <QString>
#include <QTextBrowser>
#include <QWidget>
#include <vector>

namespace dlab::gui {

// The folder holding README.md and docs/, installed copy first; empty if neither exists.
QString docs_root_find();

// Every action with a shortcut under `bar`, in menu order ("View > Panels" for a submenu).
struct ShortcutEntry {
  QString menu;    // "File", "View", ...
  QString action;  // the action's text without the & mnemonic and trailing "..."
  QString keys;    // QKeySequence::NativeText, e.g. "Ctrl+K"; several joined by ", "
};
std::vector<ShortcutEntry> shortcuts_collect(const QMenuBar* bar);

class ShortcutsDialog : public QDialog {
  Q_OBJECT
 public:
  // `extra` lists keys that are not actions (those of a chart), shown after them.
  ShortcutsDialog(const QMenuBar* bar, const std::vector<ShortcutEntry>& extra,
                  QWidget* parent = nullptr);
};

// A window with the list of documents on the left and the page on the right.
class DocumentationWindow : public QWidget {
  Q_OBJECT
 public:
  explicit DocumentationWindow(QWidget* parent = nullptr);

  // Shows docs/<name> (e.g. "gui.md") or README.md; false if it is not there.
  bool showDocument(const QString& name);
  QTextBrowser* browser() const { return browser_; }
  QString root() const { return root_; }

 private:
  QString root_;
  QListWidget* pages_;
  QTextBrowser* browser_;
};

}  // namespace dlab::gui
