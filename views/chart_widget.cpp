#include "views/chart_widget.h"

#include <QContextMenuEvent>
#include <QElapsedTimer>
#include <QFile>
#include <QFileDialog>
#include <QImage>
#include <QMenu>
#include <QMouseEvent>
#include <QPaintEngine>
#include <QPainter>
#include <QPainterPath>
#include <QSvgGenerator>
#include <QTextStream>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>

#include "views/axis_format.h"
#include "views/axis_link.h"
#include "views/decimate.h"
#include "views/line_raster.h"

namespace dlab::views {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// "Nice" tick positions (1, 2, 5 x 10^k) covering [lo, hi].

QString format_value(double v) { return format_tick(v, 4); }

}  // namespace

ChartWidget::ChartWidget(const QString& title, QWidget* parent) : PlotFrame(title, parent) {
  setMouseTracking(true);
  setFocusPolicy(Qt::ClickFocus);
  setMinimumSize(240, 160);
  repaint_timer_.setInterval(kRepaintMs);
  connect(&repaint_timer_, &QTimer::timeout, this, &ChartWidget::flushRepaint);
  repaint_timer_.start();
  setToolTip(
      tr("Wheel: zoom x (Ctrl: only this chart's y stays automatic). Drag: pan. "
         "Double-click: reset. Right-click: smoothing, log axes, export. Keys S, X, Y, R."));
}

int ChartWidget::addLine(const QString& name, const QColor& color) {
  Line line;
  line.name = name;
  line.color = color;
  lines_.push_back(std::move(line));
  markDirty();
  return int(lines_.size()) - 1;
}

void ChartWidget::setLine(int line, std::vector<double> x, std::vector<double> y) {
  Line& l = lines_.at(size_t(line));
  l.x = std::move(x);
  l.y = std::move(y);
  l.y.resize(l.x.size(), kNaN);
  clearTransforms(l);
  recomputeEma(l);
  markDirty();
}

void ChartWidget::appendPoint(int line, double x, double y) {
  Line& l = lines_.at(size_t(line));
  l.x.push_back(x);
  l.y.push_back(y);
  emaPush(l, x, y);  // one append stays O(1)
  if (smooth_ && l.y.size() == kMinSmoothedPoints) {
    // From now on the line is drawn smoothed: its cached display values go.
    clearTransforms(l);
  }
  markDirty();
}

void ChartWidget::clearLines() {
  lines_.clear();
  hovering_ = false;  // a read-out of the old lines does not survive (another run opened)
  colorbar_ = false;  // the next data brings its own legend
  markDirty();
}

void ChartWidget::emaPush(Line& l, double x, double v) const {
  if (!std::isfinite(v)) {  // masked where it is, and not averaged in
    l.ema.push_back(v);
    return;
  }
  // The steps this point stands for: since the previous one (1 for the first;
  // a repeated x keeps the last interval, so it is not weightless).
  const double dx = std::isfinite(l.ema_last_x) ? x - l.ema_last_x : 1.0;
  const double span = dx > 0 ? dx : 1.0;
  const double decay = std::pow(smooth_weight_, std::max(0.0, dx));
  l.ema_sum = l.ema_sum * decay + span * v;
  l.ema_weight = l.ema_weight * decay + span;
  l.ema_last_x = x;
  l.ema.push_back(l.ema_sum / l.ema_weight);
}

void ChartWidget::recomputeEma(Line& l) const {
  l.ema.clear();
  l.ema.reserve(l.y.size());
  l.ema_sum = l.ema_weight = 0;
  l.ema_last_x = kNaN;
  for (size_t i = 0; i < l.y.size(); ++i) emaPush(l, l.x[i], l.y[i]);
}

void ChartWidget::setLogX(bool on) {
  logx_ = on;
  dropTransforms();
  markDirty();
}
void ChartWidget::setLogY(bool on) {
  logy_ = on;
  dropTransforms();
  markDirty();
}
void ChartWidget::setSmoothing(bool on, double weight) {
  smooth_ = on;
  smooth_weight_ = std::clamp(weight, 0.0, 0.999);
  for (Line& l : lines_) recomputeEma(l);
  dropTransforms();
  markDirty();
}
void ChartWidget::setAxisLabels(const QString& x, const QString& y) {
  xlabel_ = x;
  ylabel_ = y;
  markDirty();
}
void ChartWidget::titleChanged() { markDirty(); }
void ChartWidget::setColorBar(const QString& label, const ColorMap& map, double lo_label,
                              double hi_label) {
  colorbar_ = true;
  colorbar_label_ = label;
  colorbar_map_ = map;
  colorbar_lo_ = lo_label;
  colorbar_hi_ = hi_label;
  markDirty();
}

void ChartWidget::setXLink(AxisLink* link) {
  if (link_) disconnect(link_, nullptr, this, nullptr);
  link_ = link;
  if (link_) connect(link_, &AxisLink::rangeChanged, this, &ChartWidget::onLinkRange);
}

void ChartWidget::setXRange(double lo, double hi) { applyXRange(false, lo, hi, true); }
void ChartWidget::resetZoom() { applyXRange(true, 0, 0, true); }

void ChartWidget::applyXRange(bool auto_range, double lo, double hi, bool publish) {
  xauto_ = auto_range;
  if (!auto_range) {
    xlo_ = std::min(lo, hi);
    xhi_ = std::max(lo, hi);
  }
  markDirty();
  if (publish && link_) link_->publish(this, auto_range, lo, hi);
}

void ChartWidget::onLinkRange(QObject* sender, bool auto_range, double lo, double hi) {
  if (sender != this) applyXRange(auto_range, lo, hi, /*publish=*/false);
}

void ChartWidget::markDirty() { dirty_ = true; }

void ChartWidget::clearTransforms(const Line& l) {
  l.tx.clear();
  l.ty.clear();
  l.decimation.invalidate();
  l.raw_ty.clear();
  l.raw_decimation.invalidate();
}

void ChartWidget::ensureTransformed(const Line& l) const {
  const auto& dy = displayY(l);
  if (l.tx.size() > l.x.size()) clearTransforms(l);
  // The raw values ride along while the line is drawn smoothed; when that
  // changes (the line count passing 8) they are redone or dropped.
  const bool raw = drawsRawUnder(l);
  if ((raw && l.raw_ty.size() != l.tx.size()) || (!raw && !l.raw_ty.empty())) clearTransforms(l);
  l.tx.reserve(l.x.capacity());
  l.ty.reserve(l.x.capacity());
  for (size_t k = l.tx.size(); k < l.x.size(); ++k) {
    l.tx.push_back(tX(l.x[k]));
    l.ty.push_back(tY(dy[k]));
    if (raw) l.raw_ty.push_back(tY(l.y[k]));
  }
}

void ChartWidget::dropTransforms() {
  for (Line& l : lines_) clearTransforms(l);
}

void ChartWidget::flushRepaint() {
  if (dirty_) update();
}

double ChartWidget::tX(double v) const { return logx_ ? (v > 0 ? std::log10(v) : kNaN) : v; }
double ChartWidget::tY(double v) const {
  if (!std::isfinite(v)) return kNaN;
  return logy_ ? (v > 0 ? std::log10(v) : kNaN) : v;
}
double ChartWidget::invX(double t) const { return logx_ ? std::pow(10.0, t) : t; }

QRectF ChartWidget::plotRectFor(const QRect& r) const {
  const double right = colorbar_ ? 78 : 14;
  return QRectF(r.left() + 64, r.top() + 24, std::max(10.0, r.width() - 64 - right),
                std::max(10.0, r.height() - 24 - 38.0));
}

ChartWidget::View ChartWidget::computeView(const QRectF& plot) const {
  View v;
  v.plot = plot;
  const size_t n = lines_.size();
  v.tx.resize(n);
  v.ty.resize(n);
  v.kept.resize(n);
  v.raw_kept.resize(n);
  // x range (transformed): from the data, or the zoom range.
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0;
  for (size_t i = 0; i < n; ++i) {
    const Line& l = lines_[i];
    ensureTransformed(l);
    const auto& tx = l.tx;
    v.tx[i] = l.tx.data();
    v.ty[i] = l.ty.data();
    for (size_t k = 0; k < tx.size(); ++k) {
      if (!std::isnan(tx[k])) {
        x0 = std::min(x0, tx[k]);
        break;
      }
    }
    if (!tx.empty() && !std::isnan(tx.back())) x1 = std::max(x1, tx.back());
  }
  if (!xauto_) {
    x0 = tX(xlo_);
    x1 = tX(xhi_);
    if (std::isnan(x0)) x0 = tX(std::max(xhi_ * 1e-3, 1e-12));
  }
  if (!(x1 > x0)) {
    if (std::isfinite(x0)) {
      x1 = x0 + 1;
    } else {
      x0 = 0;
      x1 = 1;
    }
  }
  v.tx0 = x0;
  v.tx1 = x1;
  // ~2 points per pixel: one min and one max per pixel column.
  const int buckets = std::max(1, int(plot.width()));
  double y0 = std::numeric_limits<double>::infinity(), y1 = -y0;
  for (size_t i = 0; i < n; ++i) {
    // x is sorted in data units; the log transform keeps the order, and NaN
    // (x <= 0 on log-x) only occurs at the front, where lower_bound skips it
    // as long as we start after it.
    const Line& l = lines_[i];
    const auto& tx = l.tx;
    int64_t start = 0;
    while (start < int64_t(tx.size()) && std::isnan(tx[size_t(start)])) ++start;
    // The points of (tx, ty) one bucket per pixel column keeps, as indices of
    // the whole line; those inside the x range widen the y range.
    auto keep = [&](MinMaxCache& cache, const std::vector<double>& ty) {
      auto kept = cache.select(tx.data() + start, ty.data() + start, int64_t(tx.size()) - start, x0,
                               x1, buckets);
      for (auto& k : kept) {
        if (k == kGap) continue;
        k += start;
        if (tx[size_t(k)] >= x0 && tx[size_t(k)] <= x1) {
          y0 = std::min(y0, ty[size_t(k)]);
          y1 = std::max(y1, ty[size_t(k)]);
        }
      }
      return kept;
    };
    v.kept[i] = keep(l.decimation, l.ty);
    // The faint raw points count for the y range too, so a spike the
    // smoothing flattens stays in view.
    if (!l.raw_ty.empty()) v.raw_kept[i] = keep(l.raw_decimation, l.raw_ty);
  }
  if (!std::isfinite(y0)) {
    y0 = 0;
    y1 = 1;
  }
  if (y1 - y0 < 1e-12 * std::max(1.0, std::abs(y0))) {
    const double pad = std::max(std::abs(y0) * 0.05, 1e-6);
    y0 -= pad;
    y1 += pad;
  } else {
    const double pad = 0.04 * (y1 - y0);
    y0 -= pad;
    y1 += pad;
  }
  v.ty0 = y0;
  v.ty1 = y1;
  return v;
}

std::vector<ChartWidget::ShownLine> ChartWidget::shownData(const QRectF& plot) const {
  const View v = computeView(plot);
  std::vector<ShownLine> out;
  for (size_t i = 0; i < lines_.size(); ++i) {
    ShownLine s;
    s.name = lines_[i].name;
    const auto& dy = displayY(lines_[i]);
    for (int64_t k : v.kept[i]) {
      if (k == kGap) continue;
      const double tx = v.tx[i][size_t(k)];
      if (tx < v.tx0 || tx > v.tx1) continue;  // the edge points are clipped away on screen
      s.x.push_back(lines_[i].x[size_t(k)]);
      s.y.push_back(dy[size_t(k)]);
    }
    out.push_back(std::move(s));
  }
  return out;
}

void ChartWidget::render(QPainter& p, const QRect& r) const {
  QString shown_title = title();
  if (smooth_) shown_title += tr("  (EMA)");
  paintFrame(p, r, shown_title);
  const View v = computeView(plotRectFor(r));
  if (p.device() == this) {
    painted_view_ = true;
    painted_tx0_ = v.tx0;
    painted_tx1_ = v.tx1;
    painted_plot_ = v.plot;
  }
  renderAxes(p, r, v);
  renderLines(p, v);
  renderLegend(p, v);
  renderHover(p, v);
}

ChartWidget::Ink ChartWidget::ink() const {
  Ink k;
  k.fg = palette().color(QPalette::WindowText);
  k.grid = k.fg;
  k.grid.setAlpha(40);
  k.frame = k.fg;
  k.frame.setAlpha(110);
  return k;
}

// Grid, ticks and their labels, axis titles, the plot's frame; "no data" when empty.
void ChartWidget::renderAxes(QPainter& p, const QRect& r, const View& v) const {
  const QRectF& plot = v.plot;
  const Ink k = ink();
  const QColor& fg = k.fg;
  // Grid and ticks (axis_format.h: decades on a log axis, or finer within one).
  auto axis_ticks = [&](double t0, double t1, bool log, int max_ticks) {
    return log ? log_ticks(t0, t1, max_ticks) : nice_ticks(t0, t1, max_ticks);
  };
  auto label = [&](double t, bool log) { return format_value(log ? std::pow(10.0, t) : t); };
  p.setPen(QPen(k.grid, 1));
  const auto xt = axis_ticks(v.tx0, v.tx1, logx_, std::max(2, int(plot.width() / 90)));
  const auto yt = axis_ticks(v.ty0, v.ty1, logy_, std::max(2, int(plot.height() / 40)));
  for (double t : xt) p.drawLine(QPointF(v.px(t), plot.top()), QPointF(v.px(t), plot.bottom()));
  for (double t : yt) p.drawLine(QPointF(plot.left(), v.py(t)), QPointF(plot.right(), v.py(t)));
  p.setPen(fg);
  for (double t : xt) {
    p.drawText(QRectF(v.px(t) - 45, plot.bottom() + 2, 90, 14), Qt::AlignHCenter | Qt::AlignTop,
               label(t, logx_));
  }
  for (double t : yt) {
    p.drawText(QRectF(r.left(), v.py(t) - 7, plot.left() - r.left() - 4, 14),
               Qt::AlignRight | Qt::AlignVCenter, label(t, logy_));
  }
  QString xl = xlabel_ + (logx_ ? tr(" (log)") : QString());
  p.drawText(QRectF(plot.left(), plot.bottom() + 17, plot.width(), 16), Qt::AlignHCenter, xl);
  if (!ylabel_.isEmpty() || logy_) {
    p.save();
    p.translate(r.left() + 10, plot.center().y());
    p.rotate(-90);
    p.drawText(QRectF(-plot.height() / 2, -8, plot.height(), 16), Qt::AlignHCenter,
               ylabel_ + (logy_ ? tr(" (log)") : QString()));
    p.restore();
  }
  p.setPen(k.frame);
  p.drawRect(plot);
  if (lines_.empty() ||
      std::all_of(lines_.begin(), lines_.end(), [](const Line& l) { return l.x.empty(); })) {
    p.setPen(fg);
    p.drawText(plot, Qt::AlignCenter, tr("no data"));
  }
}

// The lines: decimated, broken at masked points, clipped to the plot.
void ChartWidget::renderLines(QPainter& p, const View& v) const {
  const QRectF& plot = v.plot;
  p.save();
  p.setClipRect(plot);
  size_t total = 0;
  for (const auto& k : v.kept) total += k.size();
  // Antialiasing costs most with many lines; thin aliased lines of ~2
  // points per pixel look the same at that density.
  p.setRenderHint(QPainter::Antialiasing, total < 20000);
  // Dense thin lines on screen or into an image: our own column-span
  // rasteriser (line_raster.h), one image for all of them. Vector output (SVG)
  // and few lines keep QPainter's polylines.
  const bool thin = lines_.size() > 8;
  const bool raster =
      thin && total >= 20000 && p.paintEngine() && p.paintEngine()->type() == QPaintEngine::Raster;
  QImage layer;
  if (raster) {
    const qreal dpr = p.device()->devicePixelRatioF();
    layer = QImage((plot.size() * dpr).toSize() + QSize(1, 1), QImage::Format_ARGB32_Premultiplied);
    layer.fill(Qt::transparent);
  }
  // Under each smoothed line, its raw values, faint (TensorBoard's way): the
  // smoothing never hides what was measured.
  for (size_t i = 0; i < lines_.size(); ++i) {
    if (v.raw_kept[i].empty()) continue;
    QColor faint = lines_[i].color;
    faint.setAlphaF(0.28);
    QPen pen(faint, 1.0);
    pen.setCosmetic(true);
    p.setPen(pen);
    QPolygonF poly;
    for (int64_t k : v.raw_kept[i]) {
      if (k == kGap) {
        p.drawPolyline(poly);
        poly.clear();
        continue;
      }
      poly.append(QPointF(v.px(v.tx[i][size_t(k)]), v.py(lines_[i].raw_ty[size_t(k)])));
    }
    p.drawPolyline(poly);
  }
  std::vector<QPointF> pts;
  for (size_t i = 0; i < lines_.size(); ++i) {
    QPen pen(lines_[i].color, thin ? 0.0 : 1.6);
    pen.setCosmetic(true);
    p.setPen(pen);
    QPolygonF poly;
    auto draw = [&] {
      if (raster) {
        raster_polyline(layer, pts, lines_[i].color);
        pts.clear();
      } else if (poly.size() == 1) {
        // A lone point (a one-point series, or one between masked ones): a
        // dot large enough to see, not one pixel.
        p.save();
        p.setPen(Qt::NoPen);
        p.setBrush(lines_[i].color);
        p.drawEllipse(poly[0], 3.0, 3.0);
        p.restore();
      } else if (poly.size() > 1) {
        p.drawPolyline(poly);
      }
      poly.clear();
    };
    const qreal dpr = raster ? p.device()->devicePixelRatioF() : 1.0;
    for (int64_t k : v.kept[i]) {
      if (k == kGap) {
        draw();
        continue;
      }
      const QPointF q(v.px(v.tx[i][size_t(k)]), v.py(v.ty[i][size_t(k)]));
      if (raster) {
        pts.emplace_back((q.x() - plot.left()) * dpr, (q.y() - plot.top()) * dpr);
      } else {
        poly.append(q);
      }
    }
    draw();
  }
  if (raster) {
    layer.setDevicePixelRatio(p.device()->devicePixelRatioF());
    p.drawImage(plot.topLeft(), layer);
  }
  p.restore();
}

// A colour bar for per-layer lines, else the names (up to 6) in the emptiest corner.
void ChartWidget::renderLegend(QPainter& p, const View& v) const {
  const QRectF& plot = v.plot;
  const QPalette& pal = palette();
  const Ink k = ink();
  const QColor& fg = k.fg;
  const QFontMetrics fm(p.font());
  if (colorbar_) {
    const QRectF bar(plot.right() + 12, plot.top() + 14, 12, plot.height() - 14);
    for (int yy = 0; yy < int(bar.height()); ++yy) {
      const double t = 1.0 - double(yy) / std::max(1.0, bar.height() - 1);
      p.setPen(
          colorbar_map_.color(colorbar_map_.lo() + t * (colorbar_map_.hi() - colorbar_map_.lo())));
      p.drawLine(QPointF(bar.left(), bar.top() + yy), QPointF(bar.right(), bar.top() + yy));
    }
    p.setPen(k.frame);
    p.drawRect(bar);
    p.setPen(fg);
    p.drawText(QRectF(bar.left() - 12, plot.top() - 2, 70, 14), Qt::AlignLeft, colorbar_label_);
    p.drawText(QRectF(bar.right() + 3, bar.top() - 6, 40, 14), Qt::AlignLeft,
               format_value(colorbar_hi_));
    p.drawText(QRectF(bar.right() + 3, bar.bottom() - 8, 40, 14), Qt::AlignLeft,
               format_value(colorbar_lo_));
  } else if (lines_.size() > 1) {
    // The corner whose legend box would cover the fewest drawn points (and
    // the segments between them, sampled), top corners first on a tie.
    int legend_w = 0;
    for (size_t i = 0; i < std::min<size_t>(lines_.size(), 6); ++i) {
      legend_w = std::max(legend_w, fm.horizontalAdvance(lines_[i].name) + 22);
    }
    const double box_h = 15.0 * double(std::min<size_t>(lines_.size(), 6)) + 6;
    const QRectF corners[4] = {
        QRectF(plot.left(), plot.top(), legend_w + 12, box_h),
        QRectF(plot.right() - legend_w - 12, plot.top(), legend_w + 12, box_h),
        QRectF(plot.right() - legend_w - 12, plot.bottom() - box_h, legend_w + 12, box_h),
        QRectF(plot.left(), plot.bottom() - box_h, legend_w + 12, box_h)};
    int hits[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < lines_.size(); ++i) {
      QPointF prev;
      bool have_prev = false;
      for (int64_t k : v.kept[i]) {
        if (k == kGap) {
          have_prev = false;
          continue;
        }
        const QPointF q(v.px(v.tx[i][size_t(k)]), v.py(v.ty[i][size_t(k)]));
        for (int c = 0; c < 4; ++c) {
          for (double t : {0.0, 0.25, 0.5, 0.75}) {
            if (t > 0 && !have_prev) continue;
            hits[c] += corners[c].contains(have_prev ? prev + t * (q - prev) : q);
          }
        }
        prev = q;
        have_prev = true;
      }
    }
    const int best = int(std::min_element(hits, hits + 4) - hits);
    double x = corners[best].left() + 8;
    double y = corners[best].top() + 4;
    for (size_t i = 0; i < std::min<size_t>(lines_.size(), 6); ++i) {
      const int w = fm.horizontalAdvance(lines_[i].name) + 22;
      QColor bg = pal.color(QPalette::Base);
      bg.setAlpha(200);
      p.fillRect(QRectF(x - 2, y, w, 14), bg);
      p.fillRect(QRectF(x, y + 5, 12, 4), lines_[i].color);
      p.setPen(fg);
      p.drawText(QRectF(x + 16, y, w, 14), Qt::AlignLeft | Qt::AlignVCenter, lines_[i].name);
      y += 15;
    }
  }
}

// Hover read-out: the x under the cursor and the nearest lines' values.
std::vector<ChartWidget::HoverRow> ChartWidget::hoverRows(const View& v, double cursor_y) const {
  std::vector<HoverRow> rows;
  const QRectF& plot = v.plot;
  const QPointF at(v.px(tX(hover_x_)), cursor_y);
  if (!plot.contains(at) || lines_.empty()) return rows;
  double xh = hover_x_;
  std::vector<HoverRow> hits;
  bool whole = true;  // every value read sits at a whole x (steps): so does the header
  for (const Line& line : lines_) {
    const auto& xs = line.x;
    if (xs.empty()) continue;
    size_t k = size_t(std::lower_bound(xs.begin(), xs.end(), xh) - xs.begin());
    if (k == xs.size() || (k > 0 && std::abs(xs[k - 1] - xh) < std::abs(xs[k] - xh))) --k;
    const double yv = displayY(line)[k];
    const double ty = tY(yv);
    const double dist = std::isnan(ty) ? 1e9 : std::abs(v.py(ty) - at.y());
    // Each value with its own x: series sampled at other steps (validation
    // every N steps) are read at their nearest point, not at the cursor's.
    hits.push_back(
        {line.name + " = " + format_value(yv) + "  (" + xlabel_ + " " + format_value(xs[k]) + ")",
         line.color, dist});
    whole = whole && xs[k] == std::round(xs[k]);
  }
  if (whole) xh = std::round(xh);
  rows.push_back({xlabel_ + " " + format_value(xh), QColor(), -1});
  std::sort(hits.begin(), hits.end(),
            [](const HoverRow& a, const HoverRow& b) { return a.dist < b.dist; });
  if (hits.size() > 6) hits.resize(6);
  rows.insert(rows.end(), hits.begin(), hits.end());
  return rows;
}

QStringList ChartWidget::hoverText() const {
  QStringList out;
  if (!hovering_) return out;
  for (const HoverRow& r : hoverRows(computeView(plotRectFor(rect())), hover_.y())) out << r.text;
  return out;
}

// The hover read-out: the cursor's x, then the nearest lines' values, each
// with its own x. Drawn on screen only, never into an exported image.
void ChartWidget::renderHover(QPainter& p, const View& v) const {
  if (!hovering_ || p.device() != this) return;
  const std::vector<HoverRow> rows = hoverRows(v, hover_.y());
  if (rows.empty()) return;
  const QRectF& plot = v.plot;
  const double cursor_x = v.px(tX(hover_x_));  // the hovered step, wherever the axis put it
  const QPalette& pal = palette();
  const QFontMetrics fm(p.font());
  p.setPen(QPen(ink().frame, 1, Qt::DashLine));
  p.drawLine(QPointF(cursor_x, plot.top()), QPointF(cursor_x, plot.bottom()));
  int w = 0;
  for (const HoverRow& r : rows) w = std::max(w, fm.horizontalAdvance(r.text) + 14);
  const double bh = 15.0 * double(rows.size()) + 4;
  double bx = cursor_x + 12;
  if (bx + w + 10 > plot.right()) bx = cursor_x - w - 22;
  const QRectF box(bx, plot.top() + 6, w + 10, bh);
  QColor bg = pal.color(QPalette::ToolTipBase);
  bg.setAlpha(235);
  p.fillRect(box, bg);
  p.setPen(pal.color(QPalette::ToolTipText));
  p.drawText(QRectF(box.left() + 5, box.top() + 2, w, 15), Qt::AlignLeft, rows[0].text);
  for (size_t i = 1; i < rows.size(); ++i) {
    const double yy = box.top() + 2 + 15.0 * double(i);
    p.fillRect(QRectF(box.left() + 5, yy + 5, 8, 4), rows[i].color);
    p.drawText(QRectF(box.left() + 19, yy, w, 15), Qt::AlignLeft, rows[i].text);
  }
}

namespace {
double thread_cpu_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}
}  // namespace

void ChartWidget::paintEvent(QPaintEvent*) {
  QElapsedTimer timer;
  timer.start();
  const double cpu0 = thread_cpu_ms();
  dirty_ = false;
  QPainter p(this);
  render(p, rect());
  last_paint_ms_ = double(timer.nsecsElapsed()) / 1e6;
  last_paint_cpu_ms_ = thread_cpu_ms() - cpu0;
  emit painted(last_paint_ms_);
}

void ChartWidget::wheelEvent(QWheelEvent* e) {
  const QRectF plot = plotRectFor(rect());
  const View v = computeView(plot);
  const double f = e->angleDelta().y() > 0 ? 0.8 : 1.25;
  const double c =
      v.tx0 + (e->position().x() - plot.left()) / plot.width() * (v.tx1 - v.tx0);  // fixed point
  const double t0 = c + (v.tx0 - c) * f, t1 = c + (v.tx1 - c) * f;
  applyXRange(false, invX(t0), invX(t1), true);
  e->accept();
}

void ChartWidget::mousePressEvent(QMouseEvent* e) {
  if (e->button() != Qt::LeftButton) return;
  const View v = computeView(plotRectFor(rect()));
  dragging_ = true;
  drag_start_ = e->position().toPoint();
  drag_tx0_ = v.tx0;
  drag_tx1_ = v.tx1;
}

void ChartWidget::mouseMoveEvent(QMouseEvent* e) {
  hover_ = e->position().toPoint();
  hovering_ = true;
  if (!painted_view_) {
    const View v = computeView(plotRectFor(rect()));
    painted_tx0_ = v.tx0;
    painted_tx1_ = v.tx1;
    painted_plot_ = v.plot;
  }
  hover_x_ = invX(painted_tx0_ + (hover_.x() - painted_plot_.left()) / painted_plot_.width() *
                                     (painted_tx1_ - painted_tx0_));
  if (dragging_) {
    const QRectF plot = plotRectFor(rect());
    const double dt = -(hover_.x() - drag_start_.x()) / plot.width() * (drag_tx1_ - drag_tx0_);
    applyXRange(false, invX(drag_tx0_ + dt), invX(drag_tx1_ + dt), true);
  }
  markDirty();
}

void ChartWidget::mouseReleaseEvent(QMouseEvent*) { dragging_ = false; }
void ChartWidget::mouseDoubleClickEvent(QMouseEvent*) { resetZoom(); }
void ChartWidget::leaveEvent(QEvent*) {
  hovering_ = false;
  markDirty();
}

const std::vector<ChartWidget::KeyBinding>& ChartWidget::keyBindings() {
  // Kept beside keyPressEvent, which acts on exactly these.
  static const std::vector<KeyBinding> bindings = {{Qt::Key_S, "smoothing on / off"},
                                                   {Qt::Key_X, "log x on / off"},
                                                   {Qt::Key_Y, "log y on / off"},
                                                   {Qt::Key_R, "reset the zoom"}};
  return bindings;
}

void ChartWidget::keyPressEvent(QKeyEvent* e) {
  switch (e->key()) {
    case Qt::Key_S:
      setSmoothing(!smooth_, smooth_weight_);
      break;
    case Qt::Key_X:
      setLogX(!logx_);
      break;
    case Qt::Key_Y:
      setLogY(!logy_);
      break;
    case Qt::Key_R:
      resetZoom();
      break;
    default:
      QWidget::keyPressEvent(e);
  }
}

void ChartWidget::contextMenuEvent(QContextMenuEvent* e) {
  QMenu menu(this);
  QAction* smooth = menu.addAction(tr("EMA smoothing"));
  smooth->setCheckable(true);
  smooth->setChecked(smooth_);
  connect(smooth, &QAction::toggled, this, [this](bool on) { setSmoothing(on, smooth_weight_); });
  QAction* lx = menu.addAction(tr("Log x"));
  lx->setCheckable(true);
  lx->setChecked(logx_);
  connect(lx, &QAction::toggled, this, &ChartWidget::setLogX);
  QAction* ly = menu.addAction(tr("Log y"));
  ly->setCheckable(true);
  ly->setChecked(logy_);
  connect(ly, &QAction::toggled, this, &ChartWidget::setLogY);
  menu.addAction(tr("Reset zoom"), this, &ChartWidget::resetZoom);
  menu.addSeparator();
  addExportActions(menu);
  menu.exec(e->globalPos());
}

void ChartWidget::writeCsv(QTextStream& out) const {
  // Long format (one row per shown point): lines may have different x values.
  out << "series," << (xlabel_.isEmpty() ? QStringLiteral("x") : xlabel_) << ",value\n";
  for (const ShownLine& s : shownData()) {
    QString name = s.name;
    name.replace('"', "\"\"");
    for (size_t k = 0; k < s.x.size(); ++k) {
      out << '"' << name << "\"," << QString::number(s.x[k], 'g', 17) << ','
          << QString::number(s.y[k], 'g', 17) << '\n';
    }
  }
}

}  // namespace dlab::views
