// The frame every plot widget shares (line chart, bar chart, heatmap): its
// title, the fonts its text is drawn in, the title line, and export to PNG (at
// twice the screen resolution), SVG and CSV of exactly the data shown, with
// the context-menu entries that ask for a file. A plot draws itself in
// render() and writes its data in writeCsv(); everything else is here, once.
#pragma once

#include <QFont>
#include <QMenu>
#include <QPainter>
#include <QString>
#include <QTextStream>
#include <QWidget>

namespace dlab::views {

class PlotFrame : public QWidget {
  Q_OBJECT
 public:
  explicit PlotFrame(const QString& title, QWidget* parent = nullptr);

  const QString& title() const { return title_; }
  void setTitle(const QString& title);

  // Draws the whole plot into any painter (screen, image, SVG) within r.
  virtual void render(QPainter& p, const QRect& r) const = 0;

  // Where the export dialogs of every plot start (the runs folder; the GUI
  // sets it). Empty: the working directory.
  static void setExportDirectory(const QString& dir);
  static QString exportDirectory();

  // Each returns false when the file cannot be written.
  bool exportPng(const QString& path);
  bool exportSvg(const QString& path);
  bool exportCsv(const QString& path) const;

 protected:
  // The shown data as CSV text, header first.
  virtual void writeCsv(QTextStream& out) const = 0;
  // After setTitle(): repaint (the line chart coalesces its repaints instead).
  virtual void titleChanged() { update(); }

  // The start of every render(): fills r with the base colour, draws
  // `shown_title` in bold on the title line and leaves the plot's small font
  // set on p, which it returns.
  QFont paintFrame(QPainter& p, const QRect& r, const QString& shown_title) const;
  // "Export PNG...", "Export SVG...", "Export CSV..." (after a plot's own entries).
  void addExportActions(QMenu& menu);

  void paintEvent(QPaintEvent*) override;                // render(rect())
  void contextMenuEvent(QContextMenuEvent* e) override;  // the export entries

 private:
  QString title_;
};

}  // namespace dlab::views
