// A run's series as a rows x step heatmap: per-layer series (block x step)
// and histogram series (bin x step, series_histogram). Long runs are binned
// to at most max_cols columns, each the mean of consecutive rows labelled by
// its first step, so a refill stays a few milliseconds however long the run.
#pragma once

#include <QString>
#include <cstdint>
#include <functional>

#include "catalog/series_catalog.h"
#include "run_model.h"
#include "views/heatmap_widget.h"

namespace dlab::gui {

// Fills `heat` with `rows` rows of series `s`: cell (r, column) is
// post(mean of value(k, r) over the column's rows k, the finite ones only);
// NaN (grey) where none is finite. An empty series clears it.
void step_heatmap_fill(views::HeatmapWidget* heat, const RunModel::Series* s, int rows,
                       const std::function<double(int64_t k, int r)>& value,
                       const std::function<double(double mean)>& post, const QString& row_title,
                       const QStringList& row_labels, int64_t max_cols);

// Per-layer series: row l = block l (log10 of each value first when `log10`).
void step_heatmap_layers(views::HeatmapWidget* heat, const RunModel::Series* s, bool log10,
                         int64_t max_cols);

// Histogram series: row 0 = the top bin, so larger values of the quantity are
// higher up, as on a y axis; colour = log10 of the fraction of the row's
// entries in the bin (empty bins grey), so the tails show beside the bulk.
// A per-layer histogram series (width = groups x axis.bins, layer-major)
// shows group `group`'s bins.
void step_heatmap_histogram(views::HeatmapWidget* heat, const RunModel::Series* s,
                            const HistogramAxis& axis, int64_t max_cols, int group = 0);

// How many histograms a row of `s` holds (width / axis.bins; 0 when the width
// is not a multiple of the bins).
int step_heatmap_groups(const RunModel::Series* s, const HistogramAxis& axis);

}  // namespace dlab::gui
