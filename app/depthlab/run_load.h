// Reads a run directory (run.h5 + analysis/step-N.h5) with the torch-free
// store library. run_load() blocks on file I/O, so the GUI calls it through
// run_load_async(), which runs it on a worker thread and delivers the result
// on the receiver's (GUI) thread: the GUI thread never waits on I/O.
#pragma once

#include <QObject>
#include <QString>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "run_model.h"
#include "store/analysis_file.h"
#include "store/run_file.h"

namespace dlab::gui {

struct LoadedRun {
  QString dir, name;  // name: the folder's name
  QString error;      // non-empty: nothing else is valid
  QString config_json, status;
  std::vector<SeriesData> series;
  QStringList descriptions;  // per series, from run.h5 (what the numbers are)
  std::map<int64_t, std::shared_ptr<const AnalysisFileData>> analyses;
  QStringList warnings;  // e.g. an unreadable analysis file (the rest still loads)
};

// Blocking: call off the GUI thread. Accepts the run directory or its run.h5.
// Safe from several threads at once (the store's contract, store/h5_handle.h).
LoadedRun run_load(const QString& path);

// Runs run_load(path) on a new thread; `done` runs on receiver's thread (not at
// all if the receiver is gone by then).
void run_load_async(QObject* receiver, const QString& path, std::function<void(LoadedRun)> done);

// Reads one analysis file (runs/<name>/analysis/step-N.h5) on a new thread;
// `done` gets the data or an error message, on receiver's thread.
void analysis_load_async(
    QObject* receiver, const QString& path,
    std::function<void(std::shared_ptr<const AnalysisFileData>, QString error)> done);

// Puts a loaded run into the model (clears it first).
void run_model_fill(RunModel& model, const LoadedRun& run);

}  // namespace dlab::gui
