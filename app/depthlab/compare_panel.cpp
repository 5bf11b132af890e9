#include "compare_panel.h"

#include <QFileDialog>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>
#include <algorithm>
#include <cstring>
#include <numeric>

#include "catalog/series_catalog.h"
#include "run_model.h"
#include "views/color_map.h"

namespace dlab::gui {

namespace {
// A per-block series picked by its last block (h_L for resid_var).
constexpr const char* kLastLayer = " (last layer)";
}  // namespace

ComparePanel::ComparePanel(QWidget* parent) : QWidget(parent) {
  list_ = new QListWidget;
  list_->setObjectName("list_compared_runs");
  list_->setMaximumWidth(260);
  auto* add = new QPushButton(tr("Add run..."));
  auto* remove = new QPushButton(tr("Remove"));
  key_ = new QComboBox;
  key_->setObjectName("combo_key");
  key_->setEditable(true);
  key_->setToolTip(tr("Config key that colours and labels each run"));
  series_ = new QComboBox;
  series_->setObjectName("combo_series");
  series_->setEditable(true);
  for (const char* name :
       {series::kLoss, series::kValLoss, series::kValPpl, series::kResidVarFinalNorm})
    series_->addItem(name);
  series_->addItem(QString(series::kResidVar) + kLastLayer);  // its last column
  series_->addItem(series::kGradNorm);
  series_->addItem(series::kTokensPerS);
  chart_ = new views::ChartWidget(tr("Comparison"));
  chart_->setObjectName("chart_compare");

  auto* left = new QVBoxLayout;
  left->addWidget(new QLabel(tr("Runs")));
  left->addWidget(list_, 1);
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(add);
  buttons->addWidget(remove);
  left->addLayout(buttons);
  left->addWidget(new QLabel(tr("Colour / label by")));
  left->addWidget(key_);
  left->addWidget(new QLabel(tr("Series")));
  left->addWidget(series_);
  auto* h = new QHBoxLayout(this);
  h->addLayout(left);
  h->addWidget(chart_, 1);

  connect(add, &QPushButton::clicked, this, [this] {
    const QString dir =
        QFileDialog::getExistingDirectory(this, tr("Add a run directory"), start_dir_);
    if (!dir.isEmpty()) addRun(dir);
  });
  connect(remove, &QPushButton::clicked, this, [this] {
    const int row = list_->currentRow();
    if (row < 0 || row >= int(runs_.size())) return;
    runs_.erase(runs_.begin() + row);
    delete list_->takeItem(row);
    redraw();
  });
  connect(key_, &QComboBox::currentTextChanged, this, &ComparePanel::redraw);
  connect(series_, &QComboBox::currentTextChanged, this, &ComparePanel::redraw);
}

void ComparePanel::addRun(const QString& dir) {
  run_load_async(this, dir, [this](LoadedRun r) {
    if (!r.error.isEmpty()) {
      emit loadFailed(r.error);
      return;
    }
    Run run;
    run.dir = r.dir;
    run.name = r.name;
    run.config = config_flatten(QJsonDocument::fromJson(r.config_json.toUtf8()).object());
    for (SeriesData& s : r.series) run.series[QString::fromStdString(s.name)] = std::move(s);
    runs_.push_back(std::move(run));
    list_->addItem(r.name);
    refreshKeys();
    redraw();
    emit runAdded(r.dir);
  });
}

void ComparePanel::setConfigKey(const QString& key) { key_->setCurrentText(key); }
QString ComparePanel::configKey() const { return key_->currentText(); }
void ComparePanel::setStartDirectory(const QString& dir) { start_dir_ = dir; }
void ComparePanel::setSeries(const QString& series) { series_->setCurrentText(series); }

void ComparePanel::refreshKeys() {
  // Offer the keys whose values differ between the runs first (what a sweep varied).
  const QString keep = key_->currentText();
  QStringList differing, same;
  if (!runs_.empty()) {
    for (const auto& [k, v] : runs_.front().config) {
      bool differs = false;
      for (const Run& r : runs_) {
        auto it = r.config.find(k);
        differs |= it == r.config.end() || it->second != v;
      }
      (differs ? differing : same) << k;
    }
  }
  QSignalBlocker block(key_);
  key_->clear();
  key_->addItems(differing + same);
  // The current key stays while it tells the runs apart; a key equal across
  // them would label every line the same ("n_layers=6" twice).
  const bool keep_ok = !keep.isEmpty() && (differing.contains(keep) || differing.isEmpty());
  key_->setCurrentText(keep_ok                ? keep
                       : !differing.isEmpty() ? differing.front()
                                              : QStringLiteral("model.n_layers"));
}

void ComparePanel::redraw() {
  chart_->clearLines();
  const QString key = key_->currentText();
  QString series = series_->currentText();
  int column = 0;
  bool last_layer = false;
  if (series.endsWith(kLastLayer)) {
    series.chop(int(std::strlen(kLastLayer)));
    last_layer = true;
  }
  // Order runs by the key (numerically when every value is a number).
  std::vector<size_t> order(runs_.size());
  std::iota(order.begin(), order.end(), 0);
  auto value_of = [&](const Run& r) {
    auto it = r.config.find(key);
    return it == r.config.end() ? QString("?") : it->second;
  };
  bool numeric = true;
  for (const Run& r : runs_) {
    bool ok = false;
    value_of(r).toDouble(&ok);
    numeric &= ok;
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return numeric ? value_of(runs_[a]).toDouble() < value_of(runs_[b]).toDouble()
                   : value_of(runs_[a]) < value_of(runs_[b]);
  });
  const QString short_key = key.section('.', -1);
  for (size_t i = 0; i < order.size(); ++i) {
    const Run& r = runs_[order[i]];
    auto it = r.series.find(series);
    const QString label = QString("%1=%2").arg(short_key, value_of(r));
    const int line = chart_->addLine(label, views::depth_color(int(i), int(order.size())));
    if (it == r.series.end()) continue;
    const SeriesData& s = it->second;
    column = last_layer ? s.width - 1 : 0;
    std::vector<double> x(s.steps.size()), y(s.steps.size());
    for (size_t k = 0; k < s.steps.size(); ++k) {
      x[k] = double(s.steps[k]);
      y[k] = s.values[k * size_t(s.width) + size_t(column)];
    }
    chart_->setLine(line, std::move(x), std::move(y));
  }
  chart_->setTitle(tr("%1 by %2").arg(series_->currentText(), key));
  chart_->setLogY(series.contains("var") || series.contains("ppl"));
}

}  // namespace dlab::gui
