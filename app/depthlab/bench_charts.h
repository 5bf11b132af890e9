// depthlab --bench-charts: 32 per-layer series x 20,000 points in one chart,
// one new point per series at 30 Hz; measures every repaint (paintEvent time)
// and prints the median and p99 frame time.
#pragma once

namespace dlab::gui {

// Returns the process exit code (0, or 1 when the median misses 16 ms).
int bench_charts(int seconds);

}  // namespace dlab::gui
