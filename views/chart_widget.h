// A line chart drawn with QPainter, built for many long series that grow live:
// - decimation to min/max per pixel column (decimate.h), so 32 x 20,000 points
//   draw in a few milliseconds and spikes stay visible;
// - appends only mark the chart dirty; a timer repaints at most every
//   kRepaintMs (~30 Hz), however fast points arrive;
// - EMA smoothing, log-x / log-y per chart (values <= 0 are masked at draw
//   time; the stored series never change), zoom (wheel) and pan (drag) with
//   x-axes linked through an AxisLink, hover read-out, colour-bar legend for
//   per-layer lines;
// - export PNG, SVG and CSV of exactly the data shown (shownData()).
#pragma once

#include <QPointer>
#include <QString>
#include <QStringList>
#include <QTimer>
#include <limits>
#include <vector>

#include "views/color_map.h"
#include "views/decimate.h"
#include "views/plot_frame.h"

namespace dlab::views {

class AxisLink;

class ChartWidget : public PlotFrame {
  Q_OBJECT
 public:
  static constexpr int kRepaintMs = 33;

  explicit ChartWidget(const QString& title, QWidget* parent = nullptr);

  // The keys a focused chart takes (keyPressEvent), for Help > Keyboard shortcuts.
  struct KeyBinding {
    Qt::Key key;
    const char* action;
  };
  static const std::vector<KeyBinding>& keyBindings();

  // ---- data (the stored series are never modified by display settings)
  int addLine(const QString& name, const QColor& color);  // returns the line index
  void setLine(int line, std::vector<double> x, std::vector<double> y);
  void appendPoint(int line, double x, double y);  // x must not decrease
  void clearLines();                               // also drops the colour bar
  int lineCount() const { return int(lines_.size()); }
  const QString& lineName(int line) const { return lines_[size_t(line)].name; }
  const std::vector<double>& lineX(int line) const { return lines_[size_t(line)].x; }
  const std::vector<double>& lineY(int line) const { return lines_[size_t(line)].y; }

  // ---- display
  void setLogX(bool on);
  void setLogY(bool on);
  bool logX() const { return logx_; }
  bool logY() const { return logy_; }
  // Exponential smoothing by x distance over the whole series (so the curve
  // does not change with zoom): a point dx steps older weighs weight^dx as
  // much, each point counts for the steps since the previous one, and the
  // average is debiased at the start. A series logged every 25 steps is
  // therefore smoothed over the same steps as one logged every step, not over
  // 25 times as many. Lines of fewer than kMinSmoothedPoints points are drawn
  // as they are. weight in [0, 1).
  static constexpr size_t kMinSmoothedPoints = 30;
  void setSmoothing(bool on, double weight = 0.9);
  bool smoothing() const { return smooth_; }
  void setAxisLabels(const QString& x, const QString& y);
  // A colour bar on the right instead of a name legend (per-layer lines).
  void setColorBar(const QString& label, const ColorMap& map, double lo_label, double hi_label);
  void setXLink(AxisLink* link);
  // x range in data units; resetZoom() returns to fitting the data.
  void setXRange(double lo, double hi);
  void resetZoom();

  // ---- what is drawn, for export and tests: per line, the (x, y) points kept
  // after smoothing, log masking, x-range clipping and decimation, in data units.
  struct ShownLine {
    QString name;
    std::vector<double> x, y;
  };
  std::vector<ShownLine> shownData() const { return shownData(plotRectFor(rect())); }
  // The hover read-out as shown (the cursor's x, then each line's value with
  // its own x); empty when the cursor is not over the plot.
  QStringList hoverText() const;

  // Draws the chart into any painter (screen, image, SVG): the frame, then
  // axes, lines, legend and the hover read-out.
  void render(QPainter& p, const QRect& r) const override;

  // Repaints now if data changed since the last paint (the timer calls this).
  void flushRepaint();
  // Milliseconds the last paintEvent took (the chart benchmark reads it).
  double lastPaintMs() const { return last_paint_ms_; }
  // CPU time of this thread during the last paintEvent (equals the wall time
  // on an idle machine; on a shared one the difference is time spent waiting).
  double lastPaintCpuMs() const { return last_paint_cpu_ms_; }

 signals:
  void painted(double ms);

 protected:
  void paintEvent(QPaintEvent*) override;
  void wheelEvent(QWheelEvent*) override;
  void mousePressEvent(QMouseEvent*) override;
  void mouseMoveEvent(QMouseEvent*) override;
  void mouseReleaseEvent(QMouseEvent*) override;
  void mouseDoubleClickEvent(QMouseEvent*) override;
  void leaveEvent(QEvent*) override;
  void contextMenuEvent(QContextMenuEvent*) override;
  void keyPressEvent(QKeyEvent*) override;

  void writeCsv(QTextStream& out) const override;  // series, x, value: one row per shown point
  void titleChanged() override;

 private:
  struct Line {
    QString name;
    QColor color;
    std::vector<double> x, y, ema;
    // The smoothing's running sums (extended point by point as points arrive).
    double ema_sum = 0, ema_weight = 0, ema_last_x = std::numeric_limits<double>::quiet_NaN();
    // Transformed (log or not) x and displayed y, extended incrementally as
    // points arrive and dropped when an axis or the smoothing changes, so a
    // repaint does not redo 640k log10 calls (see --bench-charts).
    mutable std::vector<double> tx, ty;
    mutable MinMaxCache decimation;
    // The raw values' transformed y while the line is drawn smoothed: drawn
    // faintly under the smoothed curve (empty otherwise).
    mutable std::vector<double> raw_ty;
    mutable MinMaxCache raw_decimation;
  };
  struct View {
    QRectF plot;
    double tx0 = 0, tx1 = 1, ty0 = 0, ty1 = 1;   // transformed ranges
    std::vector<std::vector<int64_t>> kept;      // decimate_minmax output per line
    std::vector<const double*> tx, ty;           // transformed coordinates per line (Line::tx/ty)
    std::vector<std::vector<int64_t>> raw_kept;  // the raw points of a smoothed line (else empty)
    // Transformed coordinates -> pixels.
    double px(double tx) const { return plot.left() + (tx - tx0) / (tx1 - tx0) * plot.width(); }
    double py(double ty) const { return plot.bottom() - (ty - ty0) / (ty1 - ty0) * plot.height(); }
  };
  struct HoverRow {
    QString text;
    QColor color;
    double dist;  // pixels from the cursor (-1: the header row)
  };
  struct Ink {
    QColor fg, grid, frame;  // text, grid lines, the plot's frame (from the palette)
  };

  QRectF plotRectFor(const QRect& r) const;
  View computeView(const QRectF& plot) const;
  Ink ink() const;
  void renderAxes(QPainter& p, const QRect& r, const View& v) const;
  void renderLines(QPainter& p, const View& v) const;
  void renderLegend(QPainter& p, const View& v) const;
  void renderHover(QPainter& p, const View& v) const;
  // The read-out at the hovered step (hover_x_), for a cursor at height y.
  std::vector<HoverRow> hoverRows(const View& v, double cursor_y) const;
  std::vector<ShownLine> shownData(const QRectF& plot) const;
  bool drawnSmoothed(const Line& l) const { return smooth_ && l.y.size() >= kMinSmoothedPoints; }
  const std::vector<double>& displayY(const Line& l) const {
    return drawnSmoothed(l) ? l.ema : l.y;
  }
  // Raw values under smoothed ones only for a few lines: under many thin
  // lines they would be clutter.
  bool drawsRawUnder(const Line& l) const { return drawnSmoothed(l) && lines_.size() <= 8; }
  static void clearTransforms(const Line& l);
  double tX(double v) const;
  double tY(double v) const;
  double invX(double t) const;
  void markDirty();
  void ensureTransformed(const Line& l) const;
  void dropTransforms();
  void recomputeEma(Line& l) const;
  void emaPush(Line& l, double x, double v) const;  // appends l.ema's value for (x, v)
  void applyXRange(bool auto_range, double lo, double hi, bool publish);
  void onLinkRange(QObject* sender, bool auto_range, double lo, double hi);

  QString xlabel_ = "step", ylabel_;
  std::vector<Line> lines_;
  bool logx_ = false, logy_ = false, smooth_ = false;
  double smooth_weight_ = 0.9;
  bool xauto_ = true;
  double xlo_ = 0, xhi_ = 1;  // data units, when !xauto_
  bool colorbar_ = false;
  QString colorbar_label_;
  ColorMap colorbar_map_;
  double colorbar_lo_ = 0, colorbar_hi_ = 1;
  QPointer<AxisLink> link_;
  QTimer repaint_timer_;
  bool dirty_ = false;
  bool hovering_ = false;
  QPoint hover_;
  // The x (data units: the step) under the cursor when the mouse last moved:
  // the read-out stays on it while live points extend the axis.
  double hover_x_ = 0;
  // The x range and plot of the last paint on screen: what the cursor was over.
  mutable bool painted_view_ = false;
  mutable double painted_tx0_ = 0, painted_tx1_ = 1;
  mutable QRectF painted_plot_;
  bool dragging_ = false;
  QPoint drag_start_;
  double drag_tx0_ = 0, drag_tx1_ = 1;
  double last_paint_ms_ = 0, last_paint_cpu_ms_ = 0;
};

}  // namespace dlab::views
