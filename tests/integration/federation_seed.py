"""Seeds a running federator's own store (its PostgreSQL schema, through services.federator's
Store) with two trained dictionary versions, a finished training and its rounds, so that the
API and dashboard tests have versions, lineage, patterns and rounds without minutes of
federated training (tests/integration/test_federation_mesh.py runs the real rounds)."""
from __future__ import annotations

import contextlib
import time
import uuid

from corpora import CORPORA


def _train(systems: tuple[str, ...]):
    from cobol_codec import train
    samples = [(CORPORA / "loghub" / f"{s}_2k.log").read_bytes() for s in systems]
    return train(samples, 16 << 10)


def _patterns(d, n: int = 40) -> list[list]:
    """[hex, noisy count, bytes saved] like a release: n distinct pieces of the content."""
    out, seen = [], set()
    content = d.content
    for i in range(0, len(content) - 8, max(1, len(content) // (3 * n))):
        p = content[i:i + 8 + i % 9]
        if p in seen:
            continue
        seen.add(p)
        count = float(5 + (i * 7919) % 400)
        out.append([p.hex(), count, count * (len(p) - 3)])
        if len(out) == n:
            break
    out.append([b"\xff\xfeERROR caf\xc3\xa9".hex(), 3.0, 30.0])   # not UTF-8, and non-ASCII
    return out


def seed(dsn: str, schema: str) -> dict:
    """Two versions (the second trained after the first) of a finished training with three
    rounds: the released ones and a failed one. Returns the ids ("first", "second"), the
training, the rounds and the Dictionary objects by id ("dicts")."""
    from services.federator.store import Store
    first, second = _train(("HDFS", "Zookeeper", "OpenSSH")), _train(("Apache", "Hadoop", "Spark"))
    ids = {"first": f"{first.id:016x}", "second": f"{second.id:016x}"}
    tid = f"tseed-{uuid.uuid4().hex[:6]}"
    now = time.time()
    store = Store(dsn, schema)
    try:
        store.add_training({"id": tid, "started_at": now - 60, "epsilon": 1.0, "delta": 1e-6, "noise_multiplier": 4.2,
                            "clip": 1.0, "max_releases": 3, "parent_id": ""})
        rounds = []
        for level, (did, d) in enumerate(((ids["first"], first), (ids["second"], second))):
            rid = store.open_round(tid, level, 500 + level)
            store.close_round(rid, status="released", invited=5, contributed=4, dropped=1,
                              excluded=["node-9 (masked): vector length 3 != 500"], dictionary_id=did,
                              epsilon_spent=0.4 * (level + 1))
            store.add_dictionary({"id": did, "content": d.content, "parent_id": ids["first"] if level else None,
                                  "training_id": tid, "round_id": rid, "status": "candidate", "created_at": now + level,
                                  "patterns": _patterns(d), "epsilon_spent": 0.4 * (level + 1), "delta": 1e-6,
                                  "nodes": 4, "dropped": 1, "agreement": 0.5 + 0.47 * level, "converged": level == 1})
            rounds.append(rid)
        failed = store.open_round(tid, 2, 0)
        store.close_round(failed, status="failed", invited=1, reason="quorum not reached (1 of 2)")
        rounds.append(failed)
        store.update_training(tid, status="finished", releases=2, finished_at=now, last_id=ids["second"],
                              reason="converged")
    finally:
        store.close()
    return {"training_id": tid, "rounds": rounds, **ids, "dicts": {ids["first"]: first, ids["second"]: second}}


@contextlib.contextmanager
def seeded_stack(infra: dict, tmp):
    """The API test mesh (api_harness.MeshProcs, with its federator) and an API, the
    federator's store seeded: yields (mesh, api, seed(...)); everything stopped after."""
    import api_harness as h
    mesh = h.MeshProcs(infra, tmp / "mesh")
    api = None
    try:
        mesh.start_all()
        env = {"COBOL_PG_DSN": infra["postgres"]["dsn"], "COBOL_REDIS_URL": infra["redis"]["url"]}
        env.update({k: v for k, v in mesh.env.items() if k.endswith("_ADDR") or k == "COBOL_JOBS_CHANNEL"})
        api = h.start_api(tmp, extra_env=env, port=mesh.api_port)
        yield mesh, api, seed(infra["postgres"]["dsn"], mesh.env["COBOL_FED_PG_SCHEMA"])
    finally:
        if api is not None:
            h.stop_api(api)
        mesh.stop_all()
