#include "views/bar_chart_widget.h"

#include <QFontMetrics>
#include <QMouseEvent>
#include <QPainter>
#include <algorithm>
#include <cmath>

#include "views/axis_format.h"

namespace dlab::views {

BarChartWidget::BarChartWidget(const QString& title, QWidget* parent) : PlotFrame(title, parent) {
  setMouseTracking(true);
  setMinimumSize(220, 160);
}

void BarChartWidget::setData(const QStringList& groups, const QStringList& series_names,
                             std::vector<std::vector<double>> series, std::vector<QColor> colors) {
  groups_ = groups;
  names_ = series_names;
  series_ = std::move(series);
  colors_ = std::move(colors);
  update();
}

void BarChartWidget::setThreshold(double value, const QString& label) {
  threshold_ = value;
  threshold_label_ = label;
  update();
}

void BarChartWidget::setValueLabels(bool on) {
  value_labels_ = on;
  update();
}

void BarChartWidget::setAxisLabels(const QString& x, const QString& y) {
  xlabel_ = x;
  ylabel_ = y;
  update();
}

void BarChartWidget::setBaseline(double value) {
  baseline_ = value;
  update();
}

std::pair<double, double> BarChartWidget::valueRange() const {
  double lo = baseline_, hi = baseline_;
  for (const auto& s : series_) {
    for (double v : s) {
      if (std::isfinite(v)) {
        hi = std::max(hi, v);
        lo = std::min(lo, v);
      }
    }
  }
  if (std::isfinite(threshold_)) {
    hi = std::max(hi, threshold_);
    lo = std::min(lo, threshold_);
  }
  if (hi <= lo) hi = lo + 1;
  // Room above the highest bar, in pixels: the legend box (several series;
  // it sits in the top-right corner and must not cover a bar), the value
  // labels, or a small margin.
  const double height = plotRectFor(rect()).height();
  const double need = series_.size() > 1 ? 15.0 * double(names_.size()) + 10
                      : value_labels_    ? 18.0
                                         : 0.05 * height;
  if (height > need + 10) hi += (hi - lo) * need / (height - need);
  return {lo, hi};
}

double BarChartWidget::valueY(double value) const {
  const QRectF plot = plotRectFor(rect());
  const auto [lo, hi] = valueRange();
  return plot.bottom() - (value - lo) / (hi - lo) * plot.height();
}

QRectF BarChartWidget::plotRectFor(const QRect& r) const {
  return QRectF(r.left() + 58, r.top() + 24, std::max(10, r.width() - 58 - 12),
                std::max(10, r.height() - 24 - 38));
}

void BarChartWidget::render(QPainter& p, const QRect& r) const {
  const QPalette& pal = palette();
  const QColor fg = pal.color(QPalette::WindowText);
  const QFont small = paintFrame(p, r, title());
  const QRectF plot = plotRectFor(r);
  const auto [lo, hi] = valueRange();
  auto py = [&](double v) { return plot.bottom() - (v - lo) / (hi - lo) * plot.height(); };
  // y ticks at 1-2-5 steps.
  QColor grid = fg;
  grid.setAlpha(40);
  for (double v : nice_ticks(lo, hi, 5)) {
    p.setPen(grid);
    p.drawLine(QPointF(plot.left(), py(v)), QPointF(plot.right(), py(v)));
    p.setPen(fg);
    p.drawText(QRectF(r.left(), py(v) - 7, plot.left() - r.left() - 4, 14),
               Qt::AlignRight | Qt::AlignVCenter, format_tick(v));
  }
  const int ng = int(groups_.size());
  const int ns = std::max<int>(1, int(series_.size()));
  if (ng > 0) {
    const double gw = plot.width() / ng;
    const double bw = gw * 0.8 / ns;
    const int lstep = std::max(1, int(std::ceil(28.0 / gw)));
    for (int g = 0; g < ng; ++g) {
      for (int s = 0; s < int(series_.size()); ++s) {
        if (g >= int(series_[size_t(s)].size())) continue;
        const double v = series_[size_t(s)][size_t(g)];
        if (!std::isfinite(v)) continue;
        const double x = plot.left() + g * gw + gw * 0.1 + s * bw;
        QRectF bar(QPointF(x, py(std::max(v, baseline_))),
                   QPointF(x + bw, py(std::min(v, baseline_))));
        p.fillRect(bar,
                   s < int(colors_.size()) ? colors_[size_t(s)] : pal.color(QPalette::Highlight));
        if (value_labels_ && series_.size() == 1) {
          p.setPen(fg);
          const QString text = format_tick(v, 2);
          if (QFontMetrics(p.font()).horizontalAdvance(text) < gw * 0.95) {
            p.drawText(QRectF(x - gw * 0.1, bar.top() - 14, gw, 13), Qt::AlignHCenter, text);
          } else {  // too narrow: written upwards from the bar's top
            p.save();
            p.translate(x + bw / 2 + 4, bar.top() - 3);
            p.rotate(-90);
            p.drawText(QPointF(0, 0), text);
            p.restore();
          }
        }
      }
      if (g % lstep == 0) {
        p.setPen(fg);
        // Centred under the group's bars (wider labels may overhang).
        p.drawText(QRectF(plot.left() + (g - 1) * gw, plot.bottom() + 2, 3 * gw, 14),
                   Qt::AlignHCenter, groups_[g]);
      }
    }
    if (hover_group_ >= 0 && hover_group_ < ng && p.device() == this) {  // on screen only
      QColor hl = pal.color(QPalette::Highlight);
      hl.setAlpha(50);
      p.fillRect(QRectF(plot.left() + hover_group_ * gw, plot.top(), gw, plot.height()), hl);
    }
  }
  QColor frame = fg;
  frame.setAlpha(110);
  p.setPen(frame);
  p.drawRect(plot);
  p.setPen(fg);
  p.drawText(QRectF(plot.left(), plot.bottom() + 18, plot.width(), 16), Qt::AlignHCenter, xlabel_);
  if (!ylabel_.isEmpty()) {
    p.save();
    p.translate(r.left() + 9, plot.center().y());
    p.rotate(-90);
    p.drawText(QRectF(-plot.height() / 2, -8, plot.height(), 16), Qt::AlignHCenter, ylabel_);
    p.restore();
  }
  if (std::isfinite(threshold_)) {
    p.setPen(QPen(QColor(200, 40, 40), 1.5, Qt::DashLine));
    p.drawLine(QPointF(plot.left(), py(threshold_)), QPointF(plot.right(), py(threshold_)));
    // The label sits on a patch of background so bars never hide it.
    const QFontMetrics lm(p.font());
    const QRectF box(plot.right() - lm.horizontalAdvance(threshold_label_) - 12,
                     py(threshold_) - 17, lm.horizontalAdvance(threshold_label_) + 8, 15);
    QColor patch = pal.color(QPalette::Base);
    patch.setAlpha(220);
    p.fillRect(box, patch);
    p.drawText(box, Qt::AlignCenter, threshold_label_);
  }
  // Legend (series names) top-right, and the hover read-out.
  double y = plot.top() + 4;
  const QFontMetrics fm(small);
  if (series_.size() > 1) {
    for (int s = 0; s < int(names_.size()); ++s) {
      const int w = fm.horizontalAdvance(names_[s]);
      const double x = plot.right() - w - 24;
      QColor bg = pal.color(QPalette::Base);
      bg.setAlpha(200);
      p.fillRect(QRectF(x - 2, y, w + 24, 14), bg);
      p.fillRect(QRectF(x, y + 3, 10, 8), s < int(colors_.size()) ? colors_[size_t(s)] : fg);
      p.setPen(fg);
      p.drawText(QRectF(x + 14, y, w + 8, 14), Qt::AlignLeft | Qt::AlignVCenter, names_[s]);
      y += 15;
    }
  }
  if (hover_group_ >= 0 && hover_group_ < ng && p.device() == this) {
    QStringList rows{xlabel_ + " " + groups_[hover_group_]};
    for (int s = 0; s < int(series_.size()); ++s) {
      const double v = hover_group_ < int(series_[size_t(s)].size())
                           ? series_[size_t(s)][size_t(hover_group_)]
                           : NAN;
      rows << (s < names_.size() ? names_[s] + ": " : QString()) + QString::number(v, 'g', 4);
    }
    int w = 0;
    for (const auto& t : rows) w = std::max(w, fm.horizontalAdvance(t));
    const QRectF box(plot.left() + 6, plot.top() + 4, w + 10, 15.0 * rows.size() + 4);
    QColor bg = pal.color(QPalette::ToolTipBase);
    bg.setAlpha(235);
    p.fillRect(box, bg);
    p.setPen(pal.color(QPalette::ToolTipText));
    for (int i = 0; i < rows.size(); ++i) {
      p.drawText(QRectF(box.left() + 5, box.top() + 2 + 15 * i, w, 15), Qt::AlignLeft, rows[i]);
    }
  }
}

void BarChartWidget::mouseMoveEvent(QMouseEvent* e) {
  const QRectF plot = plotRectFor(rect());
  int g = -1;
  if (plot.contains(e->position()) && !groups_.isEmpty()) {
    g = std::clamp(int((e->position().x() - plot.left()) / plot.width() * groups_.size()), 0,
                   int(groups_.size()) - 1);
  }
  if (g != hover_group_) {
    hover_group_ = g;
    update();
  }
}

void BarChartWidget::leaveEvent(QEvent*) {
  hover_group_ = -1;
  update();
}

void BarChartWidget::writeCsv(QTextStream& out) const {
  auto quoted = [](QString s) { return '"' + s.replace('"', "\"\"") + '"'; };
  out << "group,series,value\n";
  for (size_t s = 0; s < series_.size(); ++s) {
    const QString name = int(s) < names_.size() ? names_[int(s)] : QString::number(s);
    for (size_t g = 0; g < series_[s].size(); ++g) {
      const QString group = int(g) < groups_.size() ? groups_[int(g)] : QString::number(g);
      out << quoted(group) << ',' << quoted(name) << ',' << QString::number(series_[s][g], 'g', 17)
          << '\n';
    }
  }
}

}  // namespace dlab::views
