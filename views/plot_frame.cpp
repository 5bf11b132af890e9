#include "views/plot_frame.h"

#include <QContextMenuEvent>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QImage>
#include <QSvgGenerator>
#include <algorithm>
#include <functional>

namespace dlab::views {

namespace {
QString& export_directory() {
  static QString dir;  // GUI thread only, like every widget
  return dir;
}
}  // namespace

PlotFrame::PlotFrame(const QString& title, QWidget* parent) : QWidget(parent), title_(title) {}

void PlotFrame::setExportDirectory(const QString& dir) { export_directory() = dir; }
QString PlotFrame::exportDirectory() { return export_directory(); }

void PlotFrame::setTitle(const QString& title) {
  title_ = title;
  titleChanged();
}

QFont PlotFrame::paintFrame(QPainter& p, const QRect& r, const QString& shown_title) const {
  const QPalette& pal = palette();
  p.fillRect(r, pal.color(QPalette::Base));
  QFont small = p.font();
  small.setPointSizeF(std::max(6.0, small.pointSizeF() * 0.85));
  QFont bold = small;
  bold.setBold(true);
  p.setFont(bold);
  p.setPen(pal.color(QPalette::WindowText));
  p.drawText(QRectF(r.left() + 8, r.top() + 2, r.width() - 16, 20),
             Qt::AlignLeft | Qt::AlignVCenter, shown_title);
  p.setFont(small);
  return small;
}

bool PlotFrame::exportPng(const QString& path) {
  const qreal dpr = 2.0;  // crisp in documents
  QImage img(size() * dpr, QImage::Format_ARGB32_Premultiplied);
  img.setDevicePixelRatio(dpr);
  QPainter p(&img);
  render(p, rect());
  p.end();
  return img.save(path, "PNG");
}

bool PlotFrame::exportSvg(const QString& path) {
  QSvgGenerator gen;
  gen.setFileName(path);
  gen.setSize(size());
  gen.setViewBox(rect());
  gen.setTitle(title_);
  QPainter p;
  if (!p.begin(&gen)) return false;
  render(p, rect());
  return p.end();
}

bool PlotFrame::exportCsv(const QString& path) const {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) return false;
  QTextStream out(&f);
  writeCsv(out);
  out.flush();
  return f.error() == QFile::NoError;
}

void PlotFrame::addExportActions(QMenu& menu) {
  const QString base = title_.isEmpty() ? QStringLiteral("chart") : title_;
  struct Kind {
    QString label, suffix, filter;
    std::function<bool(const QString&)> write;
  };
  const Kind kinds[] = {
      {tr("Export PNG..."), ".png", "PNG (*.png)",
       [this](const QString& f) { return exportPng(f); }},
      {tr("Export SVG..."), ".svg", "SVG (*.svg)",
       [this](const QString& f) { return exportSvg(f); }},
      {tr("Export CSV..."), ".csv", "CSV (*.csv)",
       [this](const QString& f) { return exportCsv(f); }},
  };
  for (const Kind& k : kinds) {
    menu.addAction(k.label, this, [this, base, k] {
      const QString start = exportDirectory().isEmpty()
                                ? base + k.suffix
                                : QDir(exportDirectory()).filePath(base + k.suffix);
      const QString f = QFileDialog::getSaveFileName(this, k.label, start, k.filter);
      if (!f.isEmpty()) k.write(f);
    });
  }
}

void PlotFrame::paintEvent(QPaintEvent*) {
  QPainter p(this);
  render(p, rect());
}

void PlotFrame::contextMenuEvent(QContextMenuEvent* e) {
  QMenu menu(this);
  addExportActions(menu);
  menu.exec(e->globalPos());
}

}  // namespace dlab::views
