"""The whole scaling simulation, small (root; real Kafka, namespaces, tc): it runs 1 and 2
workers over every chunk, writes its figures beside the model's, and leaves no namespace, veth,
qdisc, broker or worker behind. Slow (a JVM start): run by `make scaling-sim`, not `make test`."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "loadtests")]

import figures  # noqa: E402
from sim_netns import SimNet  # noqa: E402


def test_small_simulation_measures_and_cleans_up(tmp_path):
    out = tmp_path / "figures.jsonl"
    r = subprocess.run([sys.executable, str(ROOT / "loadtests" / "scaling_sim.py"), "--workers", "1,2", "--mib", "4",
                        "--partitions", "4", "--rate-mbit", "80", "--json", str(out)],
                       capture_output=True, text=True, timeout=540, env=os.environ)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "left: nothing" in r.stdout
    figs = figures.load(out)
    sim = {f["labels"]["workers"]: f["value"] for f in figs if f["name"] == "scaling.sim_throughput"}
    model = {f["labels"]["workers"]: f for f in figs if f["name"] == "scaling.sim_model"}
    assert set(sim) == set(model) == {1, 2}
    assert all(v > 0 for v in sim.values())
    # 80 Mbit/s links: the model never predicts more than the links can carry.
    assert all(0 < f["value"] <= 10.0 * f["labels"]["workers"] for f in model.values())
    offset = int(os.environ.get("COBOL_PORT_OFFSET", "0"))
    assert SimNet(offset=offset, nodes=1, rate_mbit=1).leftovers() == []
    assert not (ROOT / ".data" / "scaling-sim").exists()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "scaling_sim.py worker" not in ps and str(ROOT / ".data" / "scaling-sim") not in ps


def test_refuses_bad_arguments():
    for args in (["--workers", "0"], ["--workers", "a"], ["--mib", "0"], ["--rate-mbit", "-1"],
                 ["--corpora", "/nonexistent"]):
        r = subprocess.run([sys.executable, str(ROOT / "loadtests" / "scaling_sim.py"), *args],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "error" in r.stderr, (args, r.stderr)


def test_sigterm_mid_run_stops_the_broker_and_removes_the_namespaces():
    proc = subprocess.Popen([sys.executable, str(ROOT / "loadtests" / "scaling_sim.py"), "--workers", "1,2",
                             "--mib", "4", "--partitions", "4", "--rate-mbit", "8"],
                            stdout=subprocess.PIPE, text=True, env=os.environ)
    try:
        for line in proc.stdout:  # the broker is up and holds the chunks: stop the run now
            if "preloaded" in line:
                break
        else:
            raise AssertionError(f"the run ended before its broker was up ({proc.wait()})")
        proc.terminate()
        assert proc.wait(timeout=120) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    offset = int(os.environ.get("COBOL_PORT_OFFSET", "0"))
    assert SimNet(offset=offset, nodes=1, rate_mbit=1).leftovers() == []
    assert not (ROOT / ".data" / "scaling-sim").exists()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "scaling_sim.py worker" not in ps and str(ROOT / ".data" / "scaling-sim") not in ps
