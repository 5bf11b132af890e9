// Axis ticks and number labels shared by the charts, heatmaps and bars:
// "nice" 1-2-5 tick steps, and labels short enough to read at a glance
// (10000 not 1e+04, 0.539 not 0.53944).
#pragma once

#include <QString>
#include <vector>

namespace dlab::views {

// Ticks at multiples of 1, 2 or 5 x 10^k inside [lo, hi], at most ~max_ticks.
// `integers`: whole numbers only (k >= 0), for axes of layers, heads or steps,
// where 0.5 names nothing.
std::vector<double> nice_ticks(double lo, double hi, int max_ticks, bool integers = false);

// Ticks of a log axis, as log10 values inside [log_lo, log_hi]: whole
// decades; over less than ~2 decades 1, 2, 5 x 10^k; within a decade (a loss
// between 5.5 and 7.6) round values of the data itself (5.5, 6, 6.5, ...),
// so a log axis never shows fewer than three ticks where the plot has room.
std::vector<double> log_ticks(double log_lo, double log_hi, int max_ticks);

// A tick or colour-bar label: whole numbers below 10^7 as integers, very
// large or small magnitudes in scientific notation, otherwise `digits`
// significant digits without trailing zeros.
QString format_tick(double v, int digits = 3);

}  // namespace dlab::views
