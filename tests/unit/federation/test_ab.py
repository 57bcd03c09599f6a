"""A/B: the compressor sends the configured share of chunks through the candidate (the same
chunk always the same way); the federator compares the arms' ratios and promotes or rejects."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from cobol_codec import Dictionary  # noqa: E402
from cobol_federation import config, ids  # noqa: E402
from cobol_federation.proto import fpb  # noqa: E402
from cobol_mesh import logging as mlog  # noqa: E402
from cobol_mesh.proto import pb  # noqa: E402


@pytest.fixture
def dicts(tmp_path, monkeypatch):
    monkeypatch.setenv("COBOL_FED_KEY_DIR", str(tmp_path))
    monkeypatch.setenv("COBOL_FEDERATOR_ADDR", "127.0.0.1:1")
    from services.compressor.dictionaries import Dictionaries
    import threading
    return Dictionaries("compressor-9", threading.Event())


def test_candidate_gets_its_share_of_chunks(dicts):
    cur, cand = Dictionary(b"current dictionary " * 40), Dictionary(b"candidate dictionary " * 40)
    cur_id, cand_id = ids.to_hex(cur.id), ids.to_hex(cand.id)
    dicts.cache.put(cur)
    dicts.cache.put(cand)
    assert dicts._apply(fpb.DictionaryState(current_id=cur_id, candidate_id=cand_id, candidate_share=0.25, seq=3))
    picks = [dicts.choose(pb.Chunk(job_id=f"job-{i % 50}", seq=i))[1] for i in range(8000)]
    share = picks.count(cand_id) / len(picks)
    assert 0.22 < share < 0.28 and set(picks) == {cur_id, cand_id}
    again = [dicts.choose(pb.Chunk(job_id=f"job-{i % 50}", seq=i))[1] for i in range(8000)]
    assert again == picks                                         # a replayed chunk: same arm
    assert dicts.choose(pb.Chunk(job_id="j", seq=1, dictionary_id="none")) == (None, "")
    assert dicts.choose(pb.Chunk(job_id="j", seq=1, dictionary_id=cand_id)) == (cand, cand_id)
    with pytest.raises(ValueError):
        dicts.choose(pb.Chunk(job_id="j", seq=1, dictionary_id="../../x"))
    dicts.observe(b"a\nb\n", cand_id, 3)
    assert dicts._usage[cand_id] == [1, 4, 3] and dicts.sample.size() == 2


def test_switch_waits_until_every_named_dictionary_is_fetched(dicts):
    st = fpb.DictionaryState(current_id="00000000000000ab", seq=5)
    assert not dicts._apply(st)                  # unreachable federator: keep what it has
    assert dicts.state.seq == 0 and dicts.choose(pb.Chunk(job_id="j", seq=0)) == (None, "")


def _federation(**cfg):
    from services.federator.memstore import MemoryStore
    from services.federator.rounds import Federation
    published = []
    c = dataclasses.replace(config.load(), promote="ab", ab_min_chunks=10, ab_share=0.2, **cfg)
    fed = Federation(MemoryStore(), c, Ed25519PrivateKey.generate(), published.append, mlog.get("t"))
    for name in ("cur", "cand"):
        d = Dictionary(name.encode() * 100)
        fed.store.add_dictionary({"id": ids.to_hex(d.id), "content": d.content, "parent_id": None, "training_id": "t",
                                  "round_id": 1, "status": "interim", "created_at": 0.0, "patterns": [],
                                  "epsilon_spent": 0.5, "delta": 1e-6, "nodes": 2, "dropped": 0, "agreement": 0.0,
                                  "converged": False})
    cur, cand = sorted(fed.store.dicts, key=lambda k: fed.store.dicts[k]["content"] != b"cur" * 100)
    return fed, published, cur, cand


@pytest.mark.parametrize("cand_out,promoted", [(2800, True), (3600, False)])
def test_ab_result_promotes_the_better_version(cand_out, promoted):
    fed, published, cur, cand = _federation()
    fed.promote(cur)
    fed.store.set_state(cur, cand, 0.2)
    fed.report_usage(fpb.UsageReport(node_id="c1", usage=[
        fpb.DictionaryUsage(dictionary_id=cur, chunks=40, bytes_in=10_000, bytes_out=3200)]))
    assert fed.store.state()["candidate_id"] == cand                 # the candidate arm is still too small
    fed.report_usage(fpb.UsageReport(node_id="c2", usage=[
        fpb.DictionaryUsage(dictionary_id=cand, chunks=12, bytes_in=10_000, bytes_out=cand_out)]))
    st = fed.store.state()
    assert st["candidate_id"] == ""
    assert st["current_id"] == (cand if promoted else cur)
    assert fed.store.dictionary(cand)["status"] == ("current" if promoted else "rejected")
    assert published[-1].current_id == st["current_id"] and published[-1].candidate_id == ""
    assert published[-1].seq == st["seq"]


def test_promote_and_rollback_in_the_version_history():
    fed, published, cur, cand = _federation()
    fed.promote(cur)
    fed.promote(cand)
    assert fed.store.dictionary(cur)["status"] == "retired"
    st = fed.rollback(cand)
    assert st.current_id == cur and fed.store.dictionary(cur)["status"] == "current"
    st = fed.rollback(cur)                                            # before cur there was none
    assert st.current_id == "" and published[-1].current_id == ""
    from services.federator.rounds import Refused
    with pytest.raises(Refused):
        fed.rollback(cur)
    with pytest.raises(Refused):
        fed.promote("not-an-id")


def test_garbage_payloads_are_refused_with_a_reason():
    fed, _, _, _ = _federation()
    fed.tick(0.0)                                     # opens a training and its first round
    rid = fed.round.id
    k = Ed25519PrivateKey.generate()
    from cobol_federation import messages
    for stage, payload in (("advertise", b"\xff\xff\xff"), ("masked", b"")):
        ok, reason = fed.submit(messages.seal(k, "node-x", rid, stage, payload))
        assert not ok and reason
    assert fed.round.server.keys == {} and fed.round.excluded


def test_a_failed_broadcast_is_retried_and_the_state_kept():
    fed, published, cur, _ = _federation()
    calls = []

    def flaky(msg):
        calls.append(msg)
        if len(calls) == 1:
            raise RuntimeError("Kafka unreachable")
        published.append(msg)
    fed.broadcast = flaky
    st = fed.promote(cur)
    assert st.current_id == cur and fed.store.state()["current_id"] == cur and fed.unpublished
    fed.round, fed.next_at = None, float("inf")       # nothing else to do in this tick
    fed.tick(0.0)
    assert not fed.unpublished and published[-1].current_id == cur
