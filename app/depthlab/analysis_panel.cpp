#include "analysis_panel.h"

#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QMessageBox>
#include <QPushButton>
#include <QScrollArea>
#include <QVBoxLayout>
#include <cmath>

#include "wheel_guard.h"
#include "analysis_arrays.h"
#include "store/analysis_codec.h"
#include "views/color_map.h"

namespace dlab::gui {

using views::HeatmapWidget;

AnalysisPanel::AnalysisPanel(RunModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  step_ = new QComboBox;
  step_->setObjectName("combo_step");
  step_->setToolTip(tr("Analysed checkpoint (runs/<name>/analysis/step-N.h5)"));
  layer_ = new QSpinBox;
  layer_->setObjectName("spin_layer");
  layer_->setPrefix(tr("block "));
  layer_->setToolTip(tr("Block whose Jacobian is shown"));
  wheel_guard(step_);  // the panel scrolls over them
  wheel_guard(layer_);
  summary_ = new QLabel;
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Checkpoint:")));
  controls->addWidget(step_);
  controls->addSpacing(12);
  controls->addWidget(new QLabel(tr("Jacobian of:")));
  controls->addWidget(layer_);
  controls->addSpacing(12);
  controls->addWidget(summary_, 1);
  analyze_ = new QPushButton(tr("&Analyze newest checkpoint"));
  analyze_->setObjectName("button_analyze_here");
  analyze_->setToolTip(
      tr("Run every analysis on the worker for the run's newest checkpoint (as Interventions > "
         "Analyze checkpoint does); the heatmaps fill when it is done"));
  analyze_->hide();
  connect(analyze_, &QPushButton::clicked, this, &AnalysisPanel::analyzeRequested);
  controls->addWidget(analyze_);
  export_ = new QPushButton(tr("&Export all..."));
  export_->setObjectName("button_export_analyses");
  export_->setToolTip(
      tr("Write every analysis of this checkpoint into a new folder: each plot as PNG and SVG "
         "(the Jacobian of every block), and the results with every array as JSON"));
  connect(export_, &QPushButton::clicked, this, [this] {
    const QString parent = QFileDialog::getExistingDirectory(
        this, tr("Export the analyses into a folder"), views::PlotFrame::exportDirectory());
    if (parent.isEmpty()) return;
    QString error;
    const QString folder = exportAll(parent, &error);
    if (folder.isEmpty()) {
      QMessageBox::warning(this, tr("Export failed"), error);
    } else {
      summary_->setText(tr("Exported to %1").arg(folder));
    }
  });
  controls->addWidget(export_);

  strip_ = new views::LayerStripWidget(tr("Click a layer to show its Jacobian"));
  strip_->setObjectName("strip_influence");
  auto make_heat = [](const QString& name, const QString& title) {
    auto* h = new HeatmapWidget(title);
    h->setObjectName(name);
    h->setMinimumSize(320, 280);
    return h;
  };
  jacobian_ = make_heat("heat_jacobian", tr("Jacobian"));
  jacobian_->setIdentityCentre(true);
  jacobian_->setClipQuantile(0.99);
  causal_ = make_heat("heat_causal", tr("Causal matrix"));
  causal_->setDiverging(0);
  permutation_ = make_heat("heat_permutation", tr("Permutation matrix"));
  permutation_->setDiverging(0);
  similarity_ = make_heat("heat_similarity", tr("Layer similarity (cosine of h_i, h_j)"));
  // Square matrices (d x d, layer x layer) are drawn with square cells.
  for (HeatmapWidget* h : {jacobian_, causal_, permutation_, similarity_}) h->setSquareCells(true);
  deviation_ = new views::BarChartWidget(tr("||J - I||_F / d per layer"));
  deviation_->setObjectName("bars_jacobian_deviation");
  deviation_->setAxisLabels(tr("block"), tr("||J - I||_F / d"));
  deviation_->setValueLabels(true);
  usefulness_ = new views::BarChartWidget(tr("Usefulness per layer"));
  usefulness_->setObjectName("bars_usefulness");
  usefulness_->setAxisLabels(tr("block"), tr("L(linear) / L"));
  usefulness_->setBaseline(1.0);
  for (QWidget* w : {static_cast<QWidget*>(deviation_), static_cast<QWidget*>(usefulness_)}) {
    w->setMinimumSize(320, 280);
  }

  auto* grid = new QGridLayout;
  grid->addWidget(jacobian_, 0, 0);
  grid->addWidget(deviation_, 0, 1);
  grid->addWidget(causal_, 1, 0);
  grid->addWidget(permutation_, 1, 1);
  grid->addWidget(similarity_, 2, 0);
  grid->addWidget(usefulness_, 2, 1);
  auto* inner = new QWidget;
  auto* v = new QVBoxLayout(inner);
  v->addLayout(controls);
  v->addWidget(strip_);
  v->addLayout(grid, 1);
  auto* scroll = new QScrollArea;
  scroll->setWidgetResizable(true);
  scroll->setWidget(inner);
  scroll->setFrameShape(QFrame::NoFrame);
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  outer->addWidget(scroll);

  connect(step_, &QComboBox::currentIndexChanged, this, &AnalysisPanel::refresh);
  connect(layer_, &QSpinBox::valueChanged, this, &AnalysisPanel::refresh);
  connect(strip_, &views::LayerStripWidget::tileClicked, this, &AnalysisPanel::selectLayer);
  connect(model_, &RunModel::analysesChanged, this, &AnalysisPanel::refreshSteps);
  connect(model_, &RunModel::runInfoChanged, this, &AnalysisPanel::refresh);  // which run is open
  connect(model_, &RunModel::reset, this, &AnalysisPanel::refreshSteps);
  refreshSteps();
}

void AnalysisPanel::refreshSteps() {
  const QVariant keep = step_->currentData();
  if (!keep.isValid()) pick_default_layer_ = true;
  QSignalBlocker block(step_);
  step_->clear();
  for (const auto& [step, data] : model_->analyses()) {
    step_->addItem(tr("step %1").arg(step), QVariant::fromValue<qlonglong>(step));
  }
  const int i = keep.isValid() ? step_->findData(keep) : -1;
  step_->setCurrentIndex(i >= 0 ? i : step_->count() - 1);  // default: the latest
  refresh();
}

void AnalysisPanel::selectStep(int64_t step) {
  const int i = step_->findData(QVariant::fromValue<qlonglong>(step));
  if (i >= 0) step_->setCurrentIndex(i);
}

void AnalysisPanel::selectLayer(int layer) { layer_->setValue(layer); }

const AnalysisFileData* AnalysisPanel::current() const {
  if (step_->currentIndex() < 0) return nullptr;
  auto it = model_->analyses().find(step_->currentData().toLongLong());
  return it == model_->analyses().end() ? nullptr : it->second.get();
}

namespace {
QStringList index_labels(int n, int first) {
  QStringList out;
  for (int i = 0; i < n; ++i) out << QString::number(i + first);
  return out;
}

void show_matrix(HeatmapWidget* h, const std::optional<AnalysisArray>& a, const QString& rows,
                 const QString& cols, int first_label) {
  if (!a || a->shape.size() != 2) {
    h->setData(0, 0, {});
    return;
  }
  const int r = int(a->shape[0]), c = int(a->shape[1]);
  h->setAxes(rows, cols, index_labels(r, first_label), index_labels(c, first_label));
  h->setData(r, c, a->values);
}
}  // namespace

void AnalysisPanel::refresh() {
  const AnalysisFileData* d = current();
  const bool open = !model_->name().isEmpty() || !model_->dir().isEmpty();
  analyze_->setVisible(!d && open);
  export_->setEnabled(d != nullptr);
  if (!d) {
    summary_->setText(
        !open ? tr("Open a run to see its analyses.")
              : tr("%1 is not analysed yet: Analyze computes every analysis of a checkpoint on "
                   "the worker (or run `dlab analyze %2`).")
                    .arg(model_->name().isEmpty() ? tr("This run") : model_->name(),
                         model_->dir().isEmpty() ? model_->name() : model_->dir()));
    for (HeatmapWidget* h : {jacobian_, causal_, permutation_, similarity_}) h->setData(0, 0, {});
    deviation_->setData({}, {}, {}, {});
    usefulness_->setData({}, {}, {}, {});
    strip_->setValues({}, {});
    return;
  }
  const auto n_layers = d->ints.count("n_layers") ? int(d->ints.at("n_layers")) : 0;
  layer_->setRange(0, std::max(0, n_layers - 1));
  // Summary line: the scalar scores.
  QStringList parts;
  for (const char* key :
       {"loss", "causal_score", "permutation_score", "usefulness_score", "useful_layers"}) {
    if (auto a = analysis_array(*d, key); a && !a->values.empty()) {
      parts << QString("%1 %2").arg(key).arg(a->values[0], 0, 'g', 4);
    }
  }
  summary_->setText(parts.join("   "));

  if (pick_default_layer_ && n_layers > 0) {
    // A new run: start on a middle block (block 0 is often the outlier).
    QSignalBlocker block(layer_);
    layer_->setValue(n_layers / 2);
    pick_default_layer_ = false;
  }
  const int l = layer_->value();
  if (auto j = analysis_array(*d, "jacobian/" + std::to_string(l)); j && j->shape.size() == 2) {
    jacobian_->setTitle(tr("Jacobian of block %1 (colour: J - I)").arg(l));
    jacobian_->setAxes(tr("out"), tr("in"));
    jacobian_->setData(int(j->shape[0]), int(j->shape[1]), j->values);
  } else {
    jacobian_->setTitle(tr("Jacobian of block %1 (not computed)").arg(l));
    jacobian_->setData(0, 0, {});
  }
  auto bars = [&](views::BarChartWidget* w, const char* key, const QString& name, QColor color) {
    auto a = analysis_array(*d, key);
    if (!a) {
      w->setData({}, {}, {}, {});
      return;
    }
    w->setData(index_labels(int(a->values.size()), 0), {name}, {a->values}, {color});
  };
  bars(deviation_, "jacobian_deviation", "||J - I||_F / d", views::ColorMap::viridis(0.3));
  bars(usefulness_, "usefulness_ratio", "usefulness", views::ColorMap::viridis(0.55));
  // Block l is useful when L(M_lin) / L(M) > 1 + tau (docs/analysis.md): the
  // bars grow from 1, the line is at 1 + tau.
  const double tau = d->reals.count("tau") ? d->reals.at("tau") : NAN;
  usefulness_->setThreshold(1 + tau, tr("useful above 1 + tau = %1").arg(1 + tau));

  show_matrix(causal_, analysis_array(*d, "causal_matrix"), tr("block"), tr("block"), 0);
  show_matrix(permutation_, analysis_array(*d, "permutation_matrix"), tr("block"), tr("block"), 0);
  show_matrix(similarity_, analysis_array(*d, "layer_similarity"), tr("h"), tr("h"), 0);
  similarity_->setSequential();

  if (auto bi = analysis_array(*d, "block_influence")) {
    strip_->setValues(bi->values, tr("block influence"));
    for (int i = 0; i < int(bi->values.size()); ++i) {
      strip_->setTileLabel(i, QString::number(bi->values[size_t(i)], 'g', 3));
    }
  } else {
    strip_->setValues({}, {});
  }
}

QString AnalysisPanel::exportAll(const QString& parent, QString* error) {
  const AnalysisFileData* d = current();
  if (!d) {
    *error = tr("There is no analysis to export: open an analysed run first.");
    return {};
  }
  const QString run = model_->name().isEmpty() ? QString("run") : model_->name();
  const QString folder =
      QDir(parent).filePath(QString("%1-analysis-step-%2").arg(run).arg(d->step));
  if (!QDir().mkpath(folder)) {
    *error = tr("Cannot create the folder %1").arg(folder);
    return {};
  }
  const QDir dir(folder);
  // A panel never shown (or docked small) exports at a readable size; the
  // layout gives the plots their size back at its next pass.
  const auto save = [&](views::PlotFrame* plot, const QString& name) {
    const QSize old = plot->size();
    plot->resize(old.expandedTo(QSize(640, 520)));
    const bool ok = plot->exportPng(dir.filePath(name + ".png")) &&
                    plot->exportSvg(dir.filePath(name + ".svg"));
    plot->resize(old);
    if (!ok && error->isEmpty()) *error = tr("Cannot write %1 in %2").arg(name, folder);
    return ok;
  };
  error->clear();
  bool ok = save(causal_, "causal_matrix") && save(permutation_, "permutation_matrix") &&
            save(similarity_, "layer_similarity") && save(usefulness_, "usefulness") &&
            save(deviation_, "jacobian_deviation");
  // The Jacobian of every block that has one, then the chosen block again.
  const int chosen = layer_->value();
  for (int l = layer_->minimum(); ok && l <= layer_->maximum(); ++l) {
    if (!analysis_array(*d, "jacobian/" + std::to_string(l))) continue;
    layer_->setValue(l);  // refresh() draws block l
    ok = save(jacobian_, QString("jacobian-block-%1").arg(l));
  }
  layer_->setValue(chosen);
  if (!ok) return {};
  QFile json(dir.filePath(QString("analysis-step-%1.json").arg(d->step)));
  if (!json.open(QIODevice::WriteOnly | QIODevice::Truncate) ||
      json.write(QByteArray::fromStdString(analysis_file_to_json(*d))) < 0) {
    *error = tr("Cannot write %1").arg(json.fileName());
    return {};
  }
  return folder;
}

}  // namespace dlab::gui
