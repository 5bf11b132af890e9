// The interventions panel: pick a checkpoint of the run, then change its
// layers and see the loss change at once. A strip of layer tiles (coloured by
// usefulness or block influence when the checkpoint is analysed) takes the
// clicks: in Skip mode a click bypasses the block, in Swap mode two clicks
// exchange two blocks, in Linear mode a click replaces the block by its
// least-squares linear fit. Changes accumulate into one layer plan, evaluated
// by the worker (`evaluate`, docs/protocol.md) after every click; the loss
// change appears under the tiles and in the history table, the intact loss
// stays visible, Reset clears the plan. "Analyze" runs the checkpoint's
// analyses on the worker (with a progress bar) and shows them in the heatmaps.
#pragma once

#include <QComboBox>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QWidget>
#include <cmath>
#include <map>

#include "run_model.h"
#include "views/bar_chart_widget.h"
#include "views/layer_strip_widget.h"
#include "worker_client.h"

namespace dlab::gui {

class InterventionsPanel : public QWidget {
  Q_OBJECT
 public:
  enum class Mode { Skip, Swap, Linear };

  InterventionsPanel(RunModel* model, client::WorkerClient* worker, QWidget* parent = nullptr);

  // The run as the worker names it (its folder under the worker's --runs);
  // lists its checkpoints. Empty: no run.
  void setRun(const QString& run);
  const QString& run() const { return run_; }
  void refreshCheckpoints();
  void setMode(Mode mode);
  // What a click on tile `tile` does in the current mode.
  void clickTile(int tile);
  // Clears the plan and the tile labels (the intact loss stays).
  void reset();
  // Runs every analysis of the chosen checkpoint on the worker.
  void analyze();

  double intactLoss() const { return intact_loss_; }  // NaN until known
  double planLoss() const { return plan_loss_; }      // NaN until a plan was evaluated
  QString planText() const;
  int historyRows() const;
  // Named children: combo_checkpoint, spin_samples, combo_colour, strip_layers,
  // button_skip, button_swap, button_linear, button_reset, button_analyze,
  // progress_analysis, label_intact, label_plan, table_history, bars_hidden_change.

 signals:
  void evaluated(double loss, double delta_loss);
  void evaluationFailed(const QString& message);
  void analysisLoaded(int64_t step);

 private:
  void buildStrip();
  void clearPlan();  // the plan, its loss, the tile labels; not the history
  void evaluatePlan(bool intact);
  void onCheckpointChanged();
  int64_t checkpointStep() const;
  int layerCount() const;

  RunModel* model_;
  client::WorkerClient* worker_;
  QString run_;
  Mode mode_ = Mode::Skip;
  QComboBox* checkpoint_;
  QSpinBox* samples_;
  QComboBox* colour_;
  views::LayerStripWidget* strip_;
  QPushButton *skip_, *swap_, *linear_, *reset_, *analyze_;
  QProgressBar* progress_;
  QLabel *intact_, *plan_label_, *status_;
  QTableWidget* history_;
  views::BarChartWidget* hidden_change_;
  std::vector<client::LayerOp> plan_;  // the ops, in order, as sent
  std::map<int, QString> tile_delta_;  // tile -> loss change of the last evaluation touching it
  int swap_first_ = -1;
  double intact_loss_ = NAN, plan_loss_ = NAN;
  int64_t request_serial_ = 0;  // answers to superseded evaluations are ignored
};

}  // namespace dlab::gui
