#include "launch_panel.h"

#include <QCheckBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QSplitter>
#include <QStandardItemModel>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "common/config_io.h"
#include "common/config_schema.h"
#include "common/error.h"
#include "common/presets.h"
#include "wheel_guard.h"

namespace dlab::gui {

namespace {

enum Column { kRun, kState, kStep, kLoss, kTokens, kEta, kColumns };
enum SweepColumn { kSweepId, kSweepKey, kSweepRuns, kSweepState, kSweepColumns };

QString object_name_for(const QString& key) { return "edit_" + QString(key).replace('.', '_'); }

QString duration_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  const qint64 s = qint64(std::llround(seconds));
  return s >= 3600 ? QString("%1:%2:%3")
                         .arg(s / 3600)
                         .arg((s / 60) % 60, 2, 10, QChar('0'))
                         .arg(s % 60, 2, 10, QChar('0'))
                   : QString("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QChar('0'));
}

// A read-only table of whole rows, one selectable at a time, its columns as
// wide as their contents (the last one stretched).
QTableWidget* row_table(const QString& name, const QStringList& headers) {
  auto* t = new QTableWidget(0, int(headers.size()));
  t->setObjectName(name);
  t->setHorizontalHeaderLabels(headers);
  t->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  t->horizontalHeader()->setStretchLastSection(true);
  t->verticalHeader()->hide();
  t->setSelectionBehavior(QAbstractItemView::SelectRows);
  t->setSelectionMode(QAbstractItemView::SingleSelection);
  t->setEditTriggers(QAbstractItemView::NoEditTriggers);
  return t;
}

QJsonObject config_json_object(const Config& c) {
  return QJsonDocument::fromJson(QByteArray::fromStdString(config_to_json(c))).object();
}

}  // namespace

LaunchPanel::LaunchPanel(client::WorkerClient* worker, QWidget* parent)
    : QWidget(parent), worker_(worker) {
  preset_ = new QComboBox;
  preset_->setObjectName("combo_preset");
  preset_->setToolTip(tr("Fill the form with a preset (resources/presets/<name>.toml)"));
  for (const std::string& name : preset_names()) preset_->addItem(QString::fromStdString(name));
  connect(preset_, &QComboBox::textActivated, this, [this](const QString& p) { loadPreset(p); });

  auto* form_host = new QWidget;
  buildForm(form_host);
  auto* scroll = new QScrollArea;
  scroll->setWidget(form_host);
  scroll->setWidgetResizable(true);

  sweep_key_ = new QComboBox;
  sweep_key_->setObjectName("combo_sweep_key");
  sweep_key_->addItem(tr("(no sweep)"), QString());
  for (const ConfigField& f : config_schema()) {
    if (f.key != "run.name" && f.key != "run.dir") {
      sweep_key_->addItem(QString::fromStdString(f.key), QString::fromStdString(f.key));
    }
  }
  sweep_key_->setToolTip(
      tr("One run per value of this key, one after another; run i is named "
         "<run.name>-<key><value>"));
  sweep_values_ = new QLineEdit;
  sweep_values_->setObjectName("edit_sweep_values");
  sweep_values_->setPlaceholderText(tr("values, e.g. 4,8,16"));
  ranks_ = new QSpinBox;
  ranks_->setObjectName("spin_ranks");
  ranks_->setRange(1, 64);
  ranks_->setValue(1);
  ranks_->setToolTip(
      tr("Data-parallel processes on the worker's machine (one per GPU on a GPU "
         "machine): each trains on its share of every batch, the loss curve is "
         "that of one process (docs/distributed.md). Such a run cannot pause."));
  launch_ = new QPushButton(tr("&Launch"));
  launch_->setObjectName("button_launch");
  launch_->setDefault(true);
  connect(launch_, &QPushButton::clicked, this, &LaunchPanel::launch);
  message_ = new QLabel;
  message_->setObjectName("label_message");
  message_->setWordWrap(true);
  message_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  runs_ = row_table("table_runs",
                    {tr("Run"), tr("State"), tr("Step"), tr("Loss"), tr("Tokens/s"), tr("ETA")});
  runs_->setToolTip(tr("Runs of the connected worker; double-click to watch one"));
  connect(runs_, &QTableWidget::cellDoubleClicked, this,
          [this](int row, int) { emit watchRequested(runs_->item(row, kRun)->text()); });
  connect(runs_, &QTableWidget::itemSelectionChanged, this, &LaunchPanel::updateProgress);
  connect(runs_, &QTableWidget::itemSelectionChanged, this, &LaunchPanel::updateControls);
  // A state cell changes with every run_state, list_runs and control reply.
  connect(runs_, &QTableWidget::itemChanged, this, [this](QTableWidgetItem* item) {
    if (item->column() == kState || item->column() == kStep) updateControls();
  });

  progress_ = new QProgressBar;
  progress_->setObjectName("progress_run");
  progress_->setRange(0, 1);
  progress_->setValue(0);
  progress_text_ = new QLabel(tr("No run yet"));
  auto button = [this](const QString& name, const QString& text, const QString& tip) {
    auto* b = new QPushButton(text);
    b->setObjectName(name);
    b->setToolTip(tip);
    return b;
  };
  QPushButton* watch = button("button_watch", tr("&Watch"), tr("Show the selected run live"));
  QPushButton* pause = pause_ =
      button("button_pause", tr("&Pause"), tr("Hold the run between steps"));
  QPushButton* resume = resume_ =
      button("button_resume", tr("Res&ume"), tr("Continue a paused run"));
  QPushButton* stop = stop_ =
      button("button_stop", tr("S&top"), tr("End the run at the next step, with a checkpoint"));
  QPushButton* refresh = button("button_refresh", tr("Re&fresh"), tr("List the worker's runs"));
  continue_steps_ = new QSpinBox;
  continue_steps_->setObjectName("spin_continue_steps");
  continue_steps_->setRange(1, 1000000000);
  continue_steps_->setToolTip(tr("The step the continued run trains until (its train.steps)"));
  continue_ = button("button_continue", tr("&Continue"),
                     tr("Train the selected run further, from its newest checkpoint, until the "
                        "step given (dlab train --resume)"));
  connect(continue_, &QPushButton::clicked, this,
          [this] { continueSelected(continue_steps_->value()); });
  connect(watch, &QPushButton::clicked, this, [this] {
    if (!selectedRun().isEmpty()) emit watchRequested(selectedRun());
  });
  connect(pause, &QPushButton::clicked, this, [this] { control(client::RunControl::Pause); });
  connect(resume, &QPushButton::clicked, this, [this] { control(client::RunControl::Resume); });
  connect(stop, &QPushButton::clicked, this, [this] { control(client::RunControl::Stop); });
  connect(refresh, &QPushButton::clicked, this, &LaunchPanel::refreshRuns);

  sweeps_ = row_table("table_sweeps", {tr("Sweep"), tr("Key"), tr("Runs"), tr("State")});
  sweeps_->setToolTip(
      tr("Sweeps queued on the worker: it starts their runs one after another and goes on "
         "when this window closes. The tooltip of a row lists its runs."));
  sweeps_->setMaximumHeight(120);
  cancel_sweep_ = button("button_cancel_sweep", tr("Cancel s&weep"),
                         tr("Drop the selected sweep's queued runs and stop its training run "
                            "(with a checkpoint)"));
  connect(cancel_sweep_, &QPushButton::clicked, this, &LaunchPanel::cancelSelectedSweep);
  connect(sweeps_, &QTableWidget::itemSelectionChanged, this, &LaunchPanel::updateControls);

  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel(tr("Preset:")));
  top->addWidget(preset_, 1);
  auto* sweep = new QHBoxLayout;
  sweep->addWidget(new QLabel(tr("Sweep:")));
  sweep->addWidget(sweep_key_, 1);
  sweep->addWidget(sweep_values_, 1);
  auto* form_side = new QWidget;
  auto* left = new QVBoxLayout(form_side);
  left->setContentsMargins(0, 0, 0, 0);
  left->addLayout(top);
  left->addWidget(scroll, 1);
  left->addLayout(sweep);
  auto* go = new QHBoxLayout;
  go->addWidget(new QLabel(tr("Ranks:")));
  go->addWidget(ranks_);
  go->addWidget(launch_, 1);
  left->addLayout(go);
  left->addWidget(message_);

  auto* runs_side = new QWidget;
  auto* right = new QVBoxLayout(runs_side);
  right->setContentsMargins(0, 0, 0, 0);
  runs_worker_ = new QLabel(tr("Runs: no worker connected"));
  runs_worker_->setObjectName("label_runs_worker");
  right->addWidget(runs_worker_);
  right->addWidget(runs_, 1);
  right->addWidget(progress_);
  right->addWidget(progress_text_);
  auto* buttons = new QHBoxLayout;
  for (QPushButton* b : {watch, pause, resume, stop, refresh}) buttons->addWidget(b);
  right->addLayout(buttons);
  auto* more = new QHBoxLayout;
  more->addWidget(new QLabel(tr("Continue the selected run until step")));
  more->addWidget(continue_steps_);
  more->addWidget(continue_);
  more->addStretch(1);
  right->addLayout(more);
  right->addWidget(sweeps_);
  auto* sweep_buttons = new QHBoxLayout;
  sweep_buttons->addStretch(1);
  sweep_buttons->addWidget(cancel_sweep_);
  right->addLayout(sweep_buttons);

  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(form_side);
  split->addWidget(runs_side);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 1);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(split);

  connect(worker_, &client::WorkerClient::connected, this, &LaunchPanel::onConnected);
  connect(worker_, &client::WorkerClient::runState, this, &LaunchPanel::onRunState);
  connect(worker_, &client::WorkerClient::telemetry, this, &LaunchPanel::onTelemetry);
  connect(worker_, &client::WorkerClient::sweepState, this, &LaunchPanel::onSweep);
  connect(worker_, &client::WorkerClient::stateChanged, this,
          [this](client::WorkerClient::State s, const QString&) {
            launch_->setEnabled(s == client::WorkerClient::State::Connected);
            updateControls();
          });
  launch_->setEnabled(worker_->state() == client::WorkerClient::State::Connected);
  updateControls();

  const int demo = preset_->findText("demo");
  if (demo >= 0) {
    preset_->setCurrentIndex(demo);
    loadPreset("demo");
  }
}

void LaunchPanel::buildForm(QWidget* host) {
  auto* layout = new QVBoxLayout(host);
  QFormLayout* form = nullptr;
  QString section;
  for (const ConfigField& f : config_schema()) {
    const QString key = QString::fromStdString(f.key);
    if (f.key == "run.dir") continue;  // the worker decides where runs live
    if (!form || QString::fromStdString(f.section()) != section) {
      section = QString::fromStdString(f.section());
      auto* box = new QGroupBox(section);
      form = new QFormLayout(box);
      form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
      layout->addWidget(box);
    }
    FieldEditor fe;
    fe.field = &f;
    const QString tip = QString::fromStdString(f.doc) + "\n" +
                        tr("default: %1").arg(QString::fromStdString(f.default_value));
    if (f.key == "run.device") {
      // The worker's devices (server_info), not free text: the item's data is
      // the run.device value, its text what it is (onConnected fills it).
      auto* c = new QComboBox;
      connect(c, &QComboBox::currentIndexChanged, this, [this, key] { checkField(key); });
      fe.editor = c;
    } else if (f.type == ConfigField::Type::Choice) {
      auto* c = new QComboBox;
      for (const std::string& choice : f.choices) c->addItem(QString::fromStdString(choice));
      connect(c, &QComboBox::currentTextChanged, this, [this, key] { checkField(key); });
      fe.editor = c;
    } else if (f.type == ConfigField::Type::Bool) {
      auto* c = new QCheckBox;
      connect(c, &QCheckBox::toggled, this, [this, key] { checkField(key); });
      fe.editor = c;
    } else {
      auto* e = new QLineEdit;
      connect(e, &QLineEdit::textEdited, this, [this, key] { checkField(key); });
      fe.editor = e;
    }
    fe.editor->setObjectName(object_name_for(key));
    fe.editor->setToolTip(tip);
    // Scrolling the form over a choice must not change it.
    if (qobject_cast<QComboBox*>(fe.editor)) wheel_guard(fe.editor);
    fe.error = new QLabel;
    fe.error->setObjectName("error_" + QString(key).replace('.', '_'));
    fe.error->setWordWrap(true);
    fe.error->setStyleSheet("color: #c0392b;");
    fe.error->hide();
    auto* cell = new QWidget;
    auto* v = new QVBoxLayout(cell);
    v->setContentsMargins(0, 0, 0, 0);
    v->setSpacing(1);
    v->addWidget(fe.editor);
    v->addWidget(fe.error);
    auto* label = new QLabel(QString::fromStdString(f.name()));
    label->setToolTip(tip);
    form->addRow(label, cell);
    fields_[key] = fe;
  }
  layout->addStretch(1);
  client::Device cpu;
  cpu.name = cpu.kind = "cpu";
  cpu.usable = true;
  setDevices({cpu}, {});
  // The defaults first, so that every editor holds a value.
  const Config defaults;
  for (auto& [key, fe] : fields_)
    setEditorText(fe, QString::fromStdString(fe.field->get(defaults)));
}

namespace {

QString gib(double bytes) { return QString::number(bytes / double(1ull << 30), 'f', 1) + " GiB"; }

// "cuda:0 · NVIDIA H200 · 139.8 GiB (137.2 GiB free)" for one server_info device.
QString device_label(const client::Device& d) {
  if (d.kind == "cpu") {
    QString s = d.name;
    if (d.threads > 0) s += QString(" · %1 threads").arg(d.threads);
    if (d.memory_bytes >= 0) s += " · " + gib(d.memory_bytes);
    return s;
  }
  QString s = d.name + " · " + d.model + " · " + gib(std::max(0.0, d.memory_bytes));
  if (d.memory_free_bytes >= 0) s += QString(" (%1 free)").arg(gib(d.memory_free_bytes));
  if (!d.usable) s += " · not usable";
  return s;
}

}  // namespace

void LaunchPanel::setDevices(const std::vector<client::Device>& devices,
                             const QString& cuda_problem) {
  auto it = fields_.find("run.device");
  if (it == fields_.end()) return;
  auto* c = static_cast<QComboBox*>(it->second.editor);
  const QString keep = c->count() ? editorText(it->second) : QString("auto");
  const QSignalBlocker quiet(c);
  c->clear();
  QString first_gpu;
  for (const client::Device& d : devices) {
    if (d.kind == "cuda" && d.usable && first_gpu.isEmpty()) first_gpu = d.name;
  }
  c->addItem(tr("auto · %1").arg(first_gpu.isEmpty() ? QString("cpu here") : first_gpu), "auto");
  c->setItemData(0,
                 cuda_problem.isEmpty()
                     ? tr("The first GPU where one is usable, else the CPU.")
                     : tr("The first GPU where one is usable, else the CPU. No GPU here: %1")
                           .arg(cuda_problem),
                 Qt::ToolTipRole);
  for (const client::Device& d : devices) {
    c->addItem(device_label(d), d.name);
    const int i = c->count() - 1;
    if (!d.usable) {
      // Shown, so the researcher sees the GPU, but not selectable; the reason is the tooltip.
      c->setItemData(i, d.problem, Qt::ToolTipRole);
      if (auto* model = qobject_cast<QStandardItemModel*>(c->model()))
        model->item(i)->setEnabled(false);
    }
  }
  setEditorText(it->second, keep);
}

QString LaunchPanel::editorText(const FieldEditor& f) const {
  if (auto* c = qobject_cast<QComboBox*>(f.editor)) {
    // The device list keeps values in item data (its text says what the device is).
    const QVariant data = c->currentData();
    return data.isValid() ? data.toString() : c->currentText();
  }
  if (auto* c = qobject_cast<QCheckBox*>(f.editor)) return c->isChecked() ? "true" : "false";
  return static_cast<QLineEdit*>(f.editor)->text().trimmed();
}

void LaunchPanel::setEditorText(FieldEditor& f, const QString& text) {
  if (auto* c = qobject_cast<QComboBox*>(f.editor)) {
    if (f.field->key == "run.device") {
      int i = c->findData(text);
      if (i < 0) {  // a value this worker does not offer (a preset's cuda:1): kept, and checked
        c->addItem(tr("%1 · not on this worker").arg(text), text);
        i = c->count() - 1;
      }
      c->setCurrentIndex(i);
    } else {
      c->setCurrentText(text);
    }
  } else if (auto* c = qobject_cast<QCheckBox*>(f.editor)) {
    c->setChecked(text == "true");
  } else {
    static_cast<QLineEdit*>(f.editor)->setText(text);
  }
}

bool LaunchPanel::loadPreset(const QString& name) {
  Config c;
  try {
    c = preset_load(name.toStdString());
  } catch (const std::exception& e) {
    message_->setText(tr("Preset: %1").arg(QString::fromUtf8(e.what())));
    return false;
  }
  for (auto& [key, fe] : fields_) setEditorText(fe, QString::fromStdString(fe.field->get(c)));
  clearFieldErrors();
  message_->setText(tr("Preset \"%1\" loaded; edit any field, then Launch.").arg(name));
  if (preset_->currentText() != name) preset_->setCurrentText(name);
  return true;
}

bool LaunchPanel::setField(const QString& key, const QString& text) {
  auto it = fields_.find(key);
  if (it == fields_.end()) return false;
  setEditorText(it->second, text);
  checkField(key);
  return true;
}

QString LaunchPanel::field(const QString& key) const {
  auto it = fields_.find(key);
  return it == fields_.end() ? QString() : editorText(it->second);
}

QString LaunchPanel::fieldError(const QString& key) const {
  auto it = fields_.find(key);
  return it == fields_.end() || it->second.error->isHidden() ? QString() : it->second.error->text();
}

void LaunchPanel::setSweep(const QString& key, const QString& values) {
  const int i = sweep_key_->findData(key);
  sweep_key_->setCurrentIndex(i < 0 ? 0 : i);
  sweep_values_->setText(values);
}

void LaunchPanel::showFieldError(const QString& key, const QString& text) {
  auto it = fields_.find(key);
  if (it == fields_.end()) return;
  it->second.error->setText(text);
  it->second.error->setVisible(!text.isEmpty());
}

void LaunchPanel::clearFieldErrors() {
  for (auto& [key, fe] : fields_) fe.error->hide();
}

// The value must parse as its field's type; whole-config rules are the worker's.
void LaunchPanel::checkField(const QString& key) {
  auto it = fields_.find(key);
  if (it == fields_.end()) return;
  // The worker judged the whole config: any edit may have fixed what it
  // reported (n_heads must divide d_model is fixed by either), so its
  // messages go; the next launch says again what still holds.
  for (const QString& k : worker_error_keys_) showFieldError(k, {});
  worker_error_keys_.clear();
  Config scratch;
  try {
    it->second.field->set(scratch, editorText(it->second).toStdString());
    showFieldError(key, {});
  } catch (const std::exception& e) {
    showFieldError(key, QString::fromUtf8(e.what()));
  }
}

void LaunchPanel::launch() {
  clearFieldErrors();
  Config base;
  bool ok = true;
  for (auto& [key, fe] : fields_) {
    try {
      fe.field->set(base, editorText(fe).toStdString());
    } catch (const std::exception& e) {
      showFieldError(key, QString::fromUtf8(e.what()));
      ok = false;
    }
  }
  if (!ok) {
    message_->setText(tr("Some fields do not parse; see the messages under them."));
    return;
  }
  client::StartRequest request;
  request.config = config_json_object(base);
  request.ranks = ranks_->value();
  const QString key = sweep_key_->currentData().toString();
  if (key.isEmpty()) {
    const QString name = QString::fromStdString(base.run.name);
    message_->setText(tr("Starting %1 ...").arg(name));
    worker_->start(request, this, [this, name](const client::Reply<client::Started>& r) {
      onStarted(r, tr("%1 was not started").arg(name), /*continued=*/false);
    });
    return;
  }
  // The worker owns the sweep; the form's mistakes are said here at once.
  const QString sweep = key + "=" + sweep_values_->text();
  try {
    config_expand_sweep(base, sweep.toStdString());
  } catch (const std::exception& e) {
    message_->setText(tr("Sweep: %1").arg(QString::fromUtf8(e.what())));
    return;
  }
  message_->setText(tr("Queueing the sweep over %1 ...").arg(key));
  worker_->startSweep(request, sweep, this, [this](const client::Reply<client::Sweep>& r) {
    if (!r.ok()) {
      showWorkerErrors(r.error, tr("The sweep was not queued"));
      return;
    }
    followed_sweeps_.insert(r.value.id);
    message_->setText(tr("Sweep %1 queued on the worker: %2 runs, one after another; it goes on "
                         "if this window closes.")
                          .arg(r.value.id)
                          .arg(r.value.members.size()));
    onSweep(r.value);
  });
}

void LaunchPanel::continueSelected(int64_t to_step) {
  const QString run = selectedRun();
  if (run.isEmpty()) {
    message_->setText(tr("Select a run first."));
    return;
  }
  message_->setText(tr("Continuing %1 to step %2 ...").arg(run).arg(to_step));
  worker_->continueRun(run, {QString("train.steps=%1").arg(to_step)}, this,
                       [this, run](const client::Reply<client::Started>& r) {
                         onStarted(r, tr("%1 was not continued").arg(run), /*continued=*/true);
                       });
}

void LaunchPanel::showWorkerErrors(const client::RequestError& error, const QString& what) {
  QStringList unplaced;
  for (const client::FieldProblem& f : error.fields) {
    if (fields_.count(f.field)) {
      showFieldError(f.field, f.message);
      worker_error_keys_.insert(f.field);
    } else {
      unplaced << f.message;
    }
  }
  QString text = tr("%1: %2").arg(what, error.message);
  if (!unplaced.isEmpty()) text += "\n" + unplaced.join("\n");
  message_->setText(text);
}

void LaunchPanel::onStarted(const client::Reply<client::Started>& r, const QString& what,
                            bool continued) {
  if (!r.ok()) return showWorkerErrors(r.error, what);
  const QString run = r.value.run;
  current_ = run;
  const int row = rowOf(run, true);
  runs_->item(row, kState)->setText("running");
  runs_->selectRow(row);
  // A continued run's steps so far are in its run.h5, not in the worker's replay.
  worker_->subscribe(run, continued ? client::WorkerClient::kFromOldest : 1);
  if (continued) {
    message_->setText(tr("Continuing %1 to step %2.").arg(run).arg(r.value.total_steps));
    emit runContinued(run, r.value.dir, r.value.config);
    return;
  }
  message_->setText(tr("Started %1 (%2 steps).").arg(run).arg(r.value.total_steps));
  emit runStarted(run, r.value.dir, r.value.config);
}

void LaunchPanel::onSweep(const client::Sweep& sweep) {
  int row = -1;
  for (int r = 0; r < sweeps_->rowCount(); ++r)
    if (sweeps_->item(r, kSweepId)->text() == sweep.id) row = r;
  if (row < 0) {
    row = sweeps_->rowCount();
    sweeps_->insertRow(row);
    for (int c = 0; c < kSweepColumns; ++c) sweeps_->setItem(row, c, new QTableWidgetItem);
    sweeps_->item(row, kSweepId)->setText(sweep.id);
  }
  int ended = 0;
  QStringList lines;
  for (const client::SweepMember& m : sweep.members) {
    ended += client::run_state_ended(m.state) || m.state == "cancelled";
    lines << QString("%1  %2").arg(m.run.isEmpty() ? m.name : m.run, m.state) +
                 (m.message.isEmpty() ? QString() : "  (" + m.message + ")");
  }
  sweeps_->item(row, kSweepKey)->setText(sweep.key);
  sweeps_->item(row, kSweepRuns)->setText(QString("%1 / %2").arg(ended).arg(sweep.members.size()));
  sweeps_->item(row, kSweepState)->setText(sweep.state);
  for (int c = 0; c < kSweepColumns; ++c) sweeps_->item(row, c)->setToolTip(lines.join("\n"));
  // Its started runs join the run table and stream their progress; a sweep
  // launched from this panel is also followed in the dashboard, run by run.
  for (const client::SweepMember& m : sweep.members) {
    if (m.run.isEmpty()) continue;
    const int run_row = rowOf(m.run, true);
    if (runs_->item(run_row, kState)->text().isEmpty())
      runs_->item(run_row, kState)->setText(m.state);
    // Once per run, even one that started and ended between two messages
    // (its replay buffer still has every step).
    if (!sweep_runs_seen_.insert(m.run).second) continue;
    if (!client::run_state_live(m.state) && !followed_sweeps_.count(sweep.id)) continue;
    worker_->subscribe(m.run);
    if (followed_sweeps_.count(sweep.id)) {
      current_ = m.run;
      runs_->selectRow(run_row);
      message_->setText(tr("Sweep %1: started %2 (%3 of %4).")
                            .arg(sweep.id, m.run)
                            .arg(&m - sweep.members.data() + 1)
                            .arg(sweep.members.size()));
      emit runStarted(m.run, m.dir, {});
    }
  }
  updateControls();
}

void LaunchPanel::cancelSelectedSweep() {
  const auto rows = sweeps_->selectionModel()->selectedRows();
  if (rows.isEmpty()) {
    message_->setText(tr("Select a sweep first."));
    return;
  }
  const QString id = sweeps_->item(rows.front().row(), kSweepId)->text();
  worker_->cancelSweep(id, this, [this, id](const client::Reply<client::Sweep>& r) {
    if (!r.ok()) {
      message_->setText(tr("Sweep %1 was not cancelled: %2").arg(id, r.error.message));
      return;
    }
    message_->setText(tr("Sweep %1 cancelled: its queued runs will not start.").arg(id));
    onSweep(r.value);
  });
}

void LaunchPanel::refreshSweeps() {
  worker_->listSweeps(this, [this](const client::Reply<std::vector<client::Sweep>>& r) {
    if (!r.ok()) return;
    for (const client::Sweep& s : r.value) onSweep(s);
  });
}

void LaunchPanel::onConnected(const client::ServerInfo& info) {
  // The run table belongs to the connected worker: another worker's runs go
  // (a reconnect to the same one keeps them).
  if (worker_->url() != runs_url_) {
    runs_->setRowCount(0);
    progress_by_run_.clear();
    current_.clear();
    sweeps_->setRowCount(0);  // the sweeps are the old worker's; they go on there
    followed_sweeps_.clear();
    sweep_runs_seen_.clear();
    runs_url_ = worker_->url();
    updateProgress();
  }
  runs_worker_->setText(tr("Runs on %1 (%2)").arg(runs_url_.toString(), info.runs_dir));
  setDevices(info.devices, info.cuda_problem);
  // Offer the worker's presets too (a remote worker may have others).
  for (const QString& p : info.presets) {
    if (preset_->findText(p) < 0) preset_->addItem(p);
  }
  refreshRuns();
  refreshSweeps();
}

void LaunchPanel::refreshRuns() {
  worker_->listRuns(this, [this](const client::Reply<std::vector<client::RunEntry>>& r) {
    if (!r.ok()) return;
    for (const client::RunEntry& e : r.value) {
      const int row = rowOf(e.name, true);
      QTableWidgetItem* state = runs_->item(row, kState);
      state->setText(e.state);
      if (e.step >= 0) {
        runs_->item(row, kStep)->setText(QString::number(e.step));
      } else if (!e.checkpoints.empty()) {
        runs_->item(row, kStep)->setText(QString::number(e.checkpoints.back()));
      }
      // A run that is not training: where its summary.json says it stood
      // (its end, or its last checkpoint when its writer died).
      if (client::run_state_live(e.state) || e.summary_status.isEmpty()) continue;
      if (e.state == "stored") {  // not started by this worker process
        const QString status = e.summary_status.section(':', 0, 0);
        state->setText(status == "running" ? tr("interrupted") : status);
        state->setToolTip(
            status == "running"
                ? tr("Not started by this worker; it was still training at its last checkpoint "
                     "(step %1) when its process ended. Continue resumes it from there.")
                      .arg(e.summary_step)
                : tr("Not started by this worker process: %1").arg(e.summary_status));
      }
      runs_->item(row, kStep)
          ->setText(QString("%1 / %2").arg(e.summary_step).arg(e.summary_total_steps));
      // The training loss, as the column shows for a live run; the last
      // validation loss beside it in the tooltip.
      const double loss = std::isnan(e.summary_loss) ? e.summary_val_loss : e.summary_loss;
      if (!std::isnan(loss)) {
        QTableWidgetItem* cell = runs_->item(row, kLoss);
        cell->setText(QString::number(loss, 'f', 3));
        cell->setToolTip(std::isnan(e.summary_val_loss)
                             ? tr("training loss of the last step")
                             : tr("training loss of the last step; validation loss %1")
                                   .arg(e.summary_val_loss, 0, 'f', 3));
      }
    }
  });
}

int LaunchPanel::rowOf(const QString& run, bool create) {
  for (int r = 0; r < runs_->rowCount(); ++r)
    if (runs_->item(r, kRun)->text() == run) return r;
  if (!create) return -1;
  const int r = runs_->rowCount();
  runs_->insertRow(r);
  for (int c = 0; c < kColumns; ++c)
    runs_->setItem(r, c, new QTableWidgetItem(c == kRun ? run : ""));
  return r;
}

QString LaunchPanel::selectedRun() const {
  const auto rows = runs_->selectionModel()->selectedRows();
  return rows.isEmpty() ? QString() : runs_->item(rows.front().row(), kRun)->text();
}

void LaunchPanel::control(client::RunControl what) {
  const QString run = selectedRun();
  if (run.isEmpty()) {
    message_->setText(tr("Select a run first."));
    return;
  }
  worker_->control(
      what, run, this, [this, run, what](const client::Reply<client::RunControlled>& r) {
        if (r.ok()) {
          const int row = rowOf(run, false);
          if (row >= 0) runs_->item(row, kState)->setText(r.value.state);
          message_->setText(tr("%1: %2").arg(run, r.value.state));
        } else {
          message_->setText(
              tr("%1 %2: %3").arg(client::run_control_type(what), run, r.error.message));
        }
      });
}

void LaunchPanel::showProgress(const QString& run) {
  const RunProgress& p = progress_by_run_[run];
  const int row = rowOf(run, true);
  if (p.step >= 0)
    runs_->item(row, kStep)->setText(QString("%1 / %2").arg(p.step).arg(p.total_steps));
  if (!std::isnan(p.loss)) runs_->item(row, kLoss)->setText(QString::number(p.loss, 'f', 3));
  if (!std::isnan(p.tokens_per_s))
    runs_->item(row, kTokens)->setText(QString::number(qint64(p.tokens_per_s)));
  if (!std::isnan(p.eta_s)) runs_->item(row, kEta)->setText(duration_text(p.eta_s));
  updateProgress();
}

void LaunchPanel::onRunState(const QString& run, const client::RunState& state) {
  RunProgress& p = progress_by_run_[run];
  p.state = state.state;
  p.step = state.step;
  p.total_steps = state.total_steps;
  const int row = rowOf(run, true);
  QTableWidgetItem* cell = runs_->item(row, kState);
  cell->setText(state.state);
  if (!state.message.isEmpty()) cell->setToolTip(state.message);
  if (client::run_state_ended(state.state)) {
    p.eta_s = NAN;  // nothing left to wait for
    runs_->item(row, kEta)->setText(QString());
  }
  showProgress(run);
}

void LaunchPanel::onTelemetry(const client::TelemetryBatch& batch) {
  if (batch.progress.empty()) return;
  RunProgress& p = progress_by_run_[batch.run];
  p.step = batch.progress.step;
  p.total_steps = batch.progress.total_steps;
  p.loss = batch.progress.loss;
  p.tokens_per_s = batch.progress.tokens_per_s;
  p.eta_s = batch.progress.eta_s;
  showProgress(batch.run);
}

void LaunchPanel::updateControls() {
  // Pause, resume and stop only where they can act: on a live run of this
  // worker (a stored or ended run would only be refused).
  if (!continue_) return;  // still being built (continue_ comes last)
  const QString run = selectedRun();
  const int row = run.isEmpty() ? -1 : rowOf(run, false);
  const QString state = row < 0 ? QString() : runs_->item(row, kState)->text();
  pause_->setEnabled(state == "running");
  resume_->setEnabled(state == "paused");
  stop_->setEnabled(client::run_state_live(state));
  // Continue: a run of this worker that is not training; by default twice as
  // far as it got.
  const bool can_continue = !state.isEmpty() && !client::run_state_live(state) &&
                            worker_->state() == client::WorkerClient::State::Connected;
  continue_->setEnabled(can_continue);
  // The step cell reads "12" or "12 / 40".
  const int64_t step =
      can_continue ? runs_->item(row, kStep)->text().section('/', 0, 0).trimmed().toLongLong() : -1;
  if (can_continue && (row != continue_row_ || step != continue_step_)) {
    continue_steps_->setMinimum(int(std::min<int64_t>(step + 1, continue_steps_->maximum())));
    continue_steps_->setValue(
        int(std::min<int64_t>(std::max<int64_t>(2 * step, step + 1), continue_steps_->maximum())));
  }
  continue_row_ = can_continue ? row : -1;
  continue_step_ = step;
  const auto sweep_rows = sweeps_->selectionModel()->selectedRows();
  cancel_sweep_->setEnabled(!sweep_rows.isEmpty() &&
                            sweeps_->item(sweep_rows.front().row(), kSweepState)->text() ==
                                "running");
}

void LaunchPanel::updateProgress() {
  QString run = selectedRun();
  if (run.isEmpty()) run = current_;
  auto it = progress_by_run_.find(run);
  if (it == progress_by_run_.end()) {
    progress_->setRange(0, 1);
    progress_->setValue(0);
    // A run only listed (not followed live here): what its row says.
    const int row = run.isEmpty() ? -1 : rowOf(run, false);
    const QString state = row < 0 ? QString() : runs_->item(row, kState)->text();
    progress_text_->setText(
        run.isEmpty() ? tr("No run yet")
        : state.isEmpty()
            ? tr("%1: no progress yet").arg(run)
            : tr("%1  step %2  -  %3").arg(run, runs_->item(row, kStep)->text(), state));
    return;
  }
  const RunProgress& p = it->second;
  const qint64 total = std::max<qint64>(1, p.total_steps);
  const qint64 step = std::max<qint64>(0, p.step);
  progress_->setRange(0, int(total));
  progress_->setValue(int(std::min(step, total)));
  progress_->setFormat(QString("%1: %p%").arg(run));
  QString text = tr("%1  step %2 / %3").arg(run).arg(step).arg(total);
  if (!std::isnan(p.tokens_per_s)) text += tr("  -  %1 tokens/s").arg(qint64(p.tokens_per_s));
  if (!std::isnan(p.eta_s)) text += tr("  -  ETA %1").arg(duration_text(p.eta_s));
  if (!p.state.isEmpty()) text += "  -  " + p.state;
  progress_text_->setText(text);
}

}  // namespace dlab::gui
