"""services/api/alerts.py: which cluster changes become WebSocket alerts (pure logic), and the
REST shape of nodes (services/api/clustersvc.py)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
for p in (ROOT, ROOT / "libs" / "mesh"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from cobol_proto import cluster_pb2 as cpb  # noqa: E402

from services.api.alerts import LAG_MIN, LAG_SAMPLES, AlertState  # noqa: E402
from services.api.clustersvc import event_to_dict, node_to_dict  # noqa: E402


def ev(kind: str, instance: str = "compressor-1", reason: str = "") -> dict:
    return event_to_dict(cpb.NodeEvent(seq=1, at=1.0, instance=instance, role="compressor", kind=kind,
                                       status=kind, reason=reason))


def test_node_events_become_alerts():
    a = AlertState()
    down = a.node_event(ev("down", reason="no heartbeat for 4.6 s"))["alert"]
    assert (down["kind"], down["severity"], down["instance"]) == ("node_down", "critical", "compressor-1")
    assert "no heartbeat for 4.6 s" in down["message"]
    assert a.node_event(ev("suspect"))["alert"]["severity"] == "warning"
    back = a.node_event(ev("alive"))["alert"]
    assert back["kind"] == "node_alive" and back["resolved"] is True
    again = a.node_event(ev("restarted", reason="restarted as pid 77"))["alert"]
    assert again["kind"] == "node_alive" and "alive again (restarted as pid 77)" in again["message"]
    assert a.node_event(ev("joined")) is None and a.node_event(ev("left")) is None


def test_a_failed_job_alerts_once():
    a = AlertState()
    assert a.job({"id": "j1", "status": "running"}) is None
    first = a.job({"id": "j1", "status": "failed", "reason": "codec refused chunk 3"})
    assert first["alert"]["kind"] == "job_failed" and "codec refused chunk 3" in first["alert"]["message"]
    assert a.job({"id": "j1", "status": "failed", "reason": "again"}) is None
    assert a.job({"id": "j2", "status": "failed", "reason": None})["alert"]["job_id"] == "j2"


def kafka(under=(), offline=()) -> dict:
    row = lambda t, p, isr: {"topic": t, "partition": p, "leader": 1 if isr else -1, "replicas": [1, 2, 3], "isr": isr}
    return {"available": True, "under_replicated": [row(t, p, [1, 2]) for t, p in under],
            "offline": [row(t, p, []) for t, p in offline]}


def test_under_replicated_partitions_alert_when_they_start_and_end():
    a = AlertState()
    assert a.kafka(kafka()) == []
    start = a.kafka(kafka(under=[("cobol.chunks", 2)]))
    assert [(m["alert"]["kind"], m["alert"]["partition"]) for m in start] == [("under_replicated", 2)]
    assert "[1, 2] of [1, 2, 3]" in start[0]["alert"]["message"]
    assert a.kafka(kafka(under=[("cobol.chunks", 2)])) == []          # still the same: no repeat
    both = a.kafka(kafka(under=[("cobol.chunks", 2)], offline=[("cobol.frames", 0)]))
    assert [m["alert"]["kind"] for m in both] == ["partition_offline"]
    end = a.kafka(kafka())
    assert sorted(m["alert"]["kind"] for m in end) == ["partition_offline", "under_replicated"]
    assert all(m["alert"]["resolved"] for m in end)
    assert a.kafka({"available": False, "under_replicated": [], "offline": []}) == []


def node(lag, status="alive", name="compressor-1") -> dict:
    return {"instance": name, "status": status, "lag": lag}


def test_lag_growing_alerts_once_then_resolves():
    a = AlertState()
    lags = [LAG_MIN + 10 * i for i in range(LAG_SAMPLES + 1)]
    out = [a.lag([node(x)]) for x in lags]
    assert out[:-1] == [[]] * LAG_SAMPLES
    assert out[-1][0]["alert"]["kind"] == "lag_growing" and out[-1][0]["alert"]["lag"] == lags[-1]
    assert a.lag([node(lags[-1] + 50)]) == []                          # still growing: no repeat
    done = a.lag([node(5)])
    assert done[0]["alert"]["resolved"] is True
    # a small lag that grows is no alert; nor is an unknown one, nor a dead node's
    b = AlertState()
    assert all(b.lag([node(x)]) == [] for x in range(1, 10))
    assert b.lag([node(None)]) == [] and b.lag([node(10**6, status="down")]) == []


def test_node_rest_shape_sums_known_lags():
    n = cpb.Node(instance="compressor-1", role="compressor", status="alive", last_heartbeat=1700000000.5,
                 partitions=[cpb.PartitionLoad(topic="t", partition=0, lag=5),
                             cpb.PartitionLoad(topic="t", partition=1, lag=-1),
                             cpb.PartitionLoad(topic="t", partition=2, lag=7)])
    d = node_to_dict(n)
    assert d["lag"] == 12 and d["last_heartbeat"] == "2023-11-14T22:13:20.500000Z"
    assert d["reason"] is None and d["started_at"] is None
    assert node_to_dict(cpb.Node(instance="x", partitions=[cpb.PartitionLoad(topic="t", lag=-1)]))["lag"] is None
