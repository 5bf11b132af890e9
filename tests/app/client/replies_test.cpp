// The typed replies and request bodies of dlab_client on their own: the
// envelopes of docs/protocol.md in, structs out (and back), errors with their
// fields, a reply of the wrong type.
#include "replies.h"

#include <gtest/gtest.h>

#include <QJsonArray>
#include <QJsonDocument>
#include <cmath>

namespace dlab::test {
namespace {

QJsonObject parse(const char* text) { return QJsonDocument::fromJson(text).object(); }

TEST(ClientReplies, AnErrorCarriesItsCodeMessageAndFields) {
  const QJsonObject m = parse(R"j({"v":1,"type":"error","id":5,"body":{"code":"invalid_config",
      "message":"the config is not valid (see fields)",
      "fields":[{"field":"model.n_heads","message":"model.n_heads=3 must divide 32"},
                {"field":"","message":"something else"}]}})j");
  const auto r = client::started_parse(m);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error.code, "invalid_config");
  EXPECT_EQ(r.error.message, "the config is not valid (see fields)");
  ASSERT_EQ(r.error.fields.size(), 2u);
  EXPECT_EQ(r.error.fields[0].field, "model.n_heads");
  EXPECT_EQ(r.error.fields[0].message, "model.n_heads=3 must divide 32");
  EXPECT_EQ(r.error.fields[1].field, "");
}

TEST(ClientReplies, AReplyOfAnotherTypeIsAnError) {
  const auto r = client::evaluation_parse(parse(R"j({"v":1,"type":"ok","id":2,"body":{}})j"));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error.code, "unexpected_reply");
  EXPECT_TRUE(r.error.message.contains("evaluation")) << r.error.message.toStdString();
}

TEST(ClientReplies, StartedEvaluationAndRunsAreRead) {
  const auto s = client::started_parse(parse(R"j({"v":1,"type":"started","id":5,"run":"tiny-2",
      "body":{"dir":"runs/tiny-2","total_steps":40,"ranks":2,"config":{"train":{"steps":40}}}})j"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.value.run, "tiny-2");
  EXPECT_EQ(s.value.dir, "runs/tiny-2");
  EXPECT_EQ(s.value.total_steps, 40);
  EXPECT_EQ(s.value.ranks, 2);
  EXPECT_EQ(s.value.config.value("train").toObject().value("steps").toInt(), 40);

  const auto e = client::evaluation_parse(parse(R"j({"v":1,"type":"evaluation","id":9,
      "run":"tiny","body":{"checkpoint_step":40,"samples":16,"loss":3.41,"base_loss":2.87,
      "delta_loss":0.54,"hidden_change":[0.0,0.0,0.62],"plan":"skip 1"}})j"));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value.checkpoint_step, 40);
  EXPECT_EQ(e.value.samples, 16);
  EXPECT_DOUBLE_EQ(e.value.loss, 3.41);
  EXPECT_DOUBLE_EQ(e.value.base_loss, 2.87);
  EXPECT_DOUBLE_EQ(e.value.delta_loss, 0.54);
  EXPECT_EQ(e.value.hidden_change, (std::vector<double>{0.0, 0.0, 0.62}));

  const auto runs = client::runs_parse(parse(R"j({"v":1,"type":"runs","id":3,"body":{"runs":[
      {"name":"a","checkpoints":[20,40],"state":"finished","step":40,"ranks":1},
      {"name":"b","checkpoints":[],"state":"stored"}]}})j"));
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs.value.size(), 2u);
  EXPECT_EQ(runs.value[0].checkpoints, (std::vector<int64_t>{20, 40}));
  EXPECT_EQ(runs.value[0].step, 40);
  EXPECT_EQ(runs.value[1].step, -1);  // a stored run has no live step
  EXPECT_EQ(client::run_find(runs.value, "b"), &runs.value[1]);
  EXPECT_EQ(client::run_find(runs.value, "c"), nullptr);
}

TEST(ClientReplies, ServerInfoDevicesKeepWhatWasNotSaid) {
  const auto s = client::server_info_parse(parse(R"j({"v":1,"type":"server_info","id":0,"body":{
      "server":"dlab 0.1.0","protocol":1,"runs_dir":"/r","presets":["demo","tiny"],
      "data_dirs":["/r","/data"],"cuda_problem":"LibTorch was built without CUDA",
      "devices":[{"kind":"cpu","name":"cpu","threads":2,"memory_bytes":2.4e10,"usable":true},
                 {"kind":"cuda","name":"cuda:0","model":"NVIDIA H200","memory_bytes":1.5e11,
                  "usable":false,"problem":"no CUDA LibTorch"}]}})j"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.value.server, "dlab 0.1.0");
  EXPECT_EQ(s.value.presets, (QStringList{"demo", "tiny"}));
  EXPECT_EQ(s.value.data_dirs, (QStringList{"/r", "/data"}));
  ASSERT_EQ(s.value.devices.size(), 2u);
  EXPECT_EQ(s.value.devices[0].threads, 2);
  EXPECT_EQ(s.value.devices[0].memory_free_bytes, -1);  // not said
  EXPECT_EQ(s.value.devices[1].model, "NVIDIA H200");
  EXPECT_FALSE(s.value.devices[1].usable);
  EXPECT_EQ(s.value.devices[1].problem, "no CUDA LibTorch");
  EXPECT_EQ(s.value.devices[1].threads, 0);
}

TEST(ClientReplies, RunStateProgressAndAnalysisProgress) {
  const auto st = client::run_state_parse(
      parse(R"j({"state":"diverged","step":12,"total_steps":40,"message":"loss is NaN"})j"));
  EXPECT_EQ(st.state, "diverged");
  EXPECT_EQ(st.step, 12);
  EXPECT_EQ(st.total_steps, 40);
  EXPECT_EQ(st.message, "loss is NaN");
  EXPECT_TRUE(client::run_state_ended(st.state));
  EXPECT_FALSE(client::run_state_ended("paused"));

  const auto p = client::progress_parse(parse(R"j({"step":23,"total_steps":40,"loss":2.91,
      "tokens_per_s":51234.0,"eta_s":1.4})j"));
  EXPECT_FALSE(p.empty());
  EXPECT_EQ(p.step, 23);
  EXPECT_DOUBLE_EQ(p.tokens_per_s, 51234.0);
  EXPECT_TRUE(std::isnan(p.val_loss));  // not in this message
  EXPECT_TRUE(client::progress_parse(QJsonObject()).empty());

  const auto a = client::analysis_progress_parse(parse(
      R"j({"v":1,"type":"analysis_progress","id":4,"body":{"stage":"causal","fraction":0.5}})j"));
  EXPECT_EQ(a.stage, "causal");
  EXPECT_DOUBLE_EQ(a.fraction, 0.5);
}

TEST(ClientReplies, RequestBodiesFollowTheProtocol) {
  client::StartRequest s;
  s.preset = "tiny";
  s.sets = {"train.steps=10"};
  EXPECT_EQ(client::start_body(s),
            (QJsonObject{{"preset", "tiny"}, {"set", QJsonArray{"train.steps=10"}}}));
  client::StartRequest c;
  c.config = QJsonObject{{"train", QJsonObject{{"steps", 3}}}};
  c.ranks = 2;
  EXPECT_EQ(client::start_body(c), (QJsonObject{{"config", c.config}, {"ranks", 2}}));
  EXPECT_EQ(client::continue_body({"train.steps=80"}),
            (QJsonObject{{"set", QJsonArray{"train.steps=80"}}}));
  EXPECT_EQ(client::continue_body({}), QJsonObject{});

  client::EvaluateRequest e;
  e.plan = {client::LayerOp::skip(1), client::LayerOp::swap(0, 2), client::LayerOp::linear(3)};
  e.checkpoint_step = 40;
  const QJsonObject body = client::evaluate_body(e);
  EXPECT_EQ(body.value("plan").toArray(),
            (QJsonArray{QJsonObject{{"op", "skip"}, {"position", 1}},
                        QJsonObject{{"op", "swap"}, {"i", 0}, {"j", 2}},
                        QJsonObject{{"op", "linear"}, {"position", 3}}}));
  EXPECT_EQ(body.value("checkpoint_step").toInteger(), 40);
  EXPECT_FALSE(body.contains("samples"));  // the server's default
  EXPECT_EQ(client::evaluate_body({}).value("plan").toArray(), QJsonArray());  // intact

  EXPECT_EQ(client::layer_op_text(e.plan[0]), "skip 1");
  EXPECT_EQ(client::layer_op_text(e.plan[1]), "swap 0 2");
  EXPECT_EQ(client::layer_op_text(e.plan[2]), "linear 3");

  client::AnalyzeRequest a;
  EXPECT_EQ(client::analyze_body(a), QJsonObject());  // every analysis, newest checkpoint
  a.analyses = {"jacobian"};
  a.samples = 8;
  EXPECT_EQ(client::analyze_body(a),
            (QJsonObject{{"analyses", QJsonArray{"jacobian"}}, {"samples", 8}}));
  client::JacobianRequest j;
  j.position = 2;
  EXPECT_EQ(client::jacobian_body(j), (QJsonObject{{"position", 2}}));
}

}  // namespace
}  // namespace dlab::test
