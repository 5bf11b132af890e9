#include "step_heatmap.h"

#include <QCoreApplication>
#include <QStringList>
#include <algorithm>
#include <cmath>
#include <vector>

namespace dlab::gui {

namespace {
QString tr(const char* text) { return QCoreApplication::translate("StepHeatmap", text); }
}  // namespace

void step_heatmap_fill(views::HeatmapWidget* heat, const RunModel::Series* s, int rows,
                       const std::function<double(int64_t, int)>& value,
                       const std::function<double(double)>& post, const QString& row_title,
                       const QStringList& row_labels, int64_t max_cols) {
  if (!s || s->rows() == 0 || rows <= 0) {
    heat->setData(0, 0, {});
    return;
  }
  const int64_t n = s->rows();
  const int64_t bin = (n + max_cols - 1) / max_cols;
  const int64_t cols = (n + bin - 1) / bin;
  std::vector<double> v(size_t(rows) * size_t(cols));  // (rows, cols) row-major
  for (int r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      double sum = 0;
      int64_t count = 0;
      for (int64_t k = c * bin; k < std::min(n, (c + 1) * bin); ++k) {
        const double x = value(k, r);
        if (std::isfinite(x)) {
          sum += x;
          ++count;
        }
      }
      v[size_t(r) * size_t(cols) + size_t(c)] = count > 0 ? post(sum / double(count)) : NAN;
    }
  }
  QStringList labels;
  for (int64_t c = 0; c < cols; ++c) labels << QString::number(s->steps[size_t(c * bin)]);
  heat->setAxes(row_title, bin > 1 ? tr("step (mean of %1 rows per column)").arg(bin) : tr("step"),
                row_labels, labels);
  heat->setData(rows, int(cols), std::move(v));
}

void step_heatmap_layers(views::HeatmapWidget* heat, const RunModel::Series* s, bool log10,
                         int64_t max_cols) {
  const int L = s ? s->width : 0;
  QStringList rows;
  for (int l = 0; l < L; ++l) rows << QString::number(l);
  step_heatmap_fill(
      heat, s, L,
      [&](int64_t k, int l) {
        const double x = s->at(k, l);
        return log10 ? (x > 0 ? std::log10(x) : NAN) : x;
      },
      [](double mean) { return mean; }, tr("block"), rows, max_cols);
}

int step_heatmap_groups(const RunModel::Series* s, const HistogramAxis& axis) {
  if (!s || axis.bins < 1 || s->width % axis.bins != 0) return 0;
  return s->width / axis.bins;
}

void step_heatmap_histogram(views::HeatmapWidget* heat, const RunModel::Series* s,
                            const HistogramAxis& axis, int64_t max_cols, int group) {
  const int groups = step_heatmap_groups(s, axis);
  if (groups == 0 || group < 0 || group >= groups) s = nullptr;  // nothing to draw
  const int bins = s ? axis.bins : 0;
  const int first = group * bins;  // this group's first column in the row
  // Row totals once: each row's counts become fractions of its entries.
  std::vector<double> total(s ? size_t(s->rows()) : 0, 0.0);
  for (int64_t k = 0; k < int64_t(total.size()); ++k) {
    for (int b = 0; b < bins; ++b) {
      const double x = s->at(k, first + b);
      if (std::isfinite(x)) total[size_t(k)] += x;
    }
  }
  const double width = (axis.hi - axis.lo) / double(std::max(1, axis.bins));
  QStringList rows;  // each bin by its lower edge, top bin first
  for (int r = 0; r < bins; ++r)
    rows << QString::number(axis.lo + double(bins - 1 - r) * width, 'f', 2);
  step_heatmap_fill(
      heat, s, bins,
      [&](int64_t k, int r) {
        const double t = total[size_t(k)];
        return t > 0 ? double(s->at(k, first + bins - 1 - r)) / t : NAN;
      },
      [](double mean) { return mean > 0 ? std::log10(mean) : NAN; },
      tr("%1 (bin lower edge)").arg(QString::fromStdString(axis.quantity)), rows, max_cols);
}

}  // namespace dlab::gui
