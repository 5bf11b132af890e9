// The run launcher: a preset, a form generated from the config schema
// (core/common/config_schema.h: one editor per key, its doc as tooltip), an
// optional sweep over one key, Launch; then the worker's runs with state,
// step, loss, tokens/s and ETA, and Watch / Pause / Resume / Stop.
//
// Values are checked as they are typed (a number field must hold a number);
// the worker validates the whole config on `start` and its messages appear
// under the fields they name. A sweep is queued on the worker (protocol
// `sweep`), which starts its runs one after another (as `dlab train --sweep`
// does) and goes on when this window closes; the sweeps table lists the
// worker's sweeps, whoever queued them, and cancels one.
#pragma once

#include <QComboBox>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QUrl>
#include <QWidget>
#include <cmath>
#include <map>
#include <set>

#include "worker_client.h"

namespace dlab {
struct ConfigField;
}

namespace dlab::gui {

class LaunchPanel : public QWidget {
  Q_OBJECT
 public:
  explicit LaunchPanel(client::WorkerClient* worker, QWidget* parent = nullptr);

  // Fills the form with a preset's values (resources/presets/<name>.toml).
  // Returns false (and says why in the message line) for an unknown preset.
  bool loadPreset(const QString& name);
  // Sets one field as if typed; false for an unknown key.
  bool setField(const QString& key, const QString& text);
  QString field(const QString& key) const;
  // The message under a field ("" when none).
  QString fieldError(const QString& key) const;
  // "key" and "v1,v2,...": one run per value; empty key: no sweep.
  void setSweep(const QString& key, const QString& values);
  // Data-parallel ranks on the worker's machine (1: one process).
  void setRanks(int ranks) { ranks_->setValue(ranks); }
  // Checks the form, then starts the run (or queues the sweep on the worker).
  void launch();
  // Continues the selected run (one that is not live) until step `to_step`:
  // the worker resumes it from its newest checkpoint with train.steps = to_step.
  void continueSelected(int64_t to_step);
  // The message line under the Launch button.
  QString message() const { return message_->text(); }
  // The run the progress bar follows.
  const QString& currentRun() const { return current_; }
  // Named children: combo_preset, edit_<key> (dots as '_'), combo_sweep_key,
  // edit_sweep_values, spin_ranks, button_launch, table_runs, progress_run, button_watch,
  // button_pause, button_resume, button_stop, button_refresh, spin_continue_steps,
  // button_continue, table_sweeps, button_cancel_sweep.

 signals:
  // A run was started by this panel (the reply's name, directory and config).
  void runStarted(const QString& run, const QString& dir, const QJsonObject& config);
  // A run was continued by this panel (its steps so far are in its run.h5).
  void runContinued(const QString& run, const QString& dir, const QJsonObject& config);
  // The user asked to watch a run in the dashboard (double-click or Watch).
  void watchRequested(const QString& run);

 private:
  struct FieldEditor {
    const ConfigField* field = nullptr;
    QWidget* editor = nullptr;
    QLabel* error = nullptr;
  };

  void buildForm(QWidget* host);
  QString editorText(const FieldEditor& f) const;
  void setEditorText(FieldEditor& f, const QString& text);
  void showFieldError(const QString& key, const QString& text);
  void clearFieldErrors();
  void checkField(const QString& key);
  // A worker's refusal: messages under the fields they name, the rest below Launch.
  void showWorkerErrors(const client::RequestError& error, const QString& what);
  // A sweep of the worker, new or changed: its row, and its started runs in the run table.
  void onSweep(const client::Sweep& sweep);
  void refreshSweeps();
  void cancelSelectedSweep();
  void onConnected(const client::ServerInfo& info);
  // The run.device choices: auto, then the worker's devices (server_info's
  // "devices"); unusable GPUs are listed, disabled, with the reason.
  void setDevices(const std::vector<client::Device>& devices, const QString& cuda_problem);
  void refreshRuns();
  void onRunState(const QString& run, const client::RunState& state);
  void onTelemetry(const client::TelemetryBatch& batch);
  // What is known of a run's progress; its row and the bar show it.
  struct RunProgress {
    QString state;
    int64_t step = -1, total_steps = 0;
    double loss = NAN, tokens_per_s = NAN, eta_s = NAN;
  };
  void showProgress(const QString& run);
  int rowOf(const QString& run, bool create);
  QString selectedRun() const;
  void control(client::RunControl what);
  void updateProgress();
  void updateControls();  // pause / resume / stop / continue for the selected run's state
  // A start or continue reply: the run is shown running, subscribed and announced.
  // `what` heads an error ("tiny was not started").
  void onStarted(const client::Reply<client::Started>& r, const QString& what, bool continued);

  client::WorkerClient* worker_;
  QComboBox* preset_;
  std::map<QString, FieldEditor> fields_;
  QComboBox* sweep_key_;
  QLineEdit* sweep_values_;
  QSpinBox* ranks_;
  QPushButton* launch_;
  QPushButton *pause_ = nullptr, *resume_ = nullptr, *stop_ = nullptr;
  QSpinBox* continue_steps_ = nullptr;
  QPushButton* continue_ = nullptr;
  int continue_row_ = -1;  // the row and step the continue box was set for
  int64_t continue_step_ = -1;
  QLabel* message_;
  QLabel* runs_worker_;  // whose runs the table lists
  QUrl runs_url_;        // the worker the table's runs are on
  QTableWidget* runs_;
  QProgressBar* progress_;
  QLabel* progress_text_;
  QTableWidget* sweeps_ = nullptr;
  QPushButton* cancel_sweep_ = nullptr;
  std::set<QString> followed_sweeps_;  // queued from this panel: their runs are watched
  std::set<QString> sweep_runs_seen_;  // sweep runs already subscribed to (or passed over)
  QString current_;
  std::map<QString, RunProgress> progress_by_run_;
  std::set<QString> worker_error_keys_;  // fields showing the worker's messages
};

}  // namespace dlab::gui
