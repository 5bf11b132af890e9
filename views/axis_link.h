// Links the x-axes of several charts: zooming or panning one moves the others.
// Ranges travel in data units (steps), so a linked chart with log-x still
// shows the same steps.
#pragma once

#include <QObject>

namespace dlab::views {

class AxisLink : public QObject {
  Q_OBJECT
 public:
  using QObject::QObject;
  // auto_range = true: every chart goes back to fitting its own data.
  void publish(QObject* sender, bool auto_range, double lo, double hi) {
    emit rangeChanged(sender, auto_range, lo, hi);
  }

 signals:
  void rangeChanged(QObject* sender, bool auto_range, double lo, double hi);
};

}  // namespace dlab::views
