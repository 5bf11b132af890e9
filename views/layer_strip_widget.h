// A horizontal strip of layer tiles, each coloured by a value (usefulness,
// block influence), with a label per tile (e.g. the loss change of an
// intervention). Clicking toggles a tile's selection; the interventions panel
// (next milestone) turns selections into skip / swap / linear requests.
#pragma once

#include <QString>
#include <QStringList>
#include <QWidget>
#include <set>
#include <vector>

#include "views/color_map.h"

namespace dlab::views {

class LayerStripWidget : public QWidget {
  Q_OBJECT
 public:
  explicit LayerStripWidget(const QString& title, QWidget* parent = nullptr);

  void setValues(std::vector<double> values, const QString& value_name);  // one tile per value
  void setTileLabel(int tile, const QString& label);  // shown under the tile ("+0.12")
  QString tileLabel(int tile) const { return tile < labels_.size() ? labels_[tile] : QString(); }
  void clearSelection();
  const std::set<int>& selection() const { return selected_; }
  int tileCount() const { return int(values_.size()); }
  QRectF tileRect(int tile) const;
  QColor tileColor(int tile) const { return map_.color(values_[size_t(tile)]); }

 signals:
  void tileClicked(int tile);
  void selectionChanged();

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent*) override;

 private:
  QString title_, value_name_;
  std::vector<double> values_;
  QStringList labels_;
  std::set<int> selected_;
  ColorMap map_;
};

}  // namespace dlab::views
