#include "about.h"

#include <hdf5.h>

#include <QtGlobal>

#ifndef DEPTHLAB_VERSION
#error "DEPTHLAB_VERSION must come from CMake"
#endif
#ifndef DEPTHLAB_TORCH_VERSION
#error "DEPTHLAB_TORCH_VERSION must come from CMake (Torch_VERSION)"
#endif

namespace dlab::gui {

QString hdf5_runtime_version() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return QString("%1.%2.%3").arg(major).arg(minor).arg(release);
}

QString about_text() {
  return QString(
             "<h3>DepthLab %1</h3>"
             "<p>A desktop lab for depth and sparsity in LLMs.</p>"
             "<table>"
             "<tr><td>Qt</td><td>%2 (built with %3)</td></tr>"
             "<tr><td>HDF5</td><td>%4</td></tr>"
             "<tr><td>LibTorch (engine)</td><td>%5</td></tr>"
             "</table>")
      .arg(DEPTHLAB_VERSION, qVersion(), QT_VERSION_STR, hdf5_runtime_version(),
           DEPTHLAB_TORCH_VERSION);
}

}  // namespace dlab::gui
