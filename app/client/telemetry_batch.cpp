#include "telemetry_batch.h"

#include <QCborArray>
#include <QCborValue>
#include <cmath>
#include <limits>
#include <map>

namespace dlab::client {

bool telemetry_decode(const QCborMap& body, TelemetryBatch& out, QString* error) {
  auto fail = [error](const QString& why) {
    if (error) *error = why;
    return false;
  };
  const QCborValue steps = body.value(QStringLiteral("steps"));
  if (!steps.isArray()) return fail(QStringLiteral("body.steps is not an array"));
  std::map<QString, size_t> index;  // series name -> position in out.series
  for (const QCborValue& s : steps.toArray()) {
    if (!s.isMap()) return fail(QStringLiteral("body.steps[] is not an object"));
    const QCborMap sm = s.toMap();
    const QCborValue step = sm.value(QStringLiteral("step"));
    if (!step.isInteger()) return fail(QStringLiteral("body.steps[].step is not an integer"));
    const QCborValue rows = sm.value(QStringLiteral("rows"));
    if (!rows.isMap()) return fail(QStringLiteral("body.steps[].rows is not an object"));
    const QCborMap rm = rows.toMap();
    out.stamps.push_back({step.toInteger(), sm.value(QStringLiteral("t_ms")).toDouble(NAN)});
    for (auto it = rm.constBegin(); it != rm.constEnd(); ++it) {
      const QString name = it.key().toString();
      if (!it.value().isArray() || it.value().toArray().isEmpty()) {
        return fail(QStringLiteral("rows.%1 is not a non-empty array").arg(name));
      }
      const QCborArray values = it.value().toArray();
      auto [pos, inserted] = index.emplace(name, out.series.size());
      if (inserted) {
        TelemetrySeries fresh;
        fresh.name = name;
        fresh.width = int(values.size());
        out.series.push_back(std::move(fresh));
      }
      TelemetrySeries& ts = out.series[pos->second];
      if (ts.width != values.size()) {
        return fail(QStringLiteral("rows.%1 has %2 values at step %3, %4 before")
                        .arg(name)
                        .arg(values.size())
                        .arg(step.toInteger())
                        .arg(ts.width));
      }
      ts.steps.push_back(step.toInteger());
      for (const QCborValue& v : values) {
        if (v.isNull()) {
          ts.values.push_back(std::numeric_limits<float>::quiet_NaN());
        } else if (v.isDouble() || v.isInteger()) {
          ts.values.push_back(float(v.toDouble()));
        } else {
          return fail(QStringLiteral("rows.%1 holds a value that is not a number").arg(name));
        }
      }
    }
  }
  const QCborValue progress = body.value(QStringLiteral("progress"));
  if (progress.isMap()) out.progress = progress_parse(progress.toMap().toJsonObject());
  return true;
}

}  // namespace dlab::client
