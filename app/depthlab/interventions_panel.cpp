#include "interventions_panel.h"

#include <QButtonGroup>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSplitter>
#include <QVBoxLayout>

#include "analysis_arrays.h"
#include "run_load.h"
#include "store/analysis_codec.h"

namespace dlab::gui {

namespace {

QString signed_text(double v) { return (v >= 0 ? "+" : "") + QString::number(v, 'f', 3); }

}  // namespace

InterventionsPanel::InterventionsPanel(RunModel* model, client::WorkerClient* worker,
                                       QWidget* parent)
    : QWidget(parent), model_(model), worker_(worker) {
  checkpoint_ = new QComboBox;
  checkpoint_->setObjectName("combo_checkpoint");
  checkpoint_->setToolTip(tr("The checkpoint whose layers you change (runs/<name>/checkpoints)"));
  auto* refresh = new QPushButton(tr("Refresh"));
  refresh->setToolTip(tr("List the run's checkpoints again"));
  connect(refresh, &QPushButton::clicked, this, &InterventionsPanel::refreshCheckpoints);
  samples_ = new QSpinBox;
  samples_->setObjectName("spin_samples");
  samples_->setRange(1, 1024);
  samples_->setValue(16);
  samples_->setToolTip(
      tr("Sequences of the run's held-out evaluation set the loss is averaged "
         "over (the first N; more is slower and steadier)"));
  colour_ = new QComboBox;
  colour_->setObjectName("combo_colour");
  colour_->addItem(tr("usefulness"), "usefulness_ratio");
  colour_->addItem(tr("block influence"), "block_influence");
  colour_->setToolTip(tr("Tile colour, from the checkpoint's analysis (Analyze computes it)"));
  analyze_ = new QPushButton(tr("&Analyze checkpoint"));
  analyze_->setObjectName("button_analyze");
  analyze_->setToolTip(
      tr("Run every analysis of docs/analysis.md on this checkpoint; the "
         "heatmaps show the result, which is also stored in the run"));
  progress_ = new QProgressBar;
  progress_->setObjectName("progress_analysis");
  progress_->setRange(0, 1000);
  progress_->setValue(0);
  progress_->setFormat(tr("not analysing"));

  auto mode_button = [this](const QString& name, const QString& text, const QString& tip) {
    auto* b = new QPushButton(text);
    b->setObjectName(name);
    b->setCheckable(true);
    b->setToolTip(tip);
    return b;
  };
  skip_ = mode_button("button_skip", tr("&Skip"), tr("Click a tile: bypass that block"));
  swap_ = mode_button("button_swap", tr("S&wap"), tr("Click two tiles: exchange those blocks"));
  linear_ = mode_button("button_linear", tr("&Linear"),
                        tr("Click a tile: replace that block by its least-squares linear fit"));
  auto* modes = new QButtonGroup(this);
  modes->setExclusive(true);
  for (QPushButton* b : {skip_, swap_, linear_}) modes->addButton(b);
  skip_->setChecked(true);
  connect(skip_, &QPushButton::clicked, this, [this] { setMode(Mode::Skip); });
  connect(swap_, &QPushButton::clicked, this, [this] { setMode(Mode::Swap); });
  connect(linear_, &QPushButton::clicked, this, [this] { setMode(Mode::Linear); });
  reset_ = new QPushButton(tr("&Reset"));
  reset_->setObjectName("button_reset");
  reset_->setToolTip(tr("Back to the intact model"));
  connect(reset_, &QPushButton::clicked, this, &InterventionsPanel::reset);
  undo_ = new QPushButton(tr("&Undo"));
  undo_->setObjectName("button_undo");
  undo_->setShortcut(QKeySequence::Undo);  // Ctrl+Z
  undo_->setToolTip(
      tr("Take back the last change of the plan (Ctrl+Z); a click on a changed "
         "tile takes back that change"));
  connect(undo_, &QPushButton::clicked, this, &InterventionsPanel::undo);

  strip_ = new views::LayerStripWidget(tr("Layers (click to change)"));
  strip_->setObjectName("strip_layers");
  connect(strip_, &views::LayerStripWidget::tileClicked, this, &InterventionsPanel::clickTile);

  intact_ = new QLabel(tr("Intact loss: -"));
  intact_->setObjectName("label_intact");
  QFont big = intact_->font();
  big.setPointSizeF(big.pointSizeF() * 1.3);
  big.setBold(true);
  intact_->setFont(big);
  plan_label_ = new QLabel(tr("Plan: (none)"));
  plan_label_->setObjectName("label_plan");
  plan_label_->setFont(big);
  plan_label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  status_ = new QLabel;
  status_->setObjectName("label_status");
  status_->setWordWrap(true);

  history_ = new QTableWidget(0, 7);
  history_->setObjectName("table_history");
  history_->setHorizontalHeaderLabels({tr("Step"), tr("Plan"), tr("Loss"), tr("Change (step)"),
                                       tr("Change (total)"), tr("Checkpoint"), tr("Samples")});
  history_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  history_->horizontalHeader()->setStretchLastSection(true);
  history_->verticalHeader()->hide();
  history_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  hidden_change_ = new views::BarChartWidget(tr("Hidden-state change vs the intact model"));
  hidden_change_->setObjectName("bars_hidden_change");
  hidden_change_->setAxisLabels(tr("residual state h_l"), tr("mean ||h(plan) - h|| / mean ||h||"));
  hidden_change_->setMinimumSize(320, 220);

  auto* row1 = new QHBoxLayout;
  row1->addWidget(new QLabel(tr("Checkpoint:")));
  row1->addWidget(checkpoint_);
  row1->addWidget(refresh);
  row1->addSpacing(12);
  row1->addWidget(new QLabel(tr("Samples:")));
  row1->addWidget(samples_);
  row1->addSpacing(12);
  row1->addWidget(new QLabel(tr("Colour by:")));
  row1->addWidget(colour_);
  row1->addSpacing(12);
  row1->addWidget(analyze_);
  row1->addWidget(progress_, 1);
  auto* row2 = new QHBoxLayout;
  row2->addWidget(new QLabel(tr("Mode:")));
  row2->addWidget(skip_);
  row2->addWidget(swap_);
  row2->addWidget(linear_);
  row2->addSpacing(12);
  row2->addWidget(undo_);
  row2->addWidget(reset_);
  row2->addStretch(1);
  auto* bottom = new QSplitter(Qt::Horizontal);
  bottom->addWidget(history_);
  bottom->addWidget(hidden_change_);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(row1);
  layout->addLayout(row2);
  layout->addWidget(strip_);
  layout->addWidget(intact_);
  layout->addWidget(plan_label_);
  layout->addWidget(status_);
  layout->addWidget(bottom, 1);

  connect(checkpoint_, &QComboBox::currentIndexChanged, this,
          &InterventionsPanel::onCheckpointChanged);
  connect(samples_, &QSpinBox::editingFinished, this, [this] {
    if (run_.isEmpty() || checkpointStep() < 0) return;
    // Every loss of the plan changes with the samples: all are evaluated again.
    evaluateIntact();
    if (!plan_.empty()) {
      step_loss_.assign(plan_.size(), NAN);
      planChanged(tr("%1 samples").arg(samples_->value()));
    }
  });
  connect(colour_, &QComboBox::currentIndexChanged, this, &InterventionsPanel::buildStrip);
  connect(analyze_, &QPushButton::clicked, this, &InterventionsPanel::analyze);
  connect(model_, &RunModel::analysesChanged, this, &InterventionsPanel::buildStrip);
  connect(model_, &RunModel::runInfoChanged, this, &InterventionsPanel::buildStrip);
  connect(worker_, &client::WorkerClient::connected, this, [this] {
    if (!run_.isEmpty()) refreshCheckpoints();
  });
  connect(worker_, &client::WorkerClient::runState, this,
          [this](const QString& run, const client::RunState& s) {
            // A run that ended has written its last checkpoint.
            if (run == run_ && client::run_state_ended(s.state)) refreshCheckpoints();
          });
  setRun({});
}

void InterventionsPanel::setRun(const QString& run) {
  run_ = run;
  intact_loss_ = NAN;
  history_->setRowCount(0);
  checkpoint_->blockSignals(true);
  checkpoint_->clear();
  checkpoint_->blockSignals(false);
  intact_->setText(tr("Intact loss: -"));
  clearPlan();
  status_->setText(run.isEmpty() ? tr("Open or launch a run to intervene on its layers.")
                                 : tr("Listing the checkpoints of %1 ...").arg(run));
  if (!run.isEmpty()) refreshCheckpoints();
}

void InterventionsPanel::refreshCheckpoints() {
  if (run_.isEmpty()) return;
  if (worker_->state() != client::WorkerClient::State::Connected) {
    // Not a failure: the list comes when the worker connects (connected()).
    status_->setText(tr("Waiting for the worker to list the checkpoints of %1 ...").arg(run_));
    return;
  }
  const QString run = run_;
  worker_->listRuns(this, [this, run](const client::Reply<std::vector<client::RunEntry>>& reply) {
    if (run != run_) return;
    if (!reply.ok()) {
      status_->setText(tr("Could not list the runs: %1").arg(reply.error.message));
      return;
    }
    const client::RunEntry* r = client::run_find(reply.value, run);
    if (!r) {
      status_->setText(tr("The worker has no run \"%1\" in its runs directory (%2).")
                           .arg(run, worker_->serverInfo().runs_dir));
      return;
    }
    const int64_t keep = checkpointStep();
    checkpoint_->blockSignals(true);
    checkpoint_->clear();
    for (const int64_t s : r->checkpoints) checkpoint_->addItem(tr("step %1").arg(s), qint64(s));
    int pick = checkpoint_->findData(qint64(keep));
    if (pick < 0) pick = checkpoint_->count() - 1;  // the newest
    checkpoint_->setCurrentIndex(pick);
    checkpoint_->blockSignals(false);
    if (checkpoint_->count() == 0) {
      status_->setText(tr("%1 has no checkpoint yet; they are written every "
                          "train.checkpoint_every steps and at the end.")
                           .arg(run));
      return;
    }
    if (checkpointStep() != keep) onCheckpointChanged();
  });
}

int64_t InterventionsPanel::checkpointStep() const {
  return checkpoint_->currentIndex() < 0 ? -1 : checkpoint_->currentData().toLongLong();
}

int InterventionsPanel::layerCount() const { return model_->configValue("model.n_layers").toInt(); }

void InterventionsPanel::onCheckpointChanged() {
  clearPlan();
  if (checkpointStep() >= 0) evaluateIntact();
}

void InterventionsPanel::clearPlan() {
  plan_.clear();
  step_loss_.clear();
  settled_loss_ = NAN;
  ++request_serial_;  // answers to the old plan's evaluations are ignored
  swap_first_ = -1;
  plan_loss_ = NAN;
  strip_->clearSelection();
  plan_label_->setText(tr("Plan: (none)"));
  hidden_change_->setData({}, {}, {}, {});
  buildStrip();
}

void InterventionsPanel::buildStrip() {
  const int L = layerCount();
  std::vector<double> values(size_t(std::max(0, L)), NAN);  // grey tiles until analysed
  QString value_name = tr("not analysed: Analyze colours the tiles");
  const auto& analyses = model_->analyses();
  auto it = analyses.find(checkpointStep());
  if (it != analyses.end() && it->second) {
    const std::string key = colour_->currentData().toString().toStdString();
    if (auto a = analysis_array(*it->second, key); a && int(a->values.size()) == L) {
      values = a->values;
      value_name = colour_->currentText();
    }
  }
  strip_->setValues(values, value_name);
  // setValues() clears the labels: put the plan's back, each tile with the
  // loss change of the evaluation that last touched it.
  QStringList labels;
  for (int i = 0; i < L; ++i) labels << QString();
  for (const client::LayerOp& op : plan_) {
    if (op.kind == client::LayerOp::Kind::Swap) {
      if (op.i < L && op.j < L) {
        labels[op.i] = tr("swap %1").arg(op.j);
        labels[op.j] = tr("swap %1").arg(op.i);
      }
    } else if (op.position < L) {
      labels[op.position] = op.kind == client::LayerOp::Kind::Skip ? tr("skip") : tr("linear");
    }
  }
  // Under each changed tile: that operation's own loss change (the loss with
  // it minus the loss of the plan before it), once evaluated.
  for (size_t k = 0; k < plan_.size() && k < step_loss_.size(); ++k) {
    const double before = k == 0 ? intact_loss_ : step_loss_[k - 1];
    if (!std::isfinite(step_loss_[k]) || !std::isfinite(before)) continue;
    const client::LayerOp& op = plan_[k];
    const QString own = "  " + signed_text(step_loss_[k] - before);
    for (int tile : op.kind == client::LayerOp::Kind::Swap ? std::vector<int>{op.i, op.j}
                                                           : std::vector<int>{op.position}) {
      if (tile < L) labels[tile] += own;
    }
  }
  for (int i = 0; i < L; ++i) strip_->setTileLabel(i, labels[i]);
}

void InterventionsPanel::setMode(Mode mode) {
  mode_ = mode;
  swap_first_ = -1;
  strip_->clearSelection();
  (mode == Mode::Skip ? skip_ : mode == Mode::Swap ? swap_ : linear_)->setChecked(true);
}

int InterventionsPanel::opAt(int tile) const {
  for (size_t k = 0; k < plan_.size(); ++k) {
    const client::LayerOp& op = plan_[k];
    const bool touches = op.kind == client::LayerOp::Kind::Swap ? (op.i == tile || op.j == tile)
                                                                : op.position == tile;
    if (touches) return int(k);
  }
  return -1;
}

void InterventionsPanel::clickTile(int tile) {
  if (run_.isEmpty() || checkpointStep() < 0) {
    status_->setText(tr("No checkpoint to change yet."));
    strip_->clearSelection();
    return;
  }
  // A click on a changed tile takes that change back, whatever the mode.
  if (const int k = opAt(tile); k >= 0 && !(mode_ == Mode::Swap && swap_first_ >= 0)) {
    strip_->clearSelection();
    undoOp(size_t(k));
    return;
  }
  client::LayerOp op;
  if (mode_ == Mode::Swap) {
    if (swap_first_ < 0) {
      swap_first_ = tile;
      status_->setText(tr("Swap block %1 with ... (click another tile)").arg(tile));
      return;
    }
    const int first = swap_first_;
    swap_first_ = -1;
    strip_->clearSelection();
    if (first == tile) {
      status_->setText(tr("Swap cancelled."));
      return;
    }
    if (opAt(tile) >= 0) {
      status_->setText(
          tr("Block %1 is already changed: click it alone to take that back.").arg(tile));
      return;
    }
    op = client::LayerOp::swap(first, tile);
  } else {
    strip_->clearSelection();
    op = mode_ == Mode::Skip ? client::LayerOp::skip(tile) : client::LayerOp::linear(tile);
  }
  plan_.push_back(op);
  step_loss_.push_back(NAN);
  planChanged(client::layer_op_text(op));
}

void InterventionsPanel::undoOp(size_t k) {
  if (k >= plan_.size()) return;
  const QString action = tr("undo %1").arg(client::layer_op_text(plan_[k]));
  plan_.erase(plan_.begin() + long(k));
  // The losses of the prefixes from k on are those of other plans now.
  step_loss_.resize(k);
  step_loss_.resize(plan_.size(), NAN);
  planChanged(action);
}

void InterventionsPanel::undo() {
  if (plan_.empty()) {
    status_->setText(tr("Nothing to undo: the model is intact."));
    return;
  }
  undoOp(plan_.size() - 1);
}

void InterventionsPanel::planChanged(const QString& action) {
  action_ = action;
  action_base_loss_ = std::isfinite(settled_loss_) ? settled_loss_ : intact_loss_;
  plan_loss_ = NAN;
  buildStrip();
  evaluatePending(++request_serial_);
}

QString InterventionsPanel::planText() const {
  QStringList ops;
  for (const client::LayerOp& op : plan_) ops << client::layer_op_text(op);
  return ops.isEmpty() ? tr("(none)") : ops.join(", ");
}

int InterventionsPanel::historyRows() const { return history_->rowCount(); }

void InterventionsPanel::reset() {
  clearPlan();
  status_->setText(tr("Back to the intact model."));
}

void InterventionsPanel::evaluateIntact() {
  const int64_t serial = ++request_serial_;
  const int64_t step = checkpointStep();
  status_->setText(tr("Evaluating the intact model at step %1 ...").arg(step));
  client::EvaluateRequest request;  // the empty plan: the intact model
  request.checkpoint_step = step;
  request.samples = samples_->value();
  worker_->evaluate(run_, request, this,
                    [this, serial](const client::Reply<client::Evaluation>& r) {
                      if (!r.ok()) {
                        if (serial == request_serial_)
                          status_->setText(tr("Evaluation failed: %1").arg(r.error.message));
                        emit evaluationFailed(r.error.message);
                        return;
                      }
                      showIntact(r.value);
                      if (serial != request_serial_) return;
                      status_->clear();
                      emit evaluated(intact_loss_, 0.0);
                    });
}

void InterventionsPanel::showIntact(const client::Evaluation& e) {
  intact_loss_ = e.base_loss;
  intact_->setText(tr("Intact loss: %1   (checkpoint step %2, %3 samples)")
                       .arg(intact_loss_, 0, 'f', 4)
                       .arg(e.checkpoint_step)
                       .arg(e.samples));
}

// Evaluates the plan's prefixes whose loss is not known yet, one request at a
// time (the first unknown one, then the next), so that each operation's own
// change is known; the last one is the whole plan.
void InterventionsPanel::evaluatePending(int64_t serial) {
  size_t k = 0;
  while (k < step_loss_.size() && std::isfinite(step_loss_[k])) ++k;
  if (k == step_loss_.size()) {
    planEvaluated(nullptr);
    return;
  }
  client::EvaluateRequest request;
  request.plan.assign(plan_.begin(), plan_.begin() + long(k) + 1);
  request.checkpoint_step = checkpointStep();
  request.samples = samples_->value();
  status_->setText(tr("Evaluating %1 ...").arg(planText()));
  worker_->evaluate(run_, request, this,
                    [this, serial, k](const client::Reply<client::Evaluation>& r) {
                      if (serial != request_serial_) return;  // the plan changed meanwhile
                      if (!r.ok()) {
                        status_->setText(tr("Evaluation failed: %1").arg(r.error.message));
                        emit evaluationFailed(r.error.message);
                        return;
                      }
                      showIntact(r.value);
                      step_loss_[k] = r.value.loss;
                      if (k + 1 < step_loss_.size()) {
                        evaluatePending(serial);
                      } else {
                        planEvaluated(&r.value);
                      }
                    });
}

void InterventionsPanel::planEvaluated(const client::Evaluation* whole) {
  status_->clear();
  plan_loss_ = settled_loss_ = plan_.empty() ? intact_loss_ : step_loss_.back();
  const double total = plan_loss_ - intact_loss_;
  const double this_step = plan_loss_ - action_base_loss_;
  const QString text = planText();
  plan_label_->setText(tr("Plan: %1   ->   loss %2  (%3)")
                           .arg(text)
                           .arg(plan_loss_, 0, 'f', 4)
                           .arg(signed_text(total)));
  buildStrip();
  const int row = history_->rowCount();
  history_->insertRow(row);
  const QStringList cells{action_,
                          text,
                          QString::number(plan_loss_, 'f', 4),
                          signed_text(this_step),
                          signed_text(total),
                          QString::number(checkpointStep()),
                          QString::number(samples_->value())};
  for (int c = 0; c < cells.size(); ++c) history_->setItem(row, c, new QTableWidgetItem(cells[c]));
  history_->scrollToBottom();
  if (whole) {
    QStringList groups;
    for (size_t i = 0; i < whole->hidden_change.size(); ++i) groups << QString("h%1").arg(i);
    hidden_change_->setData(groups, {tr("change")}, {whole->hidden_change},
                            {palette().color(QPalette::Highlight)});
  } else {
    hidden_change_->setData({}, {}, {}, {});  // the intact model: no change
  }
  emit evaluated(plan_loss_, total);
}

void InterventionsPanel::analyze() {
  const int64_t step = checkpointStep();
  if (run_.isEmpty() || step < 0) {
    status_->setText(tr("No checkpoint to analyse yet."));
    return;
  }
  analyze_->setEnabled(false);
  progress_->setValue(0);
  progress_->setFormat(tr("queued"));
  client::AnalyzeRequest request;
  request.checkpoint_step = step;
  request.samples = samples_->value();
  auto on_progress = [this](const client::AnalysisProgress& p) {
    progress_->setValue(int(1000 * p.fraction));
    progress_->setFormat(tr("%1  %p%").arg(p.stage));
  };
  worker_->analyze(
      run_, request, this, on_progress,
      [this, step](const client::Reply<client::AnalysisResult>& r) {
        analyze_->setEnabled(true);
        if (!r.ok()) {
          progress_->setFormat(tr("failed"));
          status_->setText(tr("Analysis failed: %1").arg(r.error.message));
          return;
        }
        progress_->setValue(1000);
        progress_->setFormat(tr("done"));
        // The worker stored the result in the run; read it from there when this
        // machine sees the file (a local worker), as the heatmaps read every analysis.
        const QString stored = r.value.stored;
        if (stored.isEmpty() || !QFileInfo::exists(stored)) {
          // A remote worker: its file is on its machine; the reply carries its arrays.
          try {
            const QByteArray arrays = QJsonDocument(r.value.arrays).toJson(QJsonDocument::Compact);
            model_->setAnalysis(step, std::make_shared<const AnalysisFileData>(
                                          analysis_file_from_json(arrays.toStdString())));
          } catch (const std::exception& e) {
            status_->setText(tr("Analysis of step %1 unreadable: %2").arg(step).arg(e.what()));
            return;
          }
          status_->setText(
              tr("Analysed step %1 (stored on the worker as %2): see the Heatmaps panel.")
                  .arg(step)
                  .arg(stored));
          emit analysisLoaded(step);
          return;
        }
        analysis_load_async(
            this, stored,
            [this, step](std::shared_ptr<const AnalysisFileData> data, QString error) {
              if (!data) {
                status_->setText(tr("Could not read the analysis: %1").arg(error));
                return;
              }
              model_->setAnalysis(step, data);
              status_->setText(tr("Analysed step %1: see the Heatmaps panel.").arg(step));
              emit analysisLoaded(step);
            });
      });
}

}  // namespace dlab::gui
