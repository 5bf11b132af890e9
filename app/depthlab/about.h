// The About box text: DepthLab, Qt (runtime), HDF5 (runtime) and the LibTorch
// version the engine was built with (a compile definition from CMake's
// Torch_VERSION: the GUI never includes torch headers).
#pragma once

#include <QString>

namespace dlab::gui {

QString about_text();
QString hdf5_runtime_version();

}  // namespace dlab::gui
