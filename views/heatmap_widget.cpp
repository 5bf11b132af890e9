#include "views/heatmap_widget.h"

#include <QMouseEvent>
#include <QPainter>
#include <QTextStream>
#include <algorithm>
#include <cmath>

#include "views/axis_format.h"

namespace dlab::views {
namespace {
QString fmt(double v) {
  if (!std::isfinite(v)) return "n/a";
  const double a = std::abs(v);
  return (a != 0 && (a >= 1e5 || a < 1e-3)) ? QString::number(v, 'e', 3)
                                            : QString::number(v, 'g', 5);
}
}  // namespace

HeatmapWidget::HeatmapWidget(const QString& title, QWidget* parent) : PlotFrame(title, parent) {
  setMouseTracking(true);
  setMinimumSize(220, 180);
}

void HeatmapWidget::setData(int rows, int cols, std::vector<double> values) {
  rows_ = rows;
  cols_ = cols;
  values_ = std::move(values);
  values_.resize(size_t(rows) * size_t(cols), std::nan(""));
  rebuild();
}

void HeatmapWidget::setAxes(const QString& row_title, const QString& col_title,
                            QStringList row_labels, QStringList col_labels) {
  row_title_ = row_title;
  col_title_ = col_title;
  row_labels_ = std::move(row_labels);
  col_labels_ = std::move(col_labels);
  update();
}

void HeatmapWidget::setSequential() {
  diverging_ = false;
  rebuild();
}
void HeatmapWidget::setDiverging(double centre) {
  diverging_ = true;
  centre_ = centre;
  rebuild();
}
void HeatmapWidget::setClipQuantile(double q) {
  clip_quantile_ = std::clamp(q, 0.5, 1.0);
  rebuild();
}

void HeatmapWidget::setIdentityCentre(bool on) {
  identity_ = on;
  if (on) {
    diverging_ = true;
    centre_ = 0;
  }
  rebuild();
}
void HeatmapWidget::setFixedRange(double lo, double hi) {
  fixed_ = true;
  fixed_lo_ = lo;
  fixed_hi_ = hi;
  rebuild();
}

double HeatmapWidget::colourValue(int r, int c) const {
  return value(r, c) - (identity_ && r == c ? 1.0 : 0.0);
}

void HeatmapWidget::rebuild() {
  double lo = INFINITY, hi = -INFINITY, dev = 0;
  for (int r = 0; r < rows_; ++r) {
    for (int c = 0; c < cols_; ++c) {
      const double v = colourValue(r, c);
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      dev = std::max(dev, std::abs(v - centre_));
    }
  }
  if (fixed_) {
    map_ = diverging_ ? ColorMap::diverging(centre_, std::max(std::abs(fixed_lo_ - centre_),
                                                              std::abs(fixed_hi_ - centre_)))
                      : ColorMap::sequential(fixed_lo_, fixed_hi_);
  } else if (diverging_) {
    if (clip_quantile_ < 1.0) {
      // A few outliers (one block's Jacobian entries of +-12 among +-0.1)
      // would wash every other cell to white: the range is the quantile of
      // |v - centre|, and cells beyond it take the end colours.
      std::vector<double> d;
      d.reserve(values_.size());
      for (int r = 0; r < rows_; ++r) {
        for (int c = 0; c < cols_; ++c) {
          const double v = colourValue(r, c);
          if (std::isfinite(v)) d.push_back(std::abs(v - centre_));
        }
      }
      if (!d.empty()) {
        const size_t k = std::min(d.size() - 1, size_t(clip_quantile_ * double(d.size())));
        std::nth_element(d.begin(), d.begin() + std::ptrdiff_t(k), d.end());
        if (d[k] > 0) dev = d[k];
      }
    }
    map_ = ColorMap::diverging(centre_, dev);
  } else {
    map_ = std::isfinite(lo) ? ColorMap::sequential(lo, hi) : ColorMap::sequential(0, 1);
  }
  image_ = QImage(std::max(1, cols_), std::max(1, rows_), QImage::Format_RGB32);
  image_.fill(Qt::gray);
  for (int r = 0; r < rows_; ++r) {
    auto* line = reinterpret_cast<QRgb*>(image_.scanLine(r));
    for (int c = 0; c < cols_; ++c) line[c] = map_.color(colourValue(r, c)).rgb();
  }
  update();
}

QRectF HeatmapWidget::plotRectFor(const QRect& r) const {
  QRectF plot(r.left() + 58, r.top() + 24, std::max(10, r.width() - 58 - 84),
              std::max(10, r.height() - 24 - 40));
  if (square_cells_ && rows_ > 0 && cols_ > 0) {
    // Cells of equal width and height: the largest such grid, centred.
    const double cell = std::min(plot.width() / cols_, plot.height() / rows_);
    const QSizeF size(cell * cols_, cell * rows_);
    plot = QRectF(plot.left() + (plot.width() - size.width()) / 2,
                  plot.top() + (plot.height() - size.height()) / 2, size.width(), size.height());
  }
  return plot;
}

void HeatmapWidget::setSquareCells(bool on) {
  square_cells_ = on;
  update();
}

QRectF HeatmapWidget::cellRect(int r, int c) const {
  const QRectF plot = plotRectFor(rect());
  const double cw = plot.width() / std::max(1, cols_), ch = plot.height() / std::max(1, rows_);
  return QRectF(plot.left() + c * cw, plot.top() + r * ch, cw, ch);
}

void HeatmapWidget::render(QPainter& p, const QRect& r) const {
  const QPalette& pal = palette();
  const QColor fg = pal.color(QPalette::WindowText);
  const QFont small = paintFrame(p, r, title());
  const QRectF plot = plotRectFor(r);
  if (rows_ == 0 || cols_ == 0) {
    p.drawText(plot, Qt::AlignCenter, tr("no data"));
    return;
  }
  p.drawImage(plot, image_);  // nearest-neighbour: no SmoothPixmapTransform hint
  QColor frame = fg;
  frame.setAlpha(110);
  p.setPen(frame);
  p.drawRect(plot);
  // Row / column tick labels: at most ~one per 16 px.
  p.setPen(fg);
  const double ch = plot.height() / rows_, cw = plot.width() / cols_;
  const int rstep = std::max(1, int(std::ceil(16.0 / ch)));
  for (int i = 0; i < rows_; i += rstep) {
    const QString t = i < row_labels_.size() ? row_labels_[i] : QString::number(i);
    p.drawText(
        QRectF(r.left() + 18, plot.top() + (i + 0.5) * ch - 8, plot.left() - r.left() - 22, 16),
        Qt::AlignRight | Qt::AlignVCenter, t);
  }
  // Numeric column labels (steps): ticks at round values placed between the
  // columns that hold them; other labels: every k-th column.
  std::vector<double> cval;
  bool numeric = (col_labels_.size() == cols_ || col_labels_.isEmpty()) && cols_ > 1;
  for (int j = 0; numeric && j < cols_; ++j) {
    bool ok = col_labels_.isEmpty();  // no labels: column indices
    cval.push_back(ok ? double(j) : col_labels_[j].toDouble(&ok));
    numeric = ok && (j == 0 || cval[size_t(j)] > cval[size_t(j) - 1]);
  }
  if (numeric) {
    // Whole-numbered columns (layers, steps) get whole-numbered ticks only.
    const bool integers =
        std::all_of(cval.begin(), cval.end(), [](double v) { return v == std::round(v); });
    for (double t :
         nice_ticks(cval.front(), cval.back(), std::max(2, int(plot.width() / 70)), integers)) {
      const size_t j = size_t(std::upper_bound(cval.begin(), cval.end(), t) - cval.begin());
      const size_t a = j == 0 ? 0 : j - 1, b = std::min(a + 1, cval.size() - 1);
      const double frac = b > a ? (t - cval[a]) / (cval[b] - cval[a]) : 0.0;
      const double x = plot.left() + (double(a) + frac + 0.5) * cw;
      p.drawLine(QPointF(x, plot.bottom()), QPointF(x, plot.bottom() + 3));
      p.drawText(QRectF(x - 30, plot.bottom() + 2, 60, 14), Qt::AlignHCenter, format_tick(t));
    }
  } else {
    const int cstep = std::max(1, int(std::ceil(48.0 / cw)));
    for (int j = 0; j < cols_; j += cstep) {
      const QString t = j < col_labels_.size() ? col_labels_[j] : QString::number(j);
      p.drawText(QRectF(plot.left() + (j + 0.5) * cw - 30, plot.bottom() + 2, 60, 14),
                 Qt::AlignHCenter, t);
    }
  }
  p.drawText(QRectF(plot.left(), plot.bottom() + 18, plot.width(), 16), Qt::AlignHCenter,
             col_title_);
  p.save();
  p.translate(r.left() + 9, plot.center().y());
  p.rotate(-90);
  p.drawText(QRectF(-plot.height() / 2, -8, plot.height(), 16), Qt::AlignHCenter, row_title_);
  p.restore();
  // Colour bar.
  const QRectF bar(plot.right() + 14, plot.top(), 14, plot.height());
  for (int y = 0; y < int(bar.height()); ++y) {
    const double t = 1.0 - double(y) / std::max(1.0, bar.height() - 1);
    p.setPen(map_.color(map_.lo() + t * (map_.hi() - map_.lo())));
    p.drawLine(QPointF(bar.left(), bar.top() + y), QPointF(bar.right(), bar.top() + y));
  }
  p.setPen(frame);
  p.drawRect(bar);
  p.setPen(fg);
  const double mid = 0.5 * (map_.lo() + map_.hi());
  p.drawText(QRectF(bar.right() + 3, bar.top() - 2, 60, 14), Qt::AlignLeft, format_tick(map_.hi()));
  p.drawText(QRectF(bar.right() + 3, bar.center().y() - 7, 60, 14), Qt::AlignLeft,
             format_tick(mid));
  p.drawText(QRectF(bar.right() + 3, bar.bottom() - 12, 60, 14), Qt::AlignLeft,
             format_tick(map_.lo()));
  if (identity_) {
    p.drawText(QRectF(bar.left() - 6, bar.bottom() + 4, 80, 14), Qt::AlignLeft, tr("J - I"));
  }
  // Hover: outline the cell and its row / column, show the value (on screen
  // only, never in an exported image).
  if (hover_r_ >= 0 && hover_c_ >= 0 && p.device() == this) {
    const QRectF cell(plot.left() + hover_c_ * cw, plot.top() + hover_r_ * ch, cw, ch);
    QColor hl = pal.color(QPalette::Highlight);
    hl.setAlpha(90);
    p.fillRect(QRectF(plot.left(), cell.top(), plot.width(), ch), hl);
    p.fillRect(QRectF(cell.left(), plot.top(), cw, plot.height()), hl);
    p.setPen(QPen(fg, 1.5));
    p.drawRect(cell);
    const QFontMetrics fm(small);
    const int w = fm.horizontalAdvance(hover_text_) + 12;
    double bx = std::min(cell.right() + 8, double(r.right()) - w);
    QColor bg = pal.color(QPalette::ToolTipBase);
    bg.setAlpha(235);
    const QRectF box(bx, std::max(plot.top(), cell.top() - 20), w, 16);
    p.fillRect(box, bg);
    p.setPen(pal.color(QPalette::ToolTipText));
    p.drawText(box, Qt::AlignCenter, hover_text_);
  }
}

void HeatmapWidget::mouseMoveEvent(QMouseEvent* e) {
  const QRectF plot = plotRectFor(rect());
  const QPointF pos = e->position();
  int r = -1, c = -1;
  if (plot.contains(pos) && rows_ > 0 && cols_ > 0) {
    r = std::clamp(int((pos.y() - plot.top()) / plot.height() * rows_), 0, rows_ - 1);
    c = std::clamp(int((pos.x() - plot.left()) / plot.width() * cols_), 0, cols_ - 1);
  }
  if (r != hover_r_ || c != hover_c_) {
    hover_r_ = r;
    hover_c_ = c;
    if (r >= 0) {
      const QString rl = r < row_labels_.size() ? row_labels_[r] : QString::number(r);
      const QString cl = c < col_labels_.size() ? col_labels_[c] : QString::number(c);
      hover_text_ =
          QStringLiteral("%1 %2, %3 %4: %5").arg(row_title_, rl, col_title_, cl, fmt(value(r, c)));
      if (identity_) hover_text_ += QStringLiteral("  (J-I %1)").arg(fmt(colourValue(r, c)));
    } else {
      hover_text_.clear();
    }
    update();
  }
}

void HeatmapWidget::leaveEvent(QEvent*) {
  hover_r_ = hover_c_ = -1;
  hover_text_.clear();
  update();
}

void HeatmapWidget::writeCsv(QTextStream& out) const {
  out << "row,col,value\n";
  for (int r = 0; r < rows_; ++r) {
    for (int c = 0; c < cols_; ++c) {
      out << (r < row_labels_.size() ? row_labels_[r] : QString::number(r)) << ','
          << (c < col_labels_.size() ? col_labels_[c] : QString::number(c)) << ','
          << QString::number(value(r, c), 'g', 17) << '\n';
    }
  }
}

}  // namespace dlab::views
