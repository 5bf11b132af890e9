// A fast rasteriser for dense aliased 1-px polylines (decimated series with
// about two points per pixel column), drawing straight into a QImage's bits.
// QPainter's cosmetic stroker spends most of a frame on set-up per segment
// when 32 lines of ~2,400 vertices are drawn 30 times a second; filling one
// vertical span per column per segment is ~10x cheaper and gives the same
// pixels an aliased 1-px line would (every pixel the segment passes through).
#pragma once

#include <QColor>
#include <QImage>
#include <QPointF>
#include <vector>

namespace dlab::views {

// Draws the polyline through `points` (image coordinates, x non-decreasing)
// in `color` (opaque) into `image` (Format_ARGB32_Premultiplied), clipped to
// the image.
void raster_polyline(QImage& image, const std::vector<QPointF>& points, const QColor& color);

}  // namespace dlab::views
