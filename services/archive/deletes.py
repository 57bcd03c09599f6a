"""Deleted jobs: a tombstone per job in the store, and this replica's set of them in memory.

A delete writes the tombstone first, then removes the frames, so a crash in between leaves a
tombstone whose frames the next repair pass removes. Tombstones are never removed: they are
what stops a late frame from Kafka (a lagging replica re-consuming), a peer's repair, or a read
fallback from bringing the job back. Every path that stores a frame checks `stores()` under
the same lock a delete takes, so no frame lands after its job's delete has listed the frames.
"""
from __future__ import annotations

import threading
import time

from cobol_mesh import logging as mlog

from .store import Store, frame_key, job_seqs, tombstone_key

log = mlog.get("cobol.archive.deletes")


class Tombstones:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = threading.Lock()
        self._deleted = set(store.tombstones())

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._deleted

    def __len__(self) -> int:
        return len(self._deleted)

    def ids(self) -> list[str]:
        return sorted(self._deleted)

    def delete(self, job_id: str, why: str) -> int:
        """Tombstone the job (idempotent) and remove its frames here; returns frames removed."""
        with self.lock:
            if job_id not in self._deleted:
                self.store.put(tombstone_key(job_id), f"{time.time():.3f} {why}\n".encode())
                self._deleted.add(job_id)
            removed = 0
            for seq in job_seqs(self.store, job_id):
                self.store.delete(frame_key(job_id, seq))
                removed += 1
        if removed:
            log.info("archive.job_deleted", job_id=job_id, frames=removed, why=why)
        return removed

    def store_frame(self, job_id: str, seq: int, stored: bytes) -> bool:
        """Store one (sealed) frame unless its job is deleted; False when it was dropped."""
        with self.lock:
            if job_id in self._deleted:
                return False
            self.store.put(frame_key(job_id, seq), stored)
            return True
