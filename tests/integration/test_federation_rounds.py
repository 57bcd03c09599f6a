"""Rounds of the federator against the real PostgreSQL, with nodes talking real gRPC to an
in-process federator whose clock the test drives (stage deadlines pass without waiting).

Covers: a late joiner and a node leaving mid-round do not block the round; tampered,
replayed, stale and malformed messages are refused and logged; what the federator receives
reveals no node's vector; the budget refuses a release past it.
"""
from __future__ import annotations

import dataclasses
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT, ROOT / "libs" / "federation", ROOT / "libs" / "mesh", ROOT / "libs" / "codec"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from cobol_federation import config, dp, node as fnode, patterns  # noqa: E402
from cobol_federation.client import FederatorClient  # noqa: E402
from cobol_federation.proto import fpb, fpb_grpc  # noqa: E402
from cobol_mesh import grpc_server  # noqa: E402
from cobol_mesh import logging as mlog  # noqa: E402
from services.federator.rounds import Federation  # noqa: E402
from services.federator.server import FederatorServicer  # noqa: E402
from services.federator.store import Store  # noqa: E402
from ports import free_port  # noqa: E402,F401  (test_federation_mesh imports it from here)

pytestmark = pytest.mark.integration
LOGHUB = (ROOT / ".." / "shared" / "corpora" / "loghub").resolve()
SYSTEMS = ["HDFS", "Apache", "OpenSSH", "Zookeeper", "Hadoop", "Spark"]


class Rig:
    def __init__(self, infra, **overrides) -> None:
        self.schema = "fedt" + uuid.uuid4().hex[:10]
        self.dsn = infra["postgres"]["dsn"]
        base = dict(min_nodes=3, stage_seconds=30, join_grace=1, max_releases=3, pg_schema=self.schema, keep=256,
                    promote="manual", round_pause=0, training_interval=1e9)
        self.cfg = dataclasses.replace(config.load(), **(base | overrides))
        self.store = Store(self.dsn, self.schema)
        self.store.migrate()
        self.published = []
        self.fed = Federation(self.store, self.cfg, Ed25519PrivateKey.generate(), self.published.append,
                              mlog.get("test.federation"))
        self.received: list[bytes] = []
        real_submit = self.fed.submit

        def recording_submit(env):
            self.received.append(env.SerializeToString())
            return real_submit(env)
        self.fed.submit = recording_submit
        self.addr = f"127.0.0.1:{free_port()}"
        self.server = grpc_server.Server(self.addr, identity="federator")   # in-process, as the federator
        self.server.add(fpb_grpc.add_FederatorServicer_to_server, FederatorServicer(self.fed), "cobol.v1.Federator")
        self.server.start()
        self.client = FederatorClient(self.addr)
        self.clock = time.time()
        self.nodes: dict[str, fnode.Participant] = {}

    def add_node(self, name: str, system: str) -> fnode.Participant:
        sample = fnode.RecordSample(4000)
        sample.add((LOGHUB / f"{system}_2k.log").read_bytes())
        n = fnode.Participant(name, Ed25519PrivateKey.generate(), self.client.stub, sample)
        self.nodes[name] = n
        return n

    def tick(self, seconds: float = 0.5) -> None:
        self.clock += seconds
        self.fed.tick(self.clock)

    def run(self, active, until, limit: int = 400, seconds: float = 0.5):
        for _ in range(limit):
            for name in list(active() if callable(active) else active):
                self.nodes[name].step()
            self.tick(seconds)
            if until():
                return
        raise AssertionError("the condition was not reached")

    def next_round(self) -> int:
        for _ in range(10):
            if self.fed.round is not None:
                return self.fed.round.id
            self.tick(0.5)
        raise AssertionError("no round opened")

    def round(self, rid: int) -> fpb.RoundInfo:
        return next(r for r in self.client.rounds(100) if r.round_id == rid)

    def close(self) -> None:
        self.client.close()
        self.server.stop(0)
        self.store.close()
        with psycopg.connect(self.dsn, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {self.schema} CASCADE")


@pytest.fixture
def rig(infra):
    rigs = []

    def make(**kw) -> Rig:
        r = Rig(infra, **kw)
        rigs.append(r)
        return r
    yield make
    for r in rigs:
        r.close()


def closed(rig: Rig, rid: int):
    return lambda: any(r.round_id == rid and r.status in ("released", "failed") for r in rig.client.rounds(10))


def test_late_joiner_and_leaver_do_not_block_the_round(rig):
    r = rig()
    for i, system in enumerate(SYSTEMS):
        r.add_node(f"node-{i + 1}", system)
    late, leaver = "node-6", "node-5"
    rid = r.next_round()

    def active():
        names = [f"node-{i}" for i in range(1, 6)]
        if r.fed.round and r.fed.round.stage != "advertise":
            names.append(late)                       # joins after the keys were collected
        if "shares" in r.nodes[leaver].done:
            names.remove(leaver)                     # leaves after sharing its keys
        return names
    r.run(active, closed(r, rid))
    info = r.round(rid)
    assert info.status == "released", info.reason
    assert (info.invited, info.contributed, info.dropped) == (5, 4, 1)
    assert r.nodes[late].done == set()               # it never took part in round 1
    # the late node is in the next round; the leaver is gone and does not block it
    rid2 = r.next_round()
    r.run([f"node-{i}" for i in (1, 2, 3, 4, 6)], closed(r, rid2))
    info2 = r.round(rid2)
    assert info2.status == "released", info2.reason
    assert info2.contributed == 5 and info2.dropped == 0
    assert "masked" in r.nodes[late].done


def test_tampered_replayed_stale_and_malformed_messages_are_refused(rig):
    r = rig()
    for i, system in enumerate(SYSTEMS[:5]):
        r.add_node(f"node-{i + 1}", system)
    bad = r.nodes["node-5"]
    real_masked = fnode.SecAggClient.masked_input

    def short_vector(self, x, shares, u2):
        m = real_masked(self, x, shares, u2)
        if self.node_id == "node-5":
            m.vector = m.vector[:-8]                 # a malformed contribution, properly signed
        return m
    fnode.SecAggClient.masked_input = short_vector
    try:
        rid = r.next_round()
        r.run(list(r.nodes), closed(r, rid))
    finally:
        fnode.SecAggClient.masked_input = real_masked
    info = r.round(rid)
    assert info.status == "released", info.reason
    assert info.contributed == 4 and info.dropped == 1
    assert any(e.startswith("node-5 (masked)") and "expected" in e for e in info.excluded)
    assert bad.client is None                        # the node saw its refusal

    envs = [fpb.SignedEnvelope.FromString(b) for b in r.received]
    sent = next(e for e in envs if e.node_id == "node-1" and e.stage == "advertise")
    # a message of a finished round (stale) and a replay of it: refused
    ack = r.client.stub.Submit(sent)
    assert not ack.accepted and "not the open round" in ack.reason
    # in the open round: a replayed advertisement, and tampered copies
    rid2 = r.next_round()
    r.run(["node-1"], lambda: "advertise" in r.nodes["node-1"].done and r.nodes["node-1"].round == rid2, limit=20)
    fresh = fpb.SignedEnvelope.FromString(r.received[-1])
    assert fresh.round_id == rid2 and fresh.stage == "advertise"
    ack = r.client.stub.Submit(fresh)
    assert not ack.accepted and "replayed" in ack.reason
    for field, value in (("payload", fresh.payload[:-1] + bytes([fresh.payload[-1] ^ 1])), ("node_id", "node-2"),
                         ("signature", bytes(64))):
        t = fpb.SignedEnvelope()
        t.CopyFrom(fresh)
        setattr(t, field, value)
        t.nonce = bytes(range(16))
        ack = r.client.stub.Submit(t)
        assert not ack.accepted and ("signature" in ack.reason or "another node" in ack.reason), ack.reason
    assert len(r.fed.round.server.keys) == 1         # nothing refused changed the round


def test_nothing_the_federator_receives_reveals_a_node_vector(rig, monkeypatch):
    r = rig()
    for i, system in enumerate(SYSTEMS[:4]):
        r.add_node(f"node-{i + 1}", system)
    plain: list[np.ndarray] = []
    real_counts, real_noisy = patterns.local_counts, patterns.noisy_vector

    def counts(*a, **kw):
        c = real_counts(*a, **kw)
        plain.append(c.astype(np.uint64))
        return c

    def noisy(*a, **kw):
        x = real_noisy(*a, **kw)
        plain.append(x)
        return x
    monkeypatch.setattr(fnode.patterns, "local_counts", counts)
    monkeypatch.setattr(fnode.patterns, "noisy_vector", noisy)
    rid = r.next_round()
    r.run(list(r.nodes), closed(r, rid))
    assert r.round(rid).status == "released"
    assert len(plain) == 8
    wire = b"".join(r.received)
    masked = [fpb.NodeMasked.FromString(e.payload) for e in map(fpb.SignedEnvelope.FromString, r.received)
              if e.stage == "masked"]
    assert len(masked) == 4
    for v in plain:
        raw = v.astype("<u8").tobytes()
        assert raw[:4096] not in wire and raw[-4096:] not in wire
        for m in masked:
            y = np.frombuffer(m.vector, dtype="<u8")
            assert np.mean(y == v) < 0.001
    for m in masked:
        y = np.frombuffer(m.vector, dtype="<u8")
        assert 0.45 < (y >> np.uint64(63)).mean() < 0.55   # plain counts and noise are far below 2^63
    for name, n in r.nodes.items():                        # no record crosses the wire either
        rec = n.sample.frozen[next(iter(n.sample.frozen))][0]
        assert rec[:24] not in wire


def test_budget_refuses_a_release_past_it(rig):
    r = rig(max_releases=2)
    for i, system in enumerate(SYSTEMS[:3]):
        r.add_node(f"node-{i + 1}", system)
    rid = r.next_round()
    r.run(list(r.nodes), closed(r, rid))
    b = r.client.budget()
    assert b.releases == 1 and not b.exhausted and 0 < b.epsilon_spent < 1.0
    assert abs(b.noise_multiplier - dp.calibrate(1.0, 1e-6, 2)) < 1e-9
    # an operator (or a crash-recovered ledger) finds the budget spent: no further release
    r.fed.accountant.releases = 2
    with pytest.raises(dp.BudgetExhausted):
        r.fed.accountant.charge()
    r.tick(0.5)
    b = r.client.budget()
    assert b.exhausted and b.status == "finished" and "budget" in b.reason
    assert r.fed.round is None
    assert [x.status for x in r.client.rounds(10)] == ["released"]
