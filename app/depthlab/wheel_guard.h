// Combo boxes and spin boxes inside a scrolled panel (the launcher's form, the
// dashboard's pickers) take the mouse wheel only once clicked: a wheel that
// scrolls the panel past them must not change a config value or a chart on
// the way. The wheel event goes on to the scroll area instead.
#pragma once

#include <QWidget>

namespace dlab::gui {

// Applies to `widget` (a QComboBox, QSpinBox, ...): focus by click or Tab, not
// by wheel, and wheel events while unfocused pass to the parent.
void wheel_guard(QWidget* widget);

}  // namespace dlab::gui
