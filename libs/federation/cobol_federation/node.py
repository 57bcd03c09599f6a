"""A node's side of the rounds: its frozen record sample, and one step of the protocol per
poll of the federator. Used by the compressors and by `cobol federate simulate`."""
from __future__ import annotations

import hashlib
import math
import os
import random
import threading
import time

import grpc
import numpy as np

from . import messages, patterns
from .proto import fpb
from .secagg import SecAggClient, SecAggError


def candidates_digest(level: int, candidates) -> bytes:
    h = hashlib.sha256(f"level {level}\0".encode())
    for c in candidates:
        h.update(len(c).to_bytes(2, "big") + c)
    return h.digest()


class RecordSample:
    """A bounded uniform sample (reservoir) of the records a node saw. A training freezes the
    sample at its first round, so the privacy unit's data is fixed for all its rounds, and
    starts the next reservoir empty: a record takes part in one training only.

    Once full, the reservoir jumps straight to the next record it keeps (Li's algorithm L):
    a random draw per kept record, not per record seen, because the compressors feed it every
    line of every chunk (a draw per line cost more than compressing the chunk)."""

    def __init__(self, max_records: int, rng: random.Random | None = None) -> None:
        self.max = max(0, max_records)
        self._rng = rng or random.SystemRandom()
        self._lock = threading.Lock()
        self._restart()
        self.frozen: dict[str, list[bytes]] = {}

    def _restart(self) -> None:
        self._pool: list[bytes] = []
        self._seen = 0              # records offered since the reservoir was last emptied
        self._w = 1.0
        self._next = 0              # index (in _seen's count) of the next record to keep

    def _uniform(self) -> float:
        """In (0, 1): both logarithms below stay finite."""
        while True:
            u = self._rng.random()
            if 0.0 < u < 1.0:
                return u

    def _skip(self) -> None:
        """Choose the next record to keep after the reservoir is full."""
        self._w *= math.exp(math.log(self._uniform()) / self.max)
        gap = math.log(self._uniform()) / math.log1p(-self._w) if self._w < 1.0 else 0.0
        self._next += int(gap) + 1

    def add(self, data: bytes) -> None:
        recs = patterns.split_records(data)
        if not recs or not self.max:
            return
        with self._lock:
            start, end = self._seen, self._seen + len(recs)
            i = start
            while i < end and len(self._pool) < self.max:       # filling: keep every record
                self._pool.append(recs[i - start])
                i += 1
                if len(self._pool) == self.max:
                    self._next = i - 1
                    self._skip()
            while len(self._pool) == self.max and self._next < end:
                self._pool[self._rng.randrange(self.max)] = recs[self._next - start]
                self._skip()
            self._seen = end

    def size(self) -> int:
        with self._lock:
            return len(self._pool)

    def for_training(self, training_id: str) -> list[bytes]:
        with self._lock:
            if training_id not in self.frozen:
                self.frozen = {training_id: self._pool}
                self._restart()
            return self.frozen[training_id]


class Participant:
    """Polls the federator and answers the stage it is in, once per stage per round."""

    def __init__(self, node_id: str, identity, stub, sample: RecordSample, log=None,
                 min_records: int = 1) -> None:
        self.node_id = messages.valid_node_id(node_id)
        self.identity = identity
        self.stub = stub
        self.sample = sample
        self.log = log
        self.min_records = min_records
        self.federator_key: bytes | None = None
        self.round = 0
        self.client: SecAggClient | None = None
        self.done: set[str] = set()
        self.domain: patterns.Domain | None = None
        self.rng = np.random.default_rng(int.from_bytes(os.urandom(16), "big"))
        self.seconds = {"advertise": 0.0, "shares": 0.0, "masked": 0.0, "unmask": 0.0, "count": 0.0}
        self.bytes_sent = 0

    def _note(self, event: str, **kw) -> None:
        if self.log is not None:
            self.log.info(event, node=self.node_id, round=self.round, **kw)

    def _submit(self, stage: str, payload: bytes) -> None:
        env = messages.seal(self.identity, self.node_id, self.round, stage, payload)
        self.bytes_sent += env.ByteSize()
        ack = self.stub.Submit(env, timeout=60)
        self.done.add(stage)
        if not ack.accepted:
            self._note("federation.refused", stage=stage, reason=ack.reason)
            self.client = None

    def step(self) -> str:
        """One poll; returns the stage seen ('' if the federator is unreachable)."""
        try:
            view = self.stub.GetRound(fpb.RoundViewRequest(node_id=self.node_id, known_round=self.round), timeout=30)
        except grpc.RpcError:
            return ""
        pub = bytes.fromhex(view.federator_key) if len(view.federator_key) == 64 else b""
        if self.federator_key is None:
            self.federator_key = pub          # pinned on first contact
        if pub != self.federator_key:
            self._note("federation.bad_view", reason="federator key changed")
            return view.stage
        try:
            messages.verify_view(view, self.federator_key)
        except messages.MessageError as exc:
            self._note("federation.bad_view", reason=str(exc))
            return view.stage
        if view.round_id != self.round:
            self.round, self.client, self.done, self.domain = view.round_id, None, set(), None
        cfg = view.config
        if self.domain is None and view.round_id and (cfg.level == 0 or cfg.candidates):
            if candidates_digest(cfg.level, cfg.candidates) != cfg.candidates_sha256:
                self._note("federation.bad_view", reason="candidate list does not match its digest")
                return view.stage
            self.domain = patterns.Domain(cfg.level, tuple(cfg.candidates))
        stage = view.stage
        t0 = time.perf_counter()
        try:
            if stage == "advertise" and "advertise" not in self.done:
                records = self.sample.for_training(cfg.training_id)
                if len(records) >= self.min_records and self.domain is not None:
                    self.client = SecAggClient(self.node_id, self.identity, self.round, cfg.neighbours)
                    self._submit("advertise", self.client.advertise().SerializeToString())
            elif self.client is None or stage in self.done:
                pass
            elif stage == "shares" and any(k.node_id == self.node_id for k in view.keys):
                self._submit("shares", self.client.share_keys(list(view.keys), cfg.threshold).SerializeToString())
            elif stage == "masked" and self.node_id in view.members and "shares" in self.done:
                tc = time.perf_counter()
                records = self.sample.for_training(cfg.training_id)[:cfg.max_records]
                counts = patterns.local_counts(records, self.domain, cfg.clip, cfg.scale_bits)
                x = patterns.noisy_vector(counts, cfg.node_sigma, cfg.scale_bits, self.rng)
                self.seconds["count"] += time.perf_counter() - tc
                t0 += time.perf_counter() - tc
                masked = self.client.masked_input(x, list(view.shares_for_you), list(view.members))
                self._submit("masked", masked.SerializeToString())
            elif stage == "unmask" and self.node_id in view.members and "masked" in self.done:
                self._submit("unmask", self.client.unmask(list(view.members), list(view.dropped)).SerializeToString())
        except SecAggError as exc:
            self._note("federation.protocol_error", stage=stage, reason=str(exc))
            self.client = None
        except grpc.RpcError as exc:
            self._note("federation.unreachable", stage=stage, error=str(exc.code()))
        if stage in self.seconds:
            self.seconds[stage] += time.perf_counter() - t0
        return stage
