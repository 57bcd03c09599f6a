"""The compressor's dictionaries and its local phase of the federated training.

- Which dictionary a chunk gets: Chunk.dictionary_id "none" -> no dictionary; a 16-hex id ->
  that version (fetched by id from the federator, content hash checked, cached); "" -> the
  current version, or, while an A/B test runs, the candidate for a share of the chunks
  (chosen by a hash of job id and seq, so a replayed chunk gets the same one).
- Versions arrive on the compacted topic cobol.dict.versions; a new state is applied only
  once every dictionary it names has been fetched, then swapped in without a restart.
- Local phase: a bounded sample of the records this compressor compressed (never sent
  anywhere), used in the secure-aggregation rounds by cobol_federation.node.Participant.
- Usage (chunks, bytes in/out per dictionary) goes to the federator for the A/B comparison.
If the federator is unreachable the compressor goes on with what it has (no dictionary at
first): compression never waits for federation.
"""
from __future__ import annotations

import hashlib
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from cobol_federation import config, ids, messages
from cobol_federation.client import DictionaryCache, FederatorClient
from cobol_federation.node import Participant, RecordSample
from cobol_federation.proto import fpb
from cobol_mesh import logging as mlog
from cobol_mesh.settings import settings

log = mlog.get("cobol.compressor.dictionaries")
POLL_SECONDS = 0.5
REPORT_SECONDS = 5.0


class Dictionaries:
    def __init__(self, instance: str, stopping) -> None:
        self.cfg = config.load()
        self.instance = instance
        self.stopping = stopping
        self.fed = FederatorClient(self.cfg.federator_addr)
        self.cache = DictionaryCache(self.fed)
        self.state = fpb.DictionaryState()
        self.current = None
        self.candidate = None
        self.pending: fpb.DictionaryState | None = None
        self.sample = RecordSample(self.cfg.max_records)
        self._lock = threading.Lock()
        self._usage: dict[str, list[int]] = {}
        identity = messages.load_identity(self.cfg.key_dir / f"{settings.group_prefix}-{instance}.key")
        self.participant = Participant(instance, identity, self.fed.stub, self.sample, log)

    # ---- the chunk path (compressor thread) ----------------------------------------------
    def choose(self, chunk) -> tuple[object | None, str]:
        """(Dictionary or None, its hex id or "") for a chunk; raises for an unknown id."""
        want = chunk.dictionary_id
        if want == "none":
            return None, ""
        if want:
            ids.parse(want)
            return self.cache.get(want), want
        with self._lock:
            st, cur, cand = self.state, self.current, self.candidate
        if cand is not None and st.candidate_share > 0:
            h = hashlib.sha256(f"{chunk.job_id}\0{chunk.seq}".encode()).digest()
            if int.from_bytes(h[:8], "big") / 2**64 < st.candidate_share:
                return cand, st.candidate_id
        return (cur, st.current_id) if cur is not None else (None, "")

    def observe(self, data: bytes, dictionary_id: str, bytes_out: int) -> None:
        self.sample.add(data)
        with self._lock:
            u = self._usage.setdefault(dictionary_id, [0, 0, 0])
            u[0] += 1
            u[1] += len(data)
            u[2] += bytes_out

    # ---- the background thread -----------------------------------------------------------
    def _apply(self, st: fpb.DictionaryState) -> bool:
        try:
            cur = self.cache.get(st.current_id) if st.current_id else None
            cand = self.cache.get(st.candidate_id) if st.candidate_id else None
        except Exception as exc:               # federator down or id unknown: retry later
            log.warning("dictionaries.fetch_failed", state_seq=st.seq, error=str(exc)[:300])
            return False
        with self._lock:
            self.state, self.current, self.candidate = st, cur, cand
        log.info("dictionaries.switched", current=st.current_id or "none", candidate=st.candidate_id or "none",
                 share=st.candidate_share, seq=st.seq)
        return True

    def _consumer(self) -> Consumer:
        c = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"{settings.group_prefix}-dict-{self.instance}",
                      "enable.auto.commit": False, "auto.offset.reset": "earliest",
                      "client.id": f"cobol-{self.instance}-dict", "topic.metadata.refresh.interval.ms": 5000})
        c.assign([TopicPartition(self.cfg.topic_versions, 0, OFFSET_BEGINNING)])
        return c

    def _report(self) -> None:
        with self._lock:
            usage, self._usage = self._usage, {}
        if not usage:
            return
        rep = fpb.UsageReport(node_id=self.instance, usage=[
            fpb.DictionaryUsage(dictionary_id=d, chunks=u[0], bytes_in=u[1], bytes_out=u[2]) for d, u in usage.items()])
        try:
            self.fed.stub.ReportUsage(rep, timeout=10)
        except Exception:                       # keep the counts for the next report
            with self._lock:
                for d, u in usage.items():
                    mine = self._usage.setdefault(d, [0, 0, 0])
                    for i in range(3):
                        mine[i] += u[i]

    def run(self) -> None:
        consumer = self._consumer()
        next_report = time.monotonic() + REPORT_SECONDS
        try:
            while not self.stopping.is_set():
                try:
                    self._once(consumer)
                    if time.monotonic() >= next_report:
                        self._report()
                        next_report = time.monotonic() + REPORT_SECONDS
                except Exception:                # never take the compressor down
                    log.exception("dictionaries.loop_error")
                    self.stopping.wait(1.0)
        finally:
            consumer.close()
            self.fed.close()

    def _once(self, consumer: Consumer) -> None:
        for m in consumer.consume(100, POLL_SECONDS):
            if m.error():
                if m.error().code() not in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                    log.warning("dictionaries.consume_error", error=str(m.error()))
                continue
            try:
                st = fpb.DictionaryState.FromString(m.value() or b"")
            except Exception:
                log.warning("dictionaries.bad_state", offset=m.offset())
                continue
            self.pending = st                   # offset order: the newest state wins
        if self.pending is not None and self._apply(self.pending):
            self.pending = None
        if self.participant.step() == "":
            self.stopping.wait(2.0)             # federator unreachable: poll it less often
