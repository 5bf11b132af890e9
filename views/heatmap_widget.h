// A heatmap of a rows x cols matrix (layer x step, or square matrices such as
// a Jacobian or a layer-similarity matrix) with a sequential or diverging
// colour map, a colour bar, and a hover read-out of row, column and value.
// Cells are drawn from a QImage of one pixel per cell, scaled without
// smoothing, so thousands of steps draw as fast as a few.
#pragma once

#include <QImage>
#include <QString>
#include <QStringList>
#include <vector>

#include "views/color_map.h"
#include "views/plot_frame.h"

namespace dlab::views {

class HeatmapWidget : public PlotFrame {
  Q_OBJECT
 public:
  explicit HeatmapWidget(const QString& title, QWidget* parent = nullptr);

  // values: row-major [rows * cols]; NaN cells are grey.
  void setData(int rows, int cols, std::vector<double> values);
  // Axis titles and optional per-row / per-column labels (e.g. steps).
  void setAxes(const QString& row_title, const QString& col_title, QStringList row_labels = {},
               QStringList col_labels = {});
  // Colour by value (range from the data).
  void setSequential();
  // Colour by value - centre (or by J - I when identity_centre), symmetric range.
  void setDiverging(double centre);
  void setIdentityCentre(bool on);
  // Diverging maps: the half-width is this quantile of |value - centre|
  // (1 = the largest, the default), so outliers do not wash out the rest.
  void setClipQuantile(double q);  // square matrices: diagonal compared with 1
  // Square cells (aspect 1), for matrices whose rows and columns are the same
  // kind of thing (a Jacobian, layer x layer): the grid is the largest that
  // fits, centred.
  void setSquareCells(bool on);
  // Fixes the colour range instead of taking it from the data.
  void setFixedRange(double lo, double hi);

  int rows() const { return rows_; }
  int cols() const { return cols_; }
  double value(int r, int c) const { return values_[size_t(r) * size_t(cols_) + size_t(c)]; }
  const ColorMap& colorMap() const { return map_; }
  // Value that is coloured (value, or value - I when identity-centred).
  double colourValue(int r, int c) const;
  // Cell rectangle in widget coordinates (for tests and hover).
  QRectF cellRect(int r, int c) const;
  QString hoverText() const { return hover_text_; }

  void render(QPainter& p, const QRect& r) const override;

 protected:
  void mouseMoveEvent(QMouseEvent*) override;
  void leaveEvent(QEvent*) override;
  void writeCsv(QTextStream& out) const override;  // row, col, value

 private:
  QRectF plotRectFor(const QRect& r) const;
  void rebuild();

  QString row_title_, col_title_;
  QStringList row_labels_, col_labels_;
  int rows_ = 0, cols_ = 0;
  std::vector<double> values_;
  bool diverging_ = false, identity_ = false, fixed_ = false, square_cells_ = false;
  double centre_ = 0, fixed_lo_ = 0, fixed_hi_ = 1, clip_quantile_ = 1.0;
  ColorMap map_;
  QImage image_;
  QString hover_text_;
  int hover_r_ = -1, hover_c_ = -1;
};

}  // namespace dlab::views
