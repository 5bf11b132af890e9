#include "dashboard_panel.h"

#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QScrollArea>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "wheel_guard.h"
#include "catalog/series_catalog.h"
#include "step_heatmap.h"
#include "views/color_map.h"

namespace dlab::gui {

using views::ChartWidget;
using views::HeatmapWidget;

namespace {
const QColor kLossColor(31, 119, 180), kValColor(214, 39, 40), kNormColor(255, 127, 14);

QString qs(const std::string& s) { return QString::fromStdString(s); }

// The series the heatmaps and weight bars are drawn from (catalog/series_catalog.h).
QSet<QString> heatmap_sources() {
  QSet<QString> names = {series::kResidVar, series::kAttnEntropy, series::kWeightLog10Hist};
  for (const std::string& n : series::kurtosis_names()) names << qs(n);
  for (double eps : attention_sparsity_eps()) names << qs(series::attn_sparsity_name(eps));
  for (double eps : weight_sparsity_eps()) names << qs(series::weight_sparsity_name(eps));
  return names;
}
}  // namespace

DashboardPanel::DashboardPanel(RunModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  auto* grid = new QGridLayout;
  grid->setSpacing(6);
  auto make_chart = [&](const QString& name, const QString& title, const QString& ylabel) {
    auto* c = new ChartWidget(title);
    c->setObjectName(name);
    c->setAxisLabels("step", ylabel);
    c->setXLink(&link_);
    c->setMinimumHeight(230);
    return c;
  };
  loss_ = make_chart("chart_loss", tr("Loss"), tr("nats"));
  ppl_ = make_chart("chart_ppl", tr("Validation perplexity"), tr("PPL"));
  ppl_->setLogY(true);
  last_var_ = make_chart("chart_last_var", tr("Last-layer variance"), tr("variance"));
  last_var_->setLogY(true);
  resid_var_ = make_chart("chart_resid_var", tr("Residual variance per layer"), tr("variance"));
  resid_var_->setLogY(true);
  auto make_heat = [&](const QString& name, const QString& title) {
    auto* h = new HeatmapWidget(title);
    h->setObjectName(name);
    h->setMinimumHeight(220);
    return h;
  };
  heat_var_ = make_heat("heat_variance", tr("Residual variance (log10), block x step"));
  heat_kurt_ = make_heat("heat_kurtosis", tr("Kurtosis, block x step"));
  heat_entropy_ = make_heat("heat_entropy", tr("Attention entropy (nats), block x step"));
  heat_sparsity_ = make_heat("heat_sparsity", tr("Attention sparsity, block x step"));
  heat_weight_hist_ = make_heat("heat_weight_hist", tr("Weight magnitudes: log10|w| x step"));
  heat_weight_hist_->setToolTip(
      tr("Histogram of log10|w| over the block weights at each step (weight_log10_hist): "
         "colour is log10 of the fraction of weights in the bin; grey bins are empty"));
  weight_bars_ = new views::BarChartWidget(tr("Weight sparsity per layer (latest step)"));
  weight_bars_->setObjectName("bars_weight_sparsity");
  weight_bars_->setAxisLabels(tr("block"), tr("fraction |w| < eps"));
  weight_bars_->setMinimumHeight(220);

  kurt_kind_ = new QComboBox;
  for (const std::string& name : series::kurtosis_names()) kurt_kind_->addItem(qs(name));
  sparsity_eps_ = new QComboBox;
  for (double eps : attention_sparsity_eps())  // text: the series; data: its threshold
    sparsity_eps_->addItem(qs(series::attn_sparsity_name(eps)), qs(eps_suffix(eps)));
  sparsity_eps_->setCurrentIndex(1);
  wheel_guard(kurt_kind_);  // the dashboard scrolls over them
  wheel_guard(sparsity_eps_);
  connect(kurt_kind_, &QComboBox::currentIndexChanged, this, &DashboardPanel::refreshHeatmaps);
  connect(sparsity_eps_, &QComboBox::currentIndexChanged, this, &DashboardPanel::refreshHeatmaps);
  auto with_picker = [](QWidget* w, QComboBox* picker) {
    auto* box = new QWidget;
    auto* v = new QVBoxLayout(box);
    v->setContentsMargins(0, 0, 0, 0);
    v->setSpacing(2);
    v->addWidget(picker, 0, Qt::AlignLeft);
    v->addWidget(w, 1);
    return box;
  };

  grid->addWidget(loss_, 0, 0);
  grid->addWidget(ppl_, 0, 1);
  grid->addWidget(last_var_, 1, 0);
  grid->addWidget(resid_var_, 1, 1);
  grid->addWidget(heat_var_, 2, 0);
  grid->addWidget(with_picker(heat_kurt_, kurt_kind_), 2, 1);
  grid->addWidget(heat_entropy_, 3, 0);
  grid->addWidget(with_picker(heat_sparsity_, sparsity_eps_), 3, 1);
  grid->addWidget(weight_bars_, 4, 0);
  grid->addWidget(heat_weight_hist_, 4, 1);
  auto* inner = new QWidget;
  inner->setLayout(grid);
  auto* scroll = new QScrollArea;
  scroll->setWidgetResizable(true);
  scroll->setWidget(inner);
  scroll->setFrameShape(QFrame::NoFrame);
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  outer->addWidget(scroll);

  heat_sources_ = heatmap_sources();
  heat_timer_.setSingleShot(true);
  heat_timer_.setInterval(250);
  connect(&heat_timer_, &QTimer::timeout, this, &DashboardPanel::refreshHeatmaps);
  connect(model_, &RunModel::reset, this, &DashboardPanel::rebuild);
  connect(model_, &RunModel::seriesDeclared, this, &DashboardPanel::onSeriesDeclared);
  connect(model_, &RunModel::rowsAppended, this, &DashboardPanel::onRowsAppended);
  rebuild();
}

ChartWidget* DashboardPanel::chart(const QString& object_name) const {
  return findChild<ChartWidget*>(object_name);
}

void DashboardPanel::rebuild() {
  bindings_.clear();
  for (ChartWidget* c : {loss_, ppl_, last_var_, resid_var_}) c->clearLines();
  for (const QString& name : model_->seriesNames()) {
    onSeriesDeclared(name);
    const auto* s = model_->series(name);
    if (s && s->rows() > 0) onRowsAppended(name, 0, s->rows());
  }
  refreshHeatmaps();
}

void DashboardPanel::bind(const QString& series, ChartWidget* chart, int line, int column) {
  bindings_[series].push_back({chart, line, column});
}

void DashboardPanel::onSeriesDeclared(const QString& name) {
  const auto* s = model_->series(name);
  if (!s) return;
  bindings_.erase(name);
  if (name == series::kLoss) {
    bind(name, loss_, loss_->addLine(tr("train"), kLossColor), 0);
  } else if (name == series::kValLoss) {
    bind(name, loss_, loss_->addLine(tr("validation"), kValColor), 0);
  } else if (name == series::kValPpl) {
    bind(name, ppl_, ppl_->addLine(tr("validation PPL"), kValColor), 0);
  } else if (name == series::kResidVar) {
    const int L = s->width;
    bind(name, last_var_, last_var_->addLine(tr("residual h_L"), kLossColor), L - 1);
    for (int l = 0; l < L; ++l) {
      bind(name, resid_var_, resid_var_->addLine(tr("block %1").arg(l), views::depth_color(l, L)),
           l);
    }
    resid_var_->setColorBar(tr("block"), views::depth_map(L), 0, std::max(1, L - 1));
  } else if (name == series::kResidVarFinalNorm) {
    bind(name, last_var_, last_var_->addLine(tr("final-norm output"), kNormColor), 0);
  }
}

void DashboardPanel::onRowsAppended(const QString& name, int64_t first, int64_t count) {
  auto it = bindings_.find(name);
  if (it != bindings_.end()) {
    const auto* s = model_->series(name);
    for (const Binding& b : it->second) {
      for (int64_t r = first; r < first + count; ++r) {
        b.chart->appendPoint(b.line, double(s->steps[size_t(r)]), double(s->at(r, b.column)));
      }
    }
  }
  if (heat_sources_.contains(name) && !heat_timer_.isActive()) heat_timer_.start();
}

void DashboardPanel::fillLayerHeatmap(HeatmapWidget* heat, const QString& series, bool log10) {
  step_heatmap_layers(heat, model_->series(series), log10, kMaxHeatColumns);
}

void DashboardPanel::refreshHeatmaps() {
  fillLayerHeatmap(heat_var_, series::kResidVar, /*log10=*/true);
  fillLayerHeatmap(heat_kurt_, kurt_kind_->currentText(), /*log10=*/false);
  heat_kurt_->setTitle(tr("Kurtosis (%1), block x step").arg(kurt_kind_->currentText()));
  fillLayerHeatmap(heat_entropy_, series::kAttnEntropy, /*log10=*/false);
  fillLayerHeatmap(heat_sparsity_, sparsity_eps_->currentText(), /*log10=*/false);
  step_heatmap_histogram(heat_weight_hist_, model_->series(series::kWeightLog10Hist),
                         *series_histogram(series::kWeightLog10Hist), kMaxHeatColumns);
  heat_sparsity_->setTitle(tr("Attention sparsity (fraction p < %1), block x step")
                               .arg(sparsity_eps_->currentData().toString()));
  // Weight sparsity at the latest step: one bar per epsilon, per layer (the
  // series' last column is the overall fraction, shown in the legend).
  QStringList groups, names;
  std::vector<std::vector<double>> bars;
  std::vector<QColor> colors;
  const std::vector<double>& eps = weight_sparsity_eps();
  int64_t step = -1;
  for (size_t e = 0; e < eps.size(); ++e) {
    const auto* s = model_->series(qs(series::weight_sparsity_name(eps[e])));
    if (!s || s->rows() == 0) continue;
    const int64_t last = s->rows() - 1;
    step = s->steps[size_t(last)];
    const int L = s->width - 1;
    if (groups.isEmpty()) {
      for (int l = 0; l < L; ++l) groups << QString::number(l);
    }
    std::vector<double> row;
    for (int l = 0; l < L; ++l) row.push_back(s->at(last, l));
    bars.push_back(std::move(row));
    names << QString("eps %1 (all %2)").arg(qs(eps_suffix(eps[e]))).arg(s->at(last, L), 0, 'f', 3);
    colors.push_back(views::ColorMap::viridis(0.15 + 0.35 * e));
  }
  weight_bars_->setData(groups, names, std::move(bars), std::move(colors));
  weight_bars_->setTitle(step >= 0 ? tr("Weight sparsity per layer at step %1").arg(step)
                                   : tr("Weight sparsity per layer (no data)"));
}

void DashboardPanel::refreshNow() {
  heat_timer_.stop();
  refreshHeatmaps();
  for (ChartWidget* c : findChildren<ChartWidget*>()) c->flushRepaint();
}

}  // namespace dlab::gui
