"""The Cluster page in headless Chromium against the real mesh and API: SIGKILL a compressor
and the page (never reloaded, live over the WebSocket) shows it `down` within 5 s of the kill,
then `alive` again after a restart; after a job has run, the topology picture's edges show the
rates the analytics worker measured. Screenshots in .run/artifacts/dashboard-cluster/.

The test mesh's coordinator declares a node down 3.5 s after its last heartbeat
(COBOL_DOWN_AFTER_S; the default is 4.5 s, within the issue's "down within 5 s of the last
beat"): the last beat can be up to 1 s older than the kill, and the 5 s deadline here runs
from the kill through the detector, Kafka, the Watch stream, the WebSocket and the page."""
from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from corpora import ROOT

sys.path.insert(0, str(ROOT / "tests" / "integration"))
import api_harness as h  # noqa: E402
from mesh_analytics import start_mesh_analytics  # noqa: E402
from waiting import wait_until  # noqa: E402

pytestmark = pytest.mark.e2e
HERE = ROOT / "tests" / "e2e" / "dashboard"
ARTIFACTS = ROOT / ".run" / "artifacts" / "dashboard-cluster"
VICTIM = "compressor-1"
# a few chunks' worth of log lines (the harness's chunk size is the default 1 MiB)
EDGE_JOB = b"".join(b"2026-11-30T04:%02d:%02d INFO edge-rate request id=%06d served in %d ms\n"
                    % (i // 60 % 60, i % 60, i, i % 997) for i in range(40_000))


@pytest.fixture(scope="module")
def stack(infra, tmp_path_factory):
    if not (ROOT / "dashboard" / "dist" / "index.html").is_file():
        pytest.fail("dashboard/dist is not built: run `make setup` (it runs npm ci and npm run build)")
    tmp = tmp_path_factory.mktemp("dashboard-cluster")
    mesh = h.MeshProcs(infra, tmp / "mesh")
    mesh.env.update({"COBOL_SUSPECT_AFTER_S": "2", "COBOL_DOWN_AFTER_S": "3.5"})
    api = analytics = None
    try:
        mesh.start_all()
        analytics = start_mesh_analytics(mesh, tmp / "analytics", port=50173, metrics_port=9673)
        analytics.wait_ready()
        env = {"COBOL_PG_DSN": infra["postgres"]["dsn"], "COBOL_REDIS_URL": infra["redis"]["url"],
               "COBOL_ANALYTICS_ADDR": analytics.addr}
        env.update({k: v for k, v in mesh.env.items() if k.endswith("_ADDR") or k.startswith("COBOL_TOPIC_")
                    or k in ("COBOL_JOBS_CHANNEL", "COBOL_KAFKA_BOOTSTRAP")})
        api = h.start_api(tmp, extra_env=env)
        yield mesh, api
    finally:
        if api is not None:
            h.stop_api(api)
        if analytics is not None:
            analytics.stop()
        mesh.stop_all()


class Browser:
    """The scenario's process; its stdout lines are read by a thread into a queue, so waiting for
    the next one has a deadline (select() on a buffered pipe would miss lines already read)."""

    def __init__(self, config) -> None:
        self.proc = subprocess.Popen(["node", str(HERE / "cluster_scenario.mjs"), str(config)], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def tell(self, msg: dict) -> None:
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def read(self, want: str, timeout: float) -> dict:
        """The browser's next line, which must be step `want` (its error otherwise)."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the browser said nothing for {timeout}s waiting for {want!r}") from None
        assert line, f"the browser exited ({self.proc.wait(10)}) before {want!r}: {self.proc.stderr.read()[-3000:]}"
        msg = json.loads(line)
        assert msg["step"] == want, msg
        return msg

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def test_a_killed_compressor_shows_down_within_5s_then_alive_after_a_restart(stack, tmp_path):
    mesh, api = stack
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"url": api.url, "admin": {"user": "admin", "password": api.admin_password},
                                  "artifacts": str(ARTIFACTS), "instance": VICTIM}))
    b = Browser(config)
    try:
        b.read("ready", 180)
        killed_at = time.time()
        mesh.procs[VICTIM].send_signal(signal.SIGKILL)
        mesh.procs[VICTIM].wait(10)
        b.tell({"killed_at": int(killed_at * 1000), "instance": VICTIM})
        down = b.read("down", 60)
        assert down["ok"], f"{VICTIM} was not shown down within 5 s of the kill: {down}"
        assert any(VICTIM in a and "down" in a for a in down["alerts"]), down["alerts"]

        mesh.start(VICTIM, "services.compressor", None)
        b.tell({"restarted_at": int(time.time() * 1000)})
        alive = b.read("alive", 120)
        assert alive["ok"], alive
        assert any(VICTIM in a and "alive again" in a for a in alive["alerts"]), alive["alerts"]

        # a job through the mesh: its chunks and frames show up as rates on the picture's edges
        with api.client(api.token()) as c:
            r = c.post("/api/jobs", files={"file": ("edges.log", EDGE_JOB)}, data={"profile": "fast"})
            assert r.status_code == 202, r.text
            job = r.json()["id"]
            wait_until(f"job {job} done", lambda: c.get(f"/api/jobs/{job}").json()["status"] in ("done", "failed"),
                       120, 0.5)
            assert c.get(f"/api/jobs/{job}").json()["status"] == "done"
        b.tell({"job_done_at": int(time.time() * 1000)})
        rates = b.read("rates", 120)
        assert rates["ok"], rates
        chunks, frames = rates["labels"]["cobol.chunks->compressor"], rates["labels"]["compressor->cobol.frames"]
        assert chunks["measured"] == "yes" and "chunks/s" in chunks["text"] and not chunks["text"].startswith("0 B/s"), rates
        assert frames["measured"] == "yes" and "frames/s" in frames["text"], rates
        # nothing measures what ingest writes: said so, never a number
        assert rates["labels"]["ingest->cobol.chunks"] == {"text": "no data", "measured": "no"}, rates
        done = b.read("done", 60)
        print(f"cluster page: {VICTIM} shown down {down['after_ms']} ms after the kill, "
              f"alive {alive['after_ms']} ms after the restart")
        assert done["consoleErrors"] == []
        assert {p.name for p in ARTIFACTS.glob("*.png")} >= {"cluster-alive.png", "cluster-down.png",
                                                             "cluster-alive-again.png", "cluster-rates.png"}
    finally:
        b.close()
