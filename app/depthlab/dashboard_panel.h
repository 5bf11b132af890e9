// The dashboard: loss and perplexity, last-layer variance (log y: residual
// h_L and the final-norm output), residual variance per layer (one line per
// layer coloured by depth), layer x step heatmaps (variance, kurtosis,
// attention entropy, attention sparsity) and weight-sparsity bars per layer at
// each epsilon. Fed only through RunModel signals, so it shows an opened run
// and (next milestone) a live one the same way. Every line chart shares one
// x-axis link.
#pragma once

#include <QComboBox>
#include <QSet>
#include <QTimer>
#include <QWidget>
#include <map>
#include <vector>

#include "run_model.h"
#include "views/axis_link.h"
#include "views/bar_chart_widget.h"
#include "views/chart_widget.h"
#include "views/heatmap_widget.h"

namespace dlab::gui {

class DashboardPanel : public QWidget {
  Q_OBJECT
 public:
  // Layer x step heatmaps show at most this many step columns (binned means).
  static constexpr int64_t kMaxHeatColumns = 1024;

  explicit DashboardPanel(RunModel* model, QWidget* parent = nullptr);

  // Named children (objectName) for tests and screenshots: chart_loss,
  // chart_ppl, chart_last_var, chart_resid_var, heat_variance, heat_kurtosis,
  // heat_entropy, heat_sparsity, bars_weight_sparsity, heat_weight_hist.
  views::ChartWidget* chart(const QString& object_name) const;
  // Rebuilds the heatmaps and bars now (normally coalesced on a timer).
  void refreshNow();

 private:
  struct Binding {
    views::ChartWidget* chart;
    int line;
    int column;
  };
  void rebuild();
  void onSeriesDeclared(const QString& name);
  void onRowsAppended(const QString& name, int64_t first, int64_t count);
  void bind(const QString& series, views::ChartWidget* chart, int line, int column);
  void refreshHeatmaps();
  void fillLayerHeatmap(views::HeatmapWidget* heat, const QString& series, bool log10);

  RunModel* model_;
  views::AxisLink link_;
  views::ChartWidget *loss_, *ppl_, *last_var_, *resid_var_;
  views::HeatmapWidget *heat_var_, *heat_kurt_, *heat_entropy_, *heat_sparsity_;
  views::HeatmapWidget* heat_weight_hist_;  // log10|w| bins x step
  QComboBox *kurt_kind_, *sparsity_eps_;
  views::BarChartWidget* weight_bars_;
  std::map<QString, std::vector<Binding>> bindings_;
  QTimer heat_timer_;           // coalesces heatmap rebuilds (they redo the whole matrix)
  QSet<QString> heat_sources_;  // series whose new rows schedule a rebuild
};

}  // namespace dlab::gui
