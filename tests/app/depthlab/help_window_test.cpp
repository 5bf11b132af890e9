// Help > Documentation (F1) and Help > Keyboard shortcuts on a real MainWindow.
#include "help_window.h"

#include <gtest/gtest.h>

#include <QAction>
#include <QApplication>
#include <QFileInfo>
#include <QListWidget>
#include <QMenuBar>
#include <QTableWidget>
#include <QTest>
#include <QTextBlock>
#include <QTextBrowser>
#include <QTextCursor>
#include <QTextFragment>
#include <QTimer>
#include <set>

#include "main_window.h"
#include "views/chart_widget.h"

namespace dlab::gui {
namespace {

// Every action under the menu bar with a shortcut, found independently of
// shortcuts_collect(): the generated list must hold each exactly once.
void actions_with_keys(const QMenu* menu, std::vector<const QAction*>* out) {
  for (const QAction* a : menu->actions()) {
    if (a->menu())
      actions_with_keys(a->menu(), out);
    else if (!a->shortcut().isEmpty())
      out->push_back(a);
  }
}

bool has_entry(const std::vector<ShortcutEntry>& entries, const QString& keys,
               const QString& action) {
  for (const ShortcutEntry& e : entries) {
    if (e.keys == keys && e.action == action) return true;
  }
  return false;
}

TEST(Help, ShortcutListIsGeneratedFromTheRegisteredActions) {
  MainWindow w;
  const std::vector<ShortcutEntry> entries = shortcuts_collect(w.menuBar());
  std::vector<const QAction*> actions;
  for (const QAction* top : w.menuBar()->actions()) {
    if (top->menu()) actions_with_keys(top->menu(), &actions);
  }
  EXPECT_EQ(entries.size(), actions.size());
  EXPECT_TRUE(has_entry(entries, "Ctrl+1", "Dashboard"));
  EXPECT_TRUE(has_entry(entries, "Ctrl+6", "Interventions"));
  EXPECT_TRUE(has_entry(entries, "Ctrl+K", "Connect to worker"));
  EXPECT_TRUE(has_entry(entries, "F1", "Documentation"));
  EXPECT_TRUE(has_entry(entries, "Ctrl+/", "Keyboard shortcuts"));
  // About has no key any more: F1 is the documentation.
  for (const ShortcutEntry& e : entries)
    EXPECT_NE(e.action, "About DepthLab") << e.keys.toStdString();
  std::set<QString> keys;
  for (const ShortcutEntry& e : entries) {
    EXPECT_TRUE(keys.insert(e.keys).second) << "two actions on " << e.keys.toStdString();
  }

  // The dialog the Help menu opens shows them, then the chart keys.
  std::vector<ShortcutEntry> chart_keys;
  for (const views::ChartWidget::KeyBinding& k : views::ChartWidget::keyBindings())
    chart_keys.push_back({"a chart", k.action, QKeySequence(k.key).toString()});
  ShortcutsDialog dialog(w.menuBar(), chart_keys);
  auto* table = dialog.findChild<QTableWidget*>("table_shortcuts");
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->rowCount(), int(entries.size() + chart_keys.size()));
  EXPECT_EQ(table->item(table->rowCount() - 1, 0)->text(), "R");
}

// Where the link to `href` is drawn in the browser's viewport, after scrolling
// it into view; (-1, -1) when the page has no such link.
QPoint anchor_position(QTextBrowser* browser, const QString& href) {
  for (QTextBlock b = browser->document()->begin(); b.isValid(); b = b.next()) {
    for (auto it = b.begin(); !it.atEnd(); ++it) {
      const QTextFragment f = it.fragment();
      if (!f.charFormat().isAnchor() || f.charFormat().anchorHref() != href) continue;
      QTextCursor c(browser->document());
      c.setPosition(f.position() + f.length() / 2);
      browser->setTextCursor(c);
      browser->ensureCursorVisible();
      return browser->cursorRect(c).center();
    }
  }
  return {-1, -1};
}

TEST(Help, F1OpensTheBundledDocumentationAtTheGuiPage) {
  ASSERT_FALSE(docs_root_find().isEmpty());
  MainWindow w;
  w.show();
  auto* f1 = w.findChild<QAction*>("action_documentation");
  ASSERT_NE(f1, nullptr);
  EXPECT_EQ(f1->shortcut(), QKeySequence(QKeySequence::HelpContents));
  f1->trigger();
  auto* docs = w.findChild<DocumentationWindow*>("window_documentation");
  ASSERT_NE(docs, nullptr);
  EXPECT_TRUE(docs->isVisible());
  EXPECT_EQ(QFileInfo(docs->browser()->source().toLocalFile()).fileName(), "gui.md");
  // Rendered from Markdown: headings are text, not "## ...".
  const QString text = docs->browser()->toPlainText();
  EXPECT_TRUE(text.contains("A first session")) << text.left(200).toStdString();
  EXPECT_FALSE(text.contains("## A first session"));

  // Every document is listed: README and docs/*.md, by their titles.
  auto* list = docs->findChild<QListWidget*>("list_documents");
  ASSERT_NE(list, nullptr);
  EXPECT_EQ(list->count(), 1 + int(QDir(docs->root() + "/docs").entryList({"*.md"}).size()));
  EXPECT_EQ(list->currentItem()->text(), "The depthlab GUI");
  // A link between documents (relative, as the docs write them), clicked, is
  // followed inside the window and selects that page in the list.
  const QPoint link = anchor_position(docs->browser(), "protocol.md");
  ASSERT_GE(link.y(), 0) << "gui.md has no link to protocol.md";
  QTest::mouseClick(docs->browser()->viewport(), Qt::LeftButton, {}, link);
  EXPECT_EQ(QFileInfo(docs->browser()->source().toLocalFile()).fileName(), "protocol.md");
  EXPECT_TRUE(docs->browser()->toPlainText().contains("server_info"));
  EXPECT_EQ(list->currentItem()->text(), "The session protocol (dlab serve)");
  // Picking a page in the list shows it.
  for (int i = 0; i < list->count(); ++i) {
    if (list->item(i)->text() == "Reliability") list->setCurrentRow(i);
  }
  EXPECT_EQ(QFileInfo(docs->browser()->source().toLocalFile()).fileName(), "reliability.md");
  // A second F1 reuses the window and goes back to the GUI page.
  f1->trigger();
  EXPECT_EQ(w.findChildren<DocumentationWindow*>().size(), 1);
  EXPECT_EQ(QFileInfo(docs->browser()->source().toLocalFile()).fileName(), "gui.md");
}

}  // namespace
}  // namespace dlab::gui
