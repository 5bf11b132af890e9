#include "views/plot_export.h"

#include <QFile>
#include <QFileDialog>
#include <QImage>
#include <QSvgGenerator>

namespace dlab::views {

bool plot_export_png(const QWidget& widget, const PlotRender& render, const QString& path) {
  const qreal dpr = 2.0;  // crisp in documents
  QImage img(widget.size() * dpr, QImage::Format_ARGB32_Premultiplied);
  img.setDevicePixelRatio(dpr);
  QPainter p(&img);
  render(p, widget.rect());
  p.end();
  return img.save(path, "PNG");
}

bool plot_export_svg(const QWidget& widget, const PlotRender& render, const QString& title,
                     const QString& path) {
  QSvgGenerator gen;
  gen.setFileName(path);
  gen.setSize(widget.size());
  gen.setViewBox(widget.rect());
  gen.setTitle(title);
  QPainter p;
  if (!p.begin(&gen)) return false;
  render(p, widget.rect());
  return p.end();
}

bool plot_export_csv(const PlotCsv& write, const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) return false;
  QTextStream out(&f);
  write(out);
  out.flush();
  return f.error() == QFile::NoError;
}

void plot_export_menu_add(QMenu& menu, QWidget* widget, const QString& name,
                          std::function<bool(const QString&)> png,
                          std::function<bool(const QString&)> svg,
                          std::function<bool(const QString&)> csv) {
  const QString base = name.isEmpty() ? QStringLiteral("chart") : name;
  struct Kind {
    QString label, suffix, filter;
    std::function<bool(const QString&)> write;
  };
  for (const Kind& k : {Kind{QObject::tr("Export PNG..."), ".png", "PNG (*.png)", png},
                        Kind{QObject::tr("Export SVG..."), ".svg", "SVG (*.svg)", svg},
                        Kind{QObject::tr("Export CSV..."), ".csv", "CSV (*.csv)", csv}}) {
    menu.addAction(k.label, widget, [widget, base, k] {
      const QString f = QFileDialog::getSaveFileName(widget, k.label, base + k.suffix, k.filter);
      if (!f.isEmpty()) k.write(f);
    });
  }
}

}  // namespace dlab::views
