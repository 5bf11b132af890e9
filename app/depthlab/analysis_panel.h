// The heatmaps panel: the analysis results of one checkpoint, read from
// runs/<name>/analysis/step-N.h5 (written by `dlab analyze`): the Jacobian of
// a chosen layer (diverging map centred on the identity) with ||J - I||_F / d
// across layers beside it, the causal and permutation matrices, the layer
// similarity, usefulness bars with the tau line, and a strip of layer tiles
// coloured by block influence (click a tile to show its Jacobian).
#pragma once

#include <QComboBox>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QWidget>

#include "run_model.h"
#include "views/bar_chart_widget.h"
#include "views/heatmap_widget.h"
#include "views/layer_strip_widget.h"

namespace dlab::gui {

class AnalysisPanel : public QWidget {
  Q_OBJECT
 public:
  explicit AnalysisPanel(RunModel* model, QWidget* parent = nullptr);

  void selectStep(int64_t step);
  void selectLayer(int layer);
  // Writes every analysis of the shown checkpoint into a new folder
  // <parent>/<run>-analysis-step-<N>: each plot as PNG and SVG (the Jacobian
  // of every block that has one), and analysis-step-<N>.json with every array
  // (store/analysis_codec.h, the form a remote worker sends). Returns the
  // folder, or "" with the reason in *error.
  QString exportAll(const QString& parent, QString* error);
  // Named children: heat_jacobian, bars_jacobian_deviation, heat_causal,
  // heat_permutation, heat_similarity, bars_usefulness, strip_influence,
  // button_analyze_here (shown while an open run has no analysis),
  // button_export_analyses.

 signals:
  // "Analyze" on a run without analyses: the window runs them on the worker.
  void analyzeRequested();

 private:
  void refreshSteps();
  void refresh();
  const AnalysisFileData* current() const;

  RunModel* model_;
  bool pick_default_layer_ = true;  // until a run's analyses first show
  QComboBox* step_;
  QSpinBox* layer_;
  QLabel* summary_;
  QPushButton* analyze_;
  QPushButton* export_;
  views::LayerStripWidget* strip_;
  views::HeatmapWidget *jacobian_, *causal_, *permutation_, *similarity_;
  views::BarChartWidget *deviation_, *usefulness_;
};

}  // namespace dlab::gui
