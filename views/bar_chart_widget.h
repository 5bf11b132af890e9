// Grouped bars: one group per layer, one bar per series (e.g. weight
// sparsity at each epsilon), with an optional horizontal threshold line
// (the usefulness tau) and a hover read-out.
#pragma once

#include <QColor>
#include <QString>
#include <QStringList>
#include <limits>
#include <utility>
#include <vector>

#include "views/plot_frame.h"

namespace dlab::views {

class BarChartWidget : public PlotFrame {
  Q_OBJECT
 public:
  explicit BarChartWidget(const QString& title, QWidget* parent = nullptr);

  // groups: labels along x; series[s] has one value per group.
  void setData(const QStringList& groups, const QStringList& series_names,
               std::vector<std::vector<double>> series, std::vector<QColor> colors);
  void setThreshold(double value, const QString& label);  // NaN hides it
  double threshold() const { return threshold_; }
  // The value bars grow from (0 by default): a ratio chart uses 1, so that
  // bars show the excess over 1 and the axis spans only the values near it.
  void setBaseline(double value);
  double baseline() const { return baseline_; }
  // The widget's pixel row of `value` on the y axis (where its bar ends).
  double valueY(double value) const;
  void setAxisLabels(const QString& x, const QString& y);
  // Writes each bar's value above it (one series; for values of very
  // different sizes, where a short bar would otherwise read as zero).
  void setValueLabels(bool on);
  const std::vector<std::vector<double>>& series() const { return series_; }

  void render(QPainter& p, const QRect& r) const override;

 protected:
  void writeCsv(QTextStream& out) const override;  // group, series, value: one row per bar
  void mouseMoveEvent(QMouseEvent*) override;
  void leaveEvent(QEvent*) override;

 private:
  QRectF plotRectFor(const QRect& r) const;
  std::pair<double, double> valueRange() const;  // y axis [lo, hi]: bars, baseline, threshold

  QString xlabel_, ylabel_, threshold_label_;
  QStringList groups_, names_;
  std::vector<std::vector<double>> series_;
  std::vector<QColor> colors_;
  double threshold_ = std::numeric_limits<double>::quiet_NaN();
  double baseline_ = 0;
  int hover_group_ = -1;
  bool value_labels_ = false;
};

}  // namespace dlab::views
