// The interventions panel: pick a checkpoint of the run, then change its
// layers and see the loss change at once. A strip of layer tiles (coloured by
// usefulness or block influence when the checkpoint is analysed) takes the
// clicks: in Skip mode a click bypasses the block, in Swap mode two clicks
// exchange two blocks, in Linear mode a click replaces the block by its
// least-squares linear fit. Changes accumulate into one layer plan, evaluated
// by the worker (`evaluate`, docs/protocol.md) after every click, prefix by
// prefix, so that each tile shows its own operation's loss change; the
// history lists each step's change and the total; a click on a changed tile
// or Undo (Ctrl+Z) takes a change back; the intact loss stays visible, Reset
// clears the plan. "Analyze" runs the checkpoint's
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
#include <vector>

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
  // Takes back the plan's last change (Ctrl+Z); a click on a changed tile
  // takes back that one.
  void undo();
  // Runs every analysis of the chosen checkpoint on the worker.
  void analyze();

  double intactLoss() const { return intact_loss_; }  // NaN until known
  double planLoss() const { return plan_loss_; }      // NaN until a plan was evaluated
  QString planText() const;
  int historyRows() const;
  // Named children: combo_checkpoint, spin_samples, combo_colour, strip_layers,
  // button_skip, button_swap, button_linear, button_undo, button_reset, button_analyze,
  // progress_analysis, label_intact, label_plan, table_history, bars_hidden_change.

 signals:
  void evaluated(double loss, double delta_loss);
  void evaluationFailed(const QString& message);
  void analysisLoaded(int64_t step);

 private:
  void buildStrip();
  void clearPlan();          // the plan, its loss, the tile labels; not the history
  void evaluateIntact();     // the checkpoint's loss with the empty plan
  int opAt(int tile) const;  // the plan's op touching `tile`, or -1
  void undoOp(size_t k);
  // After the plan changed by `action` ("skip 3", "undo swap 1 2"): evaluate
  // what is not known, then show it.
  void planChanged(const QString& action);
  void evaluatePending(int64_t serial);
  void planEvaluated(const client::Evaluation* whole);  // nullptr: the empty plan
  void showIntact(const client::Evaluation& e);
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
  QPushButton *skip_, *swap_, *linear_, *reset_, *undo_, *analyze_;
  QProgressBar* progress_;
  QLabel *intact_, *plan_label_, *status_;
  QTableWidget* history_;
  views::BarChartWidget* hidden_change_;
  std::vector<client::LayerOp> plan_;  // the ops, in order, as sent
  std::vector<double> step_loss_;      // loss of plan_[0..k] (NaN: not evaluated yet)
  QString action_;                     // the last change, for the history
  double action_base_loss_ = NAN;      // the plan's loss before it
  double settled_loss_ = NAN;          // the loss of the plan last evaluated whole
  int swap_first_ = -1;
  double intact_loss_ = NAN, plan_loss_ = NAN;
  int64_t request_serial_ = 0;  // answers to superseded evaluations are ignored
};

}  // namespace dlab::gui
