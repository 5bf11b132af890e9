#include "run_load.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>
#include <QPointer>
#include <QThread>
#include <exception>
#include <filesystem>
namespace dlab::gui {

LoadedRun run_load(const QString& path) {
  LoadedRun out;
  QFileInfo info(path);
  QString dir = info.isDir() ? info.absoluteFilePath() : info.absolutePath();
  out.dir = dir;
  out.name = QFileInfo(dir).fileName();
  const std::filesystem::path run_dir = dir.toStdString();
  const std::filesystem::path run_h5 = run_dir / "run.h5";
  if (!std::filesystem::exists(run_h5)) {
    out.error = QString("%1 is not a run directory: it has no run.h5").arg(dir);
    return out;
  }
  try {  // any thread: the store's contract (store/h5_handle.h)
    RunReader reader = RunReader::open(run_h5);
    out.config_json = QString::fromStdString(reader.config_json());
    out.status = QString::fromStdString(reader.status());
    if (out.status == "running" && !reader.writer_alive()) out.status = "running (writer gone)";
    for (const SeriesSpec& spec : reader.series()) {
      SeriesData d = reader.read(spec.name);
      out.series.push_back(std::move(d));
      out.descriptions.push_back(QString::fromStdString(spec.description));
    }
  } catch (const std::exception& e) {
    out.error = QString("%1: %2").arg(QString::fromStdString(run_h5.string()), e.what());
    return out;
  }
  for (const auto& [step, file] : analysis_file_list(run_dir)) {
    try {
      out.analyses[step] = std::make_shared<const AnalysisFileData>(analysis_file_read(file));
    } catch (const std::exception& e) {
      out.warnings << QString::fromStdString(e.what());
    }
  }
  return out;
}

void run_load_async(QObject* receiver, const QString& path, std::function<void(LoadedRun)> done) {
  auto result = std::make_shared<LoadedRun>();
  QThread* thread = QThread::create([result, path] { *result = run_load(path); });
  QPointer<QObject> guard(receiver);
  QObject::connect(thread, &QThread::finished, thread, [thread, result, guard, done] {
    if (guard) done(std::move(*result));
    thread->deleteLater();
  });
  thread->start();
}

void analysis_load_async(
    QObject* receiver, const QString& path,
    std::function<void(std::shared_ptr<const AnalysisFileData>, QString error)> done) {
  struct Result {
    std::shared_ptr<const AnalysisFileData> data;
    QString error;
  };
  auto result = std::make_shared<Result>();
  QThread* thread = QThread::create([result, path] {
    try {
      result->data =
          std::make_shared<const AnalysisFileData>(analysis_file_read(path.toStdString()));
    } catch (const std::exception& e) {
      result->error = QString::fromUtf8(e.what());
    }
  });
  QPointer<QObject> guard(receiver);
  QObject::connect(thread, &QThread::finished, thread, [thread, result, guard, done] {
    if (guard) done(result->data, result->error);
    thread->deleteLater();
  });
  thread->start();
}

void run_model_fill(RunModel& model, const LoadedRun& run) {
  model.clear();
  const QJsonObject config = QJsonDocument::fromJson(run.config_json.toUtf8()).object();
  model.setRunInfo(run.name, run.dir, config);
  model.setStatus(run.status);
  for (size_t i = 0; i < run.series.size(); ++i) {
    const SeriesData& s = run.series[i];
    const QString name = QString::fromStdString(s.name);
    model.declareSeries(
        name, s.width,
        qsizetype(i) < run.descriptions.size() ? run.descriptions[qsizetype(i)] : QString());
    model.appendRows(name, s.steps.data(), s.values.data(), int64_t(s.steps.size()));
  }
  for (const auto& [step, data] : run.analyses) model.setAnalysis(step, data);
}

}  // namespace dlab::gui
