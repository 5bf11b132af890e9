// One `telemetry` message of the session protocol, decoded (docs/protocol.md,
// "subscribe, telemetry and run state"): its rows grouped per series, so that
// a model gets one append per series per message.
#pragma once

#include <QCborMap>
#include <QMetaType>
#include <QString>
#include <cstdint>
#include <vector>

#include "replies.h"

namespace dlab::client {

// The rows of one series in one telemetry message.
struct TelemetrySeries {
  QString name;
  int width = 0;               // values per row (1 for scalars, L for per-layer series)
  std::vector<int64_t> steps;  // [n]
  std::vector<float> values;   // [n * width], row-major; JSON null -> NaN
};

// A step of the message and when its rows were complete (server clock, Unix ms).
struct StepStamp {
  int64_t step = 0;
  double t_ms = NAN;
};

struct TelemetryBatch {
  QString run;
  int64_t seq = 0;
  std::vector<StepStamp> stamps;        // every step of the message, in order
  std::vector<TelemetrySeries> series;  // in order of first appearance
  Progress progress;                    // empty() when the message had none
};

// Decodes the body of a `telemetry` message. Returns false (and says why) when
// the body does not follow docs/protocol.md; a series whose row width changes
// within the message is an error too.
bool telemetry_decode(const QCborMap& body, TelemetryBatch& out, QString* error);

}  // namespace dlab::client

Q_DECLARE_METATYPE(dlab::client::TelemetryBatch)
