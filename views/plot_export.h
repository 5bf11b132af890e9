// One export path for every plot widget (line chart, heatmap, bar chart):
// PNG at twice the screen resolution, SVG, and CSV of exactly the data shown,
// plus the three context-menu entries that ask for a file name and call them.
// Each widget supplies how it renders and how it writes its data; the files
// are the same kind for all of them.
#pragma once

#include <QMenu>
#include <QPainter>
#include <QString>
#include <QTextStream>
#include <QWidget>
#include <functional>

namespace dlab::views {

// Draws the widget's contents into `r` (the widget's own render()).
using PlotRender = std::function<void(QPainter& p, const QRect& r)>;
// Writes the shown data as CSV text, header first.
using PlotCsv = std::function<void(QTextStream& out)>;

// Each returns false when the file cannot be written.
bool plot_export_png(const QWidget& widget, const PlotRender& render, const QString& path);
bool plot_export_svg(const QWidget& widget, const PlotRender& render, const QString& title,
                     const QString& path);
bool plot_export_csv(const PlotCsv& write, const QString& path);

// "Export PNG...", "Export SVG...", "Export CSV..." on `menu`; the file
// dialogs start at <name>.png/.svg/.csv ("chart" when `name` is empty).
void plot_export_menu_add(QMenu& menu, QWidget* widget, const QString& name,
                          std::function<bool(const QString&)> png,
                          std::function<bool(const QString&)> svg,
                          std::function<bool(const QString&)> csv);

}  // namespace dlab::views
