#include "browser_panel.h"

#include <QHBoxLayout>
#include <QSplitter>
#include <QVBoxLayout>

#include "catalog/series_catalog.h"
#include "dashboard_panel.h"
#include "step_heatmap.h"
#include "views/color_map.h"

namespace dlab::gui {

BrowserPanel::BrowserPanel(RunModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  list_ = new QListWidget;
  list_->setObjectName("list_series");
  info_ = new QPlainTextEdit;
  info_->setObjectName("text_info");
  info_->setReadOnly(true);
  info_->setLineWrapMode(QPlainTextEdit::NoWrap);
  chart_ = new views::ChartWidget(tr("Series"));
  chart_->setObjectName("chart_browser");
  histogram_ = new views::HeatmapWidget(tr("Histogram"));
  histogram_->setObjectName("heat_browser_histogram");
  histogram_group_ = new QSpinBox;
  histogram_group_->setObjectName("spin_histogram_layer");
  histogram_group_->setPrefix(tr("block "));
  histogram_group_->setToolTip(tr("The block whose histogram is shown (a per-layer series)"));
  connect(histogram_group_, &QSpinBox::valueChanged, this, &BrowserPanel::fillHistogram);
  histogram_page_ = new QWidget;
  auto* page = new QVBoxLayout(histogram_page_);
  page->setContentsMargins(0, 0, 0, 0);
  page->addWidget(histogram_group_, 0, Qt::AlignLeft);
  page->addWidget(histogram_, 1);
  stack_ = new QStackedWidget;
  stack_->addWidget(chart_);
  stack_->addWidget(histogram_page_);
  histogram_timer_.setSingleShot(true);
  histogram_timer_.setInterval(250);
  connect(&histogram_timer_, &QTimer::timeout, this, &BrowserPanel::fillHistogram);
  auto* left = new QSplitter(Qt::Vertical);
  left->addWidget(list_);
  left->addWidget(info_);
  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(left);
  split->addWidget(stack_);
  split->setStretchFactor(1, 3);
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(0, 0, 0, 0);
  v->addWidget(split);

  connect(list_, &QListWidget::currentTextChanged, this, [this](const QString& name) {
    user_picked_ = true;  // refreshList() blocks the list's signals: this is the user
    showSeries(name);
  });
  connect(model_, &RunModel::reset, this, [this] {
    user_picked_ = false;
    refreshList();
  });
  connect(model_, &RunModel::seriesDeclared, this, &BrowserPanel::refreshList);
  connect(model_, &RunModel::rowsAppended, this, &BrowserPanel::onRowsAppended);
  connect(model_, &RunModel::runInfoChanged, this, &BrowserPanel::refreshInfo);
  connect(model_, &RunModel::statusChanged, this, &BrowserPanel::refreshInfo);
  connect(model_, &RunModel::analysesChanged, this, &BrowserPanel::refreshInfo);
}

void BrowserPanel::refreshList() {
  const QString keep = shown_;
  QSignalBlocker block(list_);
  list_->clear();
  for (const QString& n : model_->seriesNames()) {
    const auto* s = model_->series(n);
    auto* item = new QListWidgetItem(n, list_);
    item->setToolTip(QString("%1: width %2, %3 rows").arg(n).arg(s->width).arg(s->rows()));
  }
  // Keep the series the user picked; until they pick one, prefer the
  // per-layer residual variance (declared after loss, so re-checked each time).
  const QStringList wants =
      user_picked_ ? QStringList{keep} : QStringList{series::kResidVar, keep, series::kLoss};
  for (const QString& want : wants) {
    const auto found = list_->findItems(want, Qt::MatchExactly);
    if (!want.isEmpty() && !found.isEmpty()) {
      list_->setCurrentItem(found.front());
      showSeries(want);
      break;
    }
  }
  refreshInfo();
}

void BrowserPanel::refreshInfo() {
  QStringList lines;
  lines << tr("run: %1").arg(model_->name()) << tr("directory: %1").arg(model_->dir())
        << tr("status: %1").arg(model_->status());
  QStringList steps;
  for (const auto& [step, d] : model_->analyses()) steps << QString::number(step);
  lines << tr("analyses at steps: %1").arg(steps.isEmpty() ? tr("none") : steps.join(", "));
  lines << QString() << tr("config:");
  for (const auto& [k, v] : config_flatten(model_->config()))
    lines << QString("  %1 = %2").arg(k, v);
  info_->setPlainText(lines.join('\n'));
}

void BrowserPanel::showSeries(const QString& name) {
  shown_ = name;
  chart_->clearLines();
  const auto* s = model_->series(name);
  if (!s) return;
  chart_->setTitle(s->description.isEmpty() ? name : name + " - " + s->description);
  if (const std::optional<HistogramAxis> axis = series_histogram(name.toStdString())) {
    stack_->setCurrentWidget(histogram_page_);
    const int groups = step_heatmap_groups(s, *axis);
    histogram_group_->setRange(0, std::max(0, groups - 1));
    histogram_group_->setVisible(groups > 1);
    histogram_->setTitle(chart_->title() + tr(" (colour: log10 fraction per step)"));
    fillHistogram();
    return;
  }
  stack_->setCurrentWidget(chart_);
  const int w = s->width;
  for (int c = 0; c < w; ++c) {
    const QString label = w == 1 ? name : QString("%1[%2]").arg(name).arg(c);
    const int line =
        chart_->addLine(label, w == 1 ? QColor(31, 119, 180) : views::depth_color(c, w));
    std::vector<double> x(size_t(s->rows())), y(size_t(s->rows()));
    for (int64_t k = 0; k < s->rows(); ++k) {
      x[size_t(k)] = double(s->steps[size_t(k)]);
      y[size_t(k)] = s->at(k, c);
    }
    chart_->setLine(line, std::move(x), std::move(y));
  }
  if (w > 1) chart_->setColorBar(tr("column"), views::depth_map(w), 0, w - 1);
}

void BrowserPanel::fillHistogram() {
  const std::optional<HistogramAxis> axis = series_histogram(shown_.toStdString());
  if (!axis) return;
  step_heatmap_histogram(histogram_, model_->series(shown_), *axis, DashboardPanel::kMaxHeatColumns,
                         histogram_group_->value());
}

void BrowserPanel::onRowsAppended(const QString& name, int64_t first, int64_t count) {
  if (name != shown_) return;
  if (showsHistogram()) {
    if (!histogram_timer_.isActive()) histogram_timer_.start();
    return;
  }
  const auto* s = model_->series(name);
  if (!s || chart_->lineCount() != s->width) return;
  for (int64_t r = first; r < first + count; ++r) {
    for (int c = 0; c < s->width; ++c)
      chart_->appendPoint(c, double(s->steps[size_t(r)]), s->at(r, c));
  }
}

}  // namespace dlab::gui
