#include "replies.h"

#include "protocol/message_types.h"

namespace dlab::client {

namespace msg = protocol::type;

namespace {

QString type_of(const QJsonObject& m) { return m.value("type").toString(); }
QJsonObject body_of(const QJsonObject& m) { return m.value("body").toObject(); }

// The error a message carries when it is not of type `expected`.
RequestError error_of(const QJsonObject& m, const char* expected) {
  const QJsonObject b = body_of(m);
  RequestError e;
  if (type_of(m) == msg::kError) {
    e.code = b.value("code").toString("internal");
    e.message = b.value("message").toString();
    for (const QJsonValue& f : b.value("fields").toArray()) {
      e.fields.push_back(
          {f.toObject().value("field").toString(), f.toObject().value("message").toString()});
    }
  } else {
    e.code = "unexpected_reply";
    e.message = QString("a \"%1\" message where \"%2\" was expected").arg(type_of(m), expected);
  }
  return e;
}

// Reply<T> with the error of `m` when it is not of type `expected`; else
// calls fill(body, value).
template <class T, class Fill>
Reply<T> parse_as(const QJsonObject& m, const char* expected, Fill fill) {
  Reply<T> r;
  if (type_of(m) != expected) {
    r.error = error_of(m, expected);
    return r;
  }
  fill(body_of(m), r.value);
  return r;
}

QStringList strings_of(const QJsonValue& v) {
  QStringList out;
  for (const QJsonValue& s : v.toArray()) out << s.toString();
  return out;
}

void put_if(QJsonObject& body, const char* key, int64_t value, int64_t unset) {
  if (value != unset) body.insert(key, qint64(value));
}

}  // namespace

bool run_state_ended(const QString& s) {
  return s == "stopped" || s == "finished" || s == "diverged" || s == "failed";
}

bool run_state_live(const QString& s) { return s == "running" || s == "paused"; }

const RunEntry* run_find(const std::vector<RunEntry>& runs, const QString& run) {
  for (const RunEntry& r : runs)
    if (r.name == run) return &r;
  return nullptr;
}

const char* run_control_type(RunControl c) {
  switch (c) {
    case RunControl::Stop:
      return msg::kStop;
    case RunControl::Pause:
      return msg::kPause;
    case RunControl::Resume:
      return msg::kResume;
  }
  return msg::kStop;
}

QString layer_op_text(const LayerOp& op) {
  switch (op.kind) {
    case LayerOp::Kind::Skip:
      return QString("skip %1").arg(op.position);
    case LayerOp::Kind::Linear:
      return QString("linear %1").arg(op.position);
    case LayerOp::Kind::Swap:
      return QString("swap %1 %2").arg(op.i).arg(op.j);
  }
  return {};
}

Reply<ServerInfo> server_info_parse(const QJsonObject& m) {
  return parse_as<ServerInfo>(m, msg::kServerInfo, [](const QJsonObject& b, ServerInfo& s) {
    s.server = b.value("server").toString();
    s.runs_dir = b.value("runs_dir").toString();
    s.presets = strings_of(b.value("presets"));
    s.data_dirs = strings_of(b.value("data_dirs"));
    s.cuda_problem = b.value("cuda_problem").toString();
    for (const QJsonValue& v : b.value("devices").toArray()) {
      const QJsonObject d = v.toObject();
      Device dev;
      dev.name = d.value("name").toString();
      dev.kind = d.value("kind").toString();
      dev.model = d.value("model").toString();
      dev.usable = d.value("usable").toBool();
      dev.problem = d.value("problem").toString();
      dev.threads = d.value("threads").toInt();
      dev.memory_bytes = d.value("memory_bytes").toDouble(-1);
      dev.memory_free_bytes = d.value("memory_free_bytes").toDouble(-1);
      s.devices.push_back(dev);
    }
  });
}

Reply<std::vector<RunEntry>> runs_parse(const QJsonObject& m) {
  return parse_as<std::vector<RunEntry>>(
      m, msg::kRuns, [](const QJsonObject& b, std::vector<RunEntry>& runs) {
        for (const QJsonValue& v : b.value("runs").toArray()) {
          const QJsonObject o = v.toObject();
          RunEntry r;
          r.name = o.value("name").toString();
          r.state = o.value("state").toString();
          r.step = o.value("step").toInteger(-1);
          r.ranks = o.value("ranks").toInt(1);
          for (const QJsonValue& c : o.value("checkpoints").toArray())
            r.checkpoints.push_back(c.toInteger());
          if (o.value("summary").isObject()) {
            const QJsonObject s = o.value("summary").toObject();
            r.summary_status = s.value("status").toString();
            r.summary_step = s.value("step").toInteger(-1);
            r.summary_total_steps = s.value("total_steps").toInteger(0);
            r.summary_loss = s.value("loss").isDouble() ? s.value("loss").toDouble() : NAN;
            r.summary_val_loss =
                s.value("val_loss").isDouble() ? s.value("val_loss").toDouble() : NAN;
          }
          runs.push_back(r);
        }
      });
}

Reply<Started> started_parse(const QJsonObject& m) {
  return parse_as<Started>(m, msg::kStarted, [&m](const QJsonObject& b, Started& s) {
    s.run = m.value("run").toString();
    s.dir = b.value("dir").toString();
    s.total_steps = b.value("total_steps").toInteger();
    s.ranks = b.value("ranks").toInt(1);
    s.config = b.value("config").toObject();
  });
}

Reply<RunControlled> run_controlled_parse(const QJsonObject& m) {
  return parse_as<RunControlled>(m, msg::kOk, [](const QJsonObject& b, RunControlled& r) {
    r.state = b.value("state").toString();
  });
}

Reply<Evaluation> evaluation_parse(const QJsonObject& m) {
  return parse_as<Evaluation>(m, msg::kEvaluation, [](const QJsonObject& b, Evaluation& e) {
    e.checkpoint_step = b.value("checkpoint_step").toInteger();
    e.samples = b.value("samples").toInt();
    e.loss = b.value("loss").toDouble(NAN);
    e.base_loss = b.value("base_loss").toDouble(NAN);
    e.delta_loss = b.value("delta_loss").toDouble(NAN);
    for (const QJsonValue& v : b.value("hidden_change").toArray())
      e.hidden_change.push_back(v.toDouble(NAN));
  });
}

Reply<AnalysisResult> analysis_result_parse(const QJsonObject& m) {
  return parse_as<AnalysisResult>(m, msg::kAnalysisResult,
                                  [](const QJsonObject& b, AnalysisResult& a) {
                                    a.checkpoint_step = b.value("checkpoint_step").toInteger();
                                    a.samples = b.value("samples").toInt();
                                    a.stored = b.value("stored").toString();
                                    a.result = b.value("result").toObject();
                                    a.arrays = b.value("arrays").toObject();
                                  });
}

Reply<Jacobian> jacobian_parse(const QJsonObject& m) {
  return parse_as<Jacobian>(m, msg::kJacobian, [](const QJsonObject& b, Jacobian& j) {
    j.checkpoint_step = b.value("checkpoint_step").toInteger();
    j.samples = b.value("samples").toInt();
    j.position = b.value("position").toInt();
    j.jacobian_samples = b.value("jacobian_samples").toInt();
    j.rows = b.value("rows").toInt();
    j.cols = b.value("cols").toInt();
    const QJsonArray values = b.value("values").toArray();
    j.values.reserve(size_t(values.size()));
    for (const QJsonValue& v : values) j.values.push_back(float(v.toDouble(NAN)));
  });
}

AnalysisProgress analysis_progress_parse(const QJsonObject& m) {
  const QJsonObject b = body_of(m);
  return {b.value("stage").toString(), b.value("fraction").toDouble()};
}

RunState run_state_parse(const QJsonObject& b) {
  RunState s;
  s.state = b.value("state").toString();
  s.step = b.value("step").toInteger();
  s.total_steps = b.value("total_steps").toInteger();
  s.message = b.value("message").toString();
  return s;
}

Progress progress_parse(const QJsonObject& p) {
  Progress out;
  if (!p.contains("step")) return out;
  out.step = p.value("step").toInteger();
  out.total_steps = p.value("total_steps").toInteger();
  out.loss = p.value("loss").toDouble(NAN);
  out.val_loss = p.value("val_loss").toDouble(NAN);
  out.lr = p.value("lr").toDouble(NAN);
  out.tokens_per_s = p.value("tokens_per_s").toDouble(NAN);
  out.elapsed_s = p.value("elapsed_s").toDouble(NAN);
  out.eta_s = p.value("eta_s").toDouble(NAN);
  return out;
}

QJsonObject start_body(const StartRequest& r) {
  QJsonObject body;
  if (!r.preset.isEmpty()) {
    body.insert("preset", r.preset);
  } else {
    body.insert("config", r.config);
  }
  if (!r.sets.isEmpty()) body.insert("set", QJsonArray::fromStringList(r.sets));
  if (r.ranks != 1) body.insert("ranks", r.ranks);
  return body;
}

QJsonObject sweep_body(const StartRequest& r, const QString& sweep) {
  QJsonObject body = start_body(r);
  body.insert("sweep", sweep);
  return body;
}

Sweep sweep_parse(const QJsonObject& b) {
  Sweep s;
  s.id = b.value("sweep").toString();
  s.key = b.value("key").toString();
  s.state = b.value("state").toString();
  s.ranks = b.value("ranks").toInt(1);
  for (const QJsonValue& v : b.value("members").toArray()) {
    const QJsonObject o = v.toObject();
    SweepMember m;
    m.name = o.value("name").toString();
    m.value = o.value("value").toString();
    m.state = o.value("state").toString();
    m.run = o.value("run").toString();
    m.dir = o.value("dir").toString();
    m.message = o.value("message").toString();
    s.members.push_back(m);
  }
  return s;
}

Reply<Sweep> sweep_queued_parse(const QJsonObject& m) {
  return parse_as<Sweep>(m, msg::kSweepQueued,
                         [](const QJsonObject& b, Sweep& s) { s = sweep_parse(b); });
}

Reply<std::vector<Sweep>> sweeps_parse(const QJsonObject& m) {
  return parse_as<std::vector<Sweep>>(m, msg::kSweeps,
                                      [](const QJsonObject& b, std::vector<Sweep>& list) {
                                        for (const QJsonValue& v : b.value("sweeps").toArray())
                                          list.push_back(sweep_parse(v.toObject()));
                                      });
}

Reply<Sweep> sweep_cancelled_parse(const QJsonObject& m) {
  return parse_as<Sweep>(m, msg::kOk, [](const QJsonObject& b, Sweep& s) {
    s = sweep_parse(b.value("sweep").toObject());
  });
}

QJsonObject continue_body(const QStringList& sets) {
  QJsonObject body;
  if (!sets.isEmpty()) body.insert("set", QJsonArray::fromStringList(sets));
  return body;
}

QJsonObject evaluate_body(const EvaluateRequest& r) {
  QJsonArray plan;
  for (const LayerOp& op : r.plan) {
    switch (op.kind) {
      case LayerOp::Kind::Skip:
        plan.append(QJsonObject{{"op", "skip"}, {"position", op.position}});
        break;
      case LayerOp::Kind::Linear:
        plan.append(QJsonObject{{"op", "linear"}, {"position", op.position}});
        break;
      case LayerOp::Kind::Swap:
        plan.append(QJsonObject{{"op", "swap"}, {"i", op.i}, {"j", op.j}});
        break;
    }
  }
  QJsonObject body{{"plan", plan}};
  put_if(body, "checkpoint_step", r.checkpoint_step, -1);
  put_if(body, "samples", r.samples, 0);
  return body;
}

QJsonObject analyze_body(const AnalyzeRequest& r) {
  QJsonObject body;
  if (!r.analyses.isEmpty()) body.insert("analyses", QJsonArray::fromStringList(r.analyses));
  put_if(body, "checkpoint_step", r.checkpoint_step, -1);
  put_if(body, "samples", r.samples, 0);
  return body;
}

QJsonObject jacobian_body(const JacobianRequest& r) {
  QJsonObject body{{"position", r.position}};
  put_if(body, "checkpoint_step", r.checkpoint_step, -1);
  put_if(body, "samples", r.samples, 0);
  return body;
}

}  // namespace dlab::client
