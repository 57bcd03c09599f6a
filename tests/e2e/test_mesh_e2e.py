"""The whole mesh as `make up` starts it (default ports, every service), driven the way a user
drives it: `make demo`'s script, then the `cobol` CLI's submit / status / fetch."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from corpora import CORPORA, ROOT

MESH = [sys.executable, str(ROOT / "scripts" / "mesh.py")]
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mesh(infra):
    up = subprocess.run([*MESH, "up"], cwd=ROOT, capture_output=True, text=True)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield
    finally:
        subprocess.run([*MESH, "down", "--keep-infra"], cwd=ROOT, capture_output=True)


def _cli(*args, env=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "cobol_codec.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, env=env, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr.decode()
    return proc


def test_demo_round_trips_rest_and_kafka(mesh):
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "round trip byte-exact" in proc.stdout
    assert "records back in order: yes" in proc.stdout


def test_cli_submit_status_fetch(mesh, tmp_path):
    env = os.environ | {"COBOL_USER": "admin", "COBOL_API_URL": f"http://127.0.0.1:{8000 + int(os.environ.get('COBOL_PORT_OFFSET') or 0)}",
                        "COBOL_PASSWORD": (ROOT / ".data" / "admin-password").read_text().strip(),
                        "HOME": str(tmp_path)}
    src = CORPORA / "loghub" / "Apache_2k.log"
    job = json.loads(_cli("submit", src, "--profile", "max", "--wait", "--json", env=env).stdout)
    job_id = job["id"]
    status = json.loads(_cli("status", job_id, "--json", env=env).stdout)
    assert status["status"] == "done" and status["bytes_in"] == src.stat().st_size
    packed = tmp_path / "apache.cobol"
    _cli("fetch", job_id, "-o", packed, env=env)
    restored = tmp_path / "apache.log"
    _cli("decompress", packed, "-o", restored)
    assert restored.read_bytes() == src.read_bytes()
    original = tmp_path / "original.log"
    _cli("fetch", job_id, "-o", original, "--original", env=env)
    assert original.read_bytes() == src.read_bytes()
    wrong = _cli("status", "no-such-job", env=env, check=False)
    assert wrong.returncode != 0 and b"not found" in wrong.stderr.lower()


def _status() -> str:
    return subprocess.run([*MESH, "status"], cwd=ROOT, capture_output=True, text=True).stdout


def test_supervisor_restarts_a_crashed_service_and_says_so(mesh):
    import signal
    import time
    run = ROOT / ".run"
    old = int((run / "compressor-1.pid").read_text())
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 60

    def state() -> tuple[str, str]:
        line = next((x for x in _status().splitlines() if x.startswith("compressor-1 ")), "")
        words = line.split()
        return line, words[words.index("pid") + 1] if "pid" in words else ""
    line, pid = state()
    while time.monotonic() < deadline and not (" ready " in line and pid not in ("", str(old))):
        time.sleep(0.5)                      # poll the condition: a new, ready process
        line, pid = state()
    assert " ready " in line and pid != str(old) and "restarted" in line, line
    restarts = json.loads((run / "supervisor.json").read_text())
    assert restarts["compressor-1"]["restarts"] >= 1
    assert "restarted compressor-1" in (run / "supervisor.log").read_text()


def test_scale_workers_up_and_down(mesh):
    up = subprocess.run([*MESH, "scale", "compressor", "3"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "compressor: 2 -> 3 instances" in up.stdout and "moved (minimum" in up.stdout
    assert "compressor-3 " in _status()
    down = subprocess.run([*MESH, "scale", "compressor", "2"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "compressor: 3 -> 2 instances" in down.stdout
    assert not (ROOT / ".run" / "compressor-3.pid").exists()
    bad = subprocess.run([*MESH, "scale", "nope", "2"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and "no service 'nope'" in bad.stderr
