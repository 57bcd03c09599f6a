"""The federator's state interface in memory, for `cobol federate simulate` only (a
simulation keeps nothing; the mesh's federator always uses store.Store on PostgreSQL)."""
from __future__ import annotations

import itertools
import time


class MemoryStore:
    def __init__(self) -> None:
        self.nodes: dict[str, bytes] = {}
        self.dicts: dict[str, dict] = {}
        self._state = {"current_id": "", "candidate_id": "", "candidate_share": 0.0, "seq": 0, "at": 0.0}
        self.promotions: list[dict] = []
        self.trainings: list[dict] = []
        self._rounds: dict[int, dict] = {}
        self._ids = itertools.count(1)

    def migrate(self) -> None:
        pass

    def close(self) -> None:
        pass

    def pin_node(self, node_id: str, public: bytes) -> bool:
        return self.nodes.setdefault(node_id, public) == public

    def node_key(self, node_id: str):
        return self.nodes.get(node_id)

    def add_dictionary(self, d: dict) -> None:
        if d["id"] not in self.dicts:
            self.dicts[d["id"]] = dict(d, ab_chunks=0, ab_bytes_in=0, ab_bytes_out=0, size=len(d["content"]),
                                       n_patterns=len(d.get("patterns", [])),
                                       saved=sum(p[2] for p in d.get("patterns", [])))

    def dictionary(self, did: str):
        return self.dicts.get(did)

    def content(self, did: str):
        d = self.dicts.get(did)
        return d["content"] if d else None

    def patterns(self, did: str):
        d = self.dicts.get(did)
        return d["patterns"] if d else None

    def dictionaries(self, limit: int) -> list[dict]:
        return sorted(self.dicts.values(), key=lambda d: (-d["created_at"], d["id"]))[:limit]

    def set_status(self, did: str, status: str) -> None:
        self.dicts[did]["status"] = status

    def mark_converged(self, did: str) -> None:
        self.dicts[did]["converged"] = True

    def add_usage(self, did: str, chunks: int, bytes_in: int, bytes_out: int) -> None:
        if did in self.dicts:
            d = self.dicts[did]
            d["ab_chunks"] += chunks
            d["ab_bytes_in"] += bytes_in
            d["ab_bytes_out"] += bytes_out

    def state(self) -> dict:
        return dict(self._state)

    def set_state(self, current_id, candidate_id, share, action=None, subject="", previous="") -> dict:
        self._state.update(current_id=current_id, candidate_id=candidate_id, candidate_share=share,
                           seq=self._state["seq"] + 1, at=time.time())
        if action:
            self.promotions.append({"dictionary_id": subject, "previous_id": previous, "action": action})
        return self.state()

    def promoted_over(self, did: str):
        for p in reversed(self.promotions):
            if p["dictionary_id"] == did and p["action"] == "promote":
                return p["previous_id"]
        return None

    def training(self):
        return dict(self.trainings[-1]) if self.trainings else None

    def add_training(self, t: dict) -> None:
        self.trainings.append(dict(t, finished_at=None, releases=0, level=0, found={}, last_id="",
                                   status="running", reason=""))

    def update_training(self, tid: str, **cols) -> None:
        for t in self.trainings:
            if t["id"] == tid:
                t.update(cols)

    def open_round(self, training_id: str, level: int, candidates: int) -> int:
        rid = next(self._ids)
        self._rounds[rid] = {"id": rid, "training_id": training_id, "level": level, "status": "open",
                             "opened_at": time.time(), "closed_at": None, "invited": 0, "contributed": 0,
                             "dropped": 0, "excluded": [], "dictionary_id": "", "epsilon_spent": 0.0,
                             "reason": "", "candidates": candidates}
        return rid

    def close_round(self, rid: int, **cols) -> None:
        cols.setdefault("closed_at", time.time())
        self._rounds[rid].update(cols)

    def fail_open_rounds(self, reason: str) -> None:
        pass

    def rounds(self, limit: int) -> list[dict]:
        return [dict(r) for r in sorted(self._rounds.values(), key=lambda r: -r["id"])[:limit]]
