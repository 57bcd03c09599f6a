"""This replica's view of its peers: missing or damaged frames come from them, and a store
that lost its data is refilled from them (repair). Peers answer from their local store only,
so a request never bounces between replicas.

A peer that is down is skipped (short deadlines); a frame is accepted from a peer only if its
checksum holds, and is then kept locally (read repair).
"""
from __future__ import annotations

import hashlib
import threading
import time

import grpc

from cobol_mesh import grpc_server, metrics
from cobol_mesh import logging as mlog
from cobol_mesh.proto import pb, pb_grpc

from .deletes import Tombstones
from .store import DamagedFrame, Store, frame_key, job_seqs, seal, unseal

log = mlog.get("cobol.archive.replicas")
RPC_S = 3.0


class Peers:
    def __init__(self, instance: str, store: Store, addrs: list[str], tombs: Tombstones) -> None:
        self.instance = instance
        self.store = store
        self.tombs = tombs
        self.addrs = [a for a in addrs if a]
        self._stubs = {a: pb_grpc.ArchiveStub(grpc_server.channel(a)) for a in self.addrs}

    def stubs(self):
        return self._stubs.items()

    # -- reads -----------------------------------------------------------------------------
    def seqs(self, job_id: str) -> tuple[set[int], list[str]]:
        """Every seq of the job that a reachable peer holds, and the peers that could not be
        asked ("addr (CODE)"). A peer's tombstone deletes the job here too (this replica missed
        the delete) and answers an empty set."""
        out: set[int] = set()
        unasked: list[str] = []
        for addr, stub in self._stubs.items():
            try:
                got = stub.ListFrames(pb.ReadRequest(job_id=job_id), timeout=RPC_S)
                if got.deleted:
                    self.tombs.delete(job_id, f"tombstone on {got.replica or addr}")
                    return set(), []
                out.update(got.seqs)
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    log.info("peer.unreachable", peer=addr, code=exc.code().name)
                    unasked.append(f"{addr} ({exc.code().name})")
        return out, unasked

    def fetch(self, job_id: str, seq: int) -> bytes | None:
        """A good copy of frame `seq` from some peer, stored locally too; None if no peer has one."""
        for addr, stub in self._stubs.items():
            try:
                got = stub.GetFrame(pb.FrameRequest(job_id=job_id, seq=seq), timeout=30)
            except grpc.RpcError as exc:
                if exc.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.DATA_LOSS):
                    log.info("peer.unreachable", peer=addr, code=exc.code().name)
                continue
            if hashlib.sha256(got.frame).hexdigest() != got.sha256:
                log.warning("peer.bad_frame", peer=addr, job_id=job_id, seq=seq)
                continue
            if not self.tombs.store_frame(job_id, seq, seal(got.frame)):
                return None
            metrics.CHUNKS.labels("archive", self.instance, "repaired").inc()
            return got.frame
        return None

    def frame(self, job_id: str, seq: int) -> bytes:
        """Frame `seq`: the local copy if it is there and sound, else a peer's."""
        try:
            return unseal(self.store.get(frame_key(job_id, seq)))
        except (FileNotFoundError, DamagedFrame) as exc:
            log.warning("archive.frame_fallback", job_id=job_id, seq=seq, why=type(exc).__name__)
        got = self.fetch(job_id, seq)
        if got is None:
            raise LookupError(f"frame {seq} of job {job_id} is missing or damaged on every reachable replica")
        return got

    # -- repair ----------------------------------------------------------------------------
    def repair(self) -> dict:
        """Apply every peer's tombstones here (and this store's own, should a delete have been
        cut short), then copy every frame a peer holds and this store lacks, except of deleted
        jobs. Returns counts."""
        copied, jobs, failed, removed = 0, set(), 0, 0
        listings = {}
        for addr, stub in self._stubs.items():
            try:
                listings[addr] = list(stub.ListJobs(pb.ListArchivedRequest(), timeout=300))
            except grpc.RpcError as exc:
                log.info("repair.peer_unreachable", peer=addr, code=exc.code().name)
        for addr, listing in listings.items():
            for aj in listing:
                if aj.deleted:
                    removed += self.tombs.delete(aj.job_id, f"tombstone on {aj.replica or addr}")
        for job_id in set(self.store.jobs()) & set(self.tombs.ids()):
            removed += self.tombs.delete(job_id, "tombstone here")
        for addr, listing in listings.items():
            stub = self._stubs[addr]
            for aj in listing:
                if aj.deleted or aj.job_id in self.tombs:
                    continue
                have = set(job_seqs(self.store, aj.job_id))
                for seq in aj.seqs:
                    if seq in have:
                        continue
                    try:
                        got = stub.GetFrame(pb.FrameRequest(job_id=aj.job_id, seq=seq), timeout=30)
                    except grpc.RpcError:
                        failed += 1
                        continue
                    if hashlib.sha256(got.frame).hexdigest() != got.sha256:
                        failed += 1
                        continue
                    if not self.tombs.store_frame(aj.job_id, seq, seal(got.frame)):
                        break
                    have.add(seq)
                    copied += 1
                    jobs.add(aj.job_id)
        if copied:
            metrics.CHUNKS.labels("archive", self.instance, "repaired").inc(copied)
        return {"frames": copied, "jobs": len(jobs), "failed": failed, "deleted_frames": removed}


def run_repairs(peers: Peers, stopping: threading.Event, every_s: float, lost: bool) -> None:
    """At start (at once if the store lost its data) and then every `every_s`: anti-entropy."""
    first = True
    while not stopping.is_set():
        if peers.addrs and (not first or lost):
            t0 = time.monotonic()
            try:
                got = peers.repair()
                log.info("archive.repaired" if got["frames"] or got["deleted_frames"] else "archive.repair_checked",
                         lost_store=lost and first, seconds=round(time.monotonic() - t0, 2), **got)
            except Exception:
                log.exception("archive.repair_failed")
        if first:
            peers.store.put_marker(f"{peers.instance}\n")
            first = False
        stopping.wait(every_s)
