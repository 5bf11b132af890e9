#include "views/layer_strip_widget.h"

#include <QMouseEvent>
#include <QPainter>
#include <algorithm>
#include <cmath>

namespace dlab::views {

LayerStripWidget::LayerStripWidget(const QString& title, QWidget* parent)
    : QWidget(parent), title_(title) {
  setMinimumHeight(92);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
}

void LayerStripWidget::setValues(std::vector<double> values, const QString& value_name) {
  values_ = std::move(values);
  value_name_ = value_name;
  labels_ = QStringList();
  for (size_t i = 0; i < values_.size(); ++i) labels_.append(QString());
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values_) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  map_ = std::isfinite(lo) ? ColorMap::sequential(lo, hi) : ColorMap::sequential(0, 1);
  selected_.clear();
  update();
}

void LayerStripWidget::setTileLabel(int tile, const QString& label) {
  if (tile >= 0 && tile < labels_.size()) labels_[tile] = label;
  update();
}

void LayerStripWidget::clearSelection() {
  selected_.clear();
  emit selectionChanged();
  update();
}

QRectF LayerStripWidget::tileRect(int tile) const {
  const int n = std::max(1, tileCount());
  const double w = (width() - 16.0) / n;
  return QRectF(8 + tile * w + 1, 22, std::max(2.0, w - 2), 40);
}

void LayerStripWidget::paintEvent(QPaintEvent*) {
  QPainter p(this);
  const QPalette& pal = palette();
  const QColor fg = pal.color(QPalette::WindowText);
  p.fillRect(rect(), pal.color(QPalette::Base));
  QFont bold = font();
  bold.setBold(true);
  p.setFont(bold);
  p.setPen(fg);
  p.drawText(QRect(8, 2, width() - 16, 18), Qt::AlignLeft | Qt::AlignVCenter,
             title_ + (value_name_.isEmpty() ? QString() : "  (" + value_name_ + ")"));
  p.setFont(font());
  for (int i = 0; i < tileCount(); ++i) {
    const QRectF t = tileRect(i);
    const QColor c = tileColor(i);
    p.fillRect(t, c);
    // Text on the tile: white on dark colours, black on light ones.
    p.setPen(c.lightnessF() < 0.5 ? Qt::white : Qt::black);
    p.drawText(t, Qt::AlignCenter, QString::number(i));
    if (selected_.count(i)) {
      p.setPen(QPen(pal.color(QPalette::Highlight), 3));
      p.drawRect(t.adjusted(1.5, 1.5, -1.5, -1.5));
    }
    p.setPen(fg);
    p.drawText(QRectF(t.left(), t.bottom() + 2, t.width(), 16), Qt::AlignHCenter, labels_[i]);
  }
}

void LayerStripWidget::mousePressEvent(QMouseEvent* e) {
  for (int i = 0; i < tileCount(); ++i) {
    if (tileRect(i).contains(e->position())) {
      if (!selected_.erase(i)) selected_.insert(i);
      emit tileClicked(i);
      emit selectionChanged();
      update();
      return;
    }
  }
}

}  // namespace dlab::views
