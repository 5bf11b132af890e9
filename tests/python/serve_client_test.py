#!/usr/bin/env python3
"""An independent client of `dlab serve`, written from docs/protocol.md only.

Uses Debian's python3-websockets (and python3-h5py, when present, to compare the
stream with run.h5). Shows that the document is enough to write a client:

  1. spawn `dlab serve --listen 127.0.0.1:0 --token-env VAR`, read the listening line;
  2. a wrong token: the connection closes with 1008 "auth_failed..." and nothing is sent;
  3. hello -> server_info; start (preset tiny) -> started; subscribe -> subscribed;
     telemetry (JSON) with per-layer rows, numbered with no gap or duplicate;
  4. stop -> ok "stopping"; run_state "stopped" after the last telemetry;
  5. every streamed row equals the row run.h5 holds for that step.

  serve_client_test.py <path/to/dlab> <scratch dir>
Exit 0 pass, 1 fail, 77 skipped (no python3-websockets).
"""
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time

try:
    import websockets
except ImportError:
    print("SKIP: python3-websockets is not installed (apt-get install python3-websockets)")
    sys.exit(77)

LISTEN_PREFIX = "dlab serve: listening on "
TOKEN = "py-client-token-7f3a"
N_LAYERS = 2  # the tiny preset


def fail(what):
    print("FAIL:", what)
    sys.exit(1)


def spawn_server(dlab, tmp):
    env = dict(os.environ, DLAB_TEST_TOKEN=TOKEN)
    # The session names tmp/cache as data.cache_dir: a client may name only
    # paths inside --runs and the --data folders (docs/protocol.md, "Paths").
    os.makedirs(os.path.join(tmp, "cache"), exist_ok=True)
    proc = subprocess.Popen(
        [dlab, "serve", "--listen", "127.0.0.1:0", "--token-env", "DLAB_TEST_TOKEN",
         "--runs", os.path.join(tmp, "runs"), "--data", os.path.join(tmp, "cache")],
        cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "serve.log"), "w"),
        text=True)
    line = proc.stdout.readline().rstrip("\n")  # the one machine-readable line
    if not line.startswith(LISTEN_PREFIX):
        proc.kill()
        fail(f"expected a line starting {LISTEN_PREFIX!r}, got {line!r} (see {tmp}/serve.log)")
    return proc, line[len(LISTEN_PREFIX):]


def envelope(type_, id_=None, run=None, **body):
    m = {"v": 1, "type": type_, "body": body}
    if id_ is not None:
        m["id"] = id_
    if run is not None:
        m["run"] = run
    return json.dumps(m)


async def recv(ws, timeout=60):
    raw = await asyncio.wait_for(ws.recv(), timeout)
    if isinstance(raw, bytes):
        fail("got a binary (CBOR) frame although hello asked for JSON telemetry")
    return json.loads(raw)


async def expect_reply(ws, id_, type_):
    """The reply to request id_, keeping stream messages that arrive first."""
    stream = []
    while True:
        m = await recv(ws)
        if m.get("id") == id_:
            if m["type"] != type_:
                fail(f"request {id_}: expected {type_}, got {m}")
            return m, stream
        stream.append(m)


async def wrong_token(url):
    async with websockets.connect(url) as ws:
        await ws.send(envelope("hello", 1, token="not-the-token", telemetry="json"))
        try:
            m = await asyncio.wait_for(ws.recv(), 10)
            fail(f"a wrong token got a reply: {m!r}")
        except websockets.exceptions.ConnectionClosed as e:
            if e.code != 1008 or not e.reason.startswith("auth_failed"):
                fail(f"wrong token: close {e.code} {e.reason!r}; expected 1008 auth_failed")
    print("wrong token: closed 1008 auth_failed, nothing sent")


async def session(url, tmp):
    async with websockets.connect(url, max_size=1 << 24) as ws:
        await ws.send(envelope("hello", 1, token=TOKEN, telemetry="json"))
        info, _ = await expect_reply(ws, 1, "server_info")
        if info["body"]["protocol"] != 1 or "tiny" not in info["body"]["presets"]:
            fail(f"server_info: {info['body']}")

        await ws.send(envelope("start", 2, preset="tiny", set=[
            "run.name=py", "train.steps=400", "train.checkpoint_every=1000",
            "data.cache_dir=" + os.path.join(tmp, "cache")]))
        started, _ = await expect_reply(ws, 2, "started")
        run = started["run"]
        run_dir = started["body"]["dir"]

        await ws.send(envelope("subscribe", 3, run=run, from_seq=1))
        _, stream = await expect_reply(ws, 3, "subscribed")

        # Telemetry until some steps have arrived, then stop; read until the final state.
        telemetry, states, stopped_at = [], [], None
        deadline = time.time() + 120
        while time.time() < deadline:
            m = stream.pop(0) if stream else await recv(ws)
            if m["type"] == "telemetry":
                telemetry.append(m)
                if stopped_at is None and m["body"]["steps"] and m["body"]["steps"][-1]["step"] >= 10:
                    await ws.send(envelope("stop", 4, run=run))
                    stopped_at = m["body"]["steps"][-1]["step"]
            elif m["type"] == "ok" and m.get("id") == 4:
                if m["body"].get("state") != "stopping":
                    fail(f"stop reply: {m}")
            elif m["type"] == "run_state":
                states.append(m["body"]["state"])
                if m["body"]["state"] in ("stopped", "finished", "diverged", "failed"):
                    break
            elif m["type"] in ("error", "telemetry_gap", "telemetry_dropped"):
                fail(f"unexpected {m}")
        else:
            fail("no final run_state within 120 s")
        if stopped_at is None:
            fail("the run ended before 10 steps were streamed")
        if states[-1] != "stopped":
            fail(f"final state {states[-1]!r}, expected 'stopped' (states: {states})")

    seqs = [m["seq"] for m in telemetry]
    if seqs != list(range(1, len(seqs) + 1)):
        fail(f"telemetry seq not 1..n without gaps/duplicates: {seqs}")
    rows_by_step = {}
    for m in telemetry:
        for s in m["body"]["steps"]:
            if s["step"] in rows_by_step:
                fail(f"step {s['step']} streamed twice")
            rows_by_step[s["step"]] = s["rows"]
    steps = sorted(rows_by_step)
    if steps != list(range(steps[0], steps[-1] + 1)):
        fail(f"streamed steps have holes: {steps}")
    per_layer = rows_by_step[steps[-1]].get("resid_var")
    if per_layer is None or len(per_layer) != N_LAYERS:
        fail(f"per-layer row resid_var missing or not {N_LAYERS} wide: {per_layer}")
    print(f"streamed {len(telemetry)} telemetry messages, steps {steps[0]}..{steps[-1]}, "
          f"stop at {stopped_at}; states {states}")
    return os.path.join(tmp, run_dir) if not os.path.isabs(run_dir) else run_dir, rows_by_step


def compare_with_h5(run_dir, rows_by_step):
    try:
        import h5py
        import numpy as np
    except ImportError:
        print("note: h5py not available; run.h5 comparison skipped")
        return
    compared = 0
    with h5py.File(os.path.join(run_dir, "run.h5"), "r") as f:
        for name in f["series"]:
            steps = f["series"][name]["step"][:]
            values = f["series"][name]["value"][:]
            file_rows = {int(s): values[i] for i, s in enumerate(steps)}
            for step, rows in rows_by_step.items():
                if name not in rows:
                    continue
                if step not in file_rows:
                    fail(f"{name} step {step} streamed but not in run.h5")
                got = np.asarray(rows[name], dtype=np.float32)
                if not np.array_equal(got, file_rows[step].astype(np.float32), equal_nan=True):
                    fail(f"{name} step {step}: streamed {got} != run.h5 {file_rows[step]}")
                compared += 1
    if compared == 0:
        fail("no streamed row could be compared with run.h5")
    print(f"{compared} streamed rows equal run.h5")


def main():
    dlab, tmp = sys.argv[1], sys.argv[2]
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    proc, url = spawn_server(dlab, tmp)
    try:
        asyncio.run(wrong_token(url))
        run_dir, rows = asyncio.run(session(url, tmp))
        if proc.poll() is not None:
            fail("dlab serve exited during the session")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    compare_with_h5(run_dir, rows)
    print("PASS")


if __name__ == "__main__":
    main()
