// The streaming statistics of METRICS.md §2 in one include: residual variance
// and kurtosis, attention sparsity and entropy, weight sparsity, and the
// token-weighted mean used to reduce them across ranks. Definitions, series
// names and costs are in docs/metrics.md ("Streaming statistics").
#pragma once

#include "metrics/attention_stats.h"
#include "metrics/residual_stats.h"
#include "metrics/row_stats.h"
#include "metrics/running_mean.h"
#include "metrics/weight_sparsity.h"
