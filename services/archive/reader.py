"""gRPC Archive: ReadResult streams the container (FILE_HEADER + frames in seq order);
ReadOriginal decodes frame by frame, fetching the dictionary a frame names from the federator
(by id, content hash checked, cached). Memory stays bounded by one frame.

Reads fall over between replicas: the job's seqs are what this replica or any reachable peer
holds, and a frame missing here or failing its checksum is fetched from a peer (and kept).
ListFrames / ListJobs / GetFrame serve peers from the local store only.

DeleteJob tombstones the job and removes its frames here, then asks every peer to do the same
(`local_only`); a peer that is down learns it from a tombstone later (deletes.py)."""
from __future__ import annotations

import hashlib

import grpc

from cobol_mesh import ids
from cobol_mesh import logging as mlog
from cobol_mesh.proto import pb, pb_grpc

from .deletes import Tombstones
from .replicas import RPC_S, Peers
from .store import DamagedFrame, Store, frame_key, job_seqs, unseal

log = mlog.get("cobol.archive.reader")
PIECE = 1024 * 1024          # gRPC message size for streamed bytes


def _pieces(data: bytes):
    for off in range(0, len(data), PIECE):
        yield pb.ReadChunk(data=data[off:off + PIECE])


class ArchiveServicer(pb_grpc.ArchiveServicer):
    def __init__(self, store: Store, peers: Peers, instance: str, tombs: Tombstones,
                 dictionaries=None) -> None:
        self.store = store
        self.peers = peers
        self.instance = instance
        self.tombs = tombs
        self.dictionaries = dictionaries     # cobol_federation.client.DictionaryCache

    def _not_deleted(self, job_id: str, context) -> None:
        if job_id in self.tombs:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {job_id} was deleted")

    def _decode(self, job_id: str, seq: int, frame: bytes, context) -> bytes:
        from cobol_federation.client import decode_frame
        try:
            return decode_frame(frame, self.dictionaries)
        except grpc.RpcError as exc:         # the federator is down: the frame is fine, retry later
            code, why = grpc.StatusCode.UNAVAILABLE, f"its dictionary cannot be fetched now ({exc.code().name})"
        except Exception as exc:
            code, why = grpc.StatusCode.DATA_LOSS, f"it does not decode: {exc}"
        log.error("archive.decode_failed", job_id=job_id, seq=seq, error=why)
        context.abort(code, f"frame {seq} of job {job_id}: {why}")

    def _job_id(self, request, context) -> str:
        if not ids.is_job_id(request.job_id):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a valid job_id is required")
        return request.job_id

    def _frames(self, request, context):
        """(seq, frame) in order over local and peer copies; aborts before the first byte if
        the job is unknown or incomplete everywhere."""
        job_id = self._job_id(request, context)
        self._not_deleted(job_id, context)
        seqs, unasked = self.peers.seqs(job_id)   # first: a peer's tombstone deletes the job here too
        self._not_deleted(job_id, context)
        seqs |= set(job_seqs(self.store, job_id))
        n = max(seqs) + 1 if seqs else 0
        if (not seqs or len(seqs) != n) and unasked:
            # the missing frames may be on a peer that did not answer: "not found" would be a lie
            context.abort(grpc.StatusCode.UNAVAILABLE,
                          f"job {job_id} is not complete on {self.instance} and these replicas could not be "
                          f"asked: {', '.join(unasked)}; retry")
        if not seqs:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {job_id} is not in the archive")
        if len(seqs) != n:
            gap = min(set(range(n)) - seqs)
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          f"frame {gap} of job {job_id} is not archived (yet)")
        return ((seq, self.peers.frame(job_id, seq)) for seq in range(n))

    def ReadResult(self, request, context):
        from cobol_codec import FILE_HEADER
        frames = self._frames(request, context)
        yield pb.ReadChunk(data=bytes(FILE_HEADER))
        try:
            for _seq, frame in frames:
                yield from _pieces(frame)
        except LookupError as exc:
            context.abort(grpc.StatusCode.DATA_LOSS, str(exc))

    def ReadOriginal(self, request, context):
        frames = self._frames(request, context)
        try:
            for seq, frame in frames:
                yield from _pieces(self._decode(request.job_id, seq, frame, context))
        except LookupError as exc:
            context.abort(grpc.StatusCode.DATA_LOSS, str(exc))

    # -- between replicas: local store only --------------------------------------------------
    def ListFrames(self, request, context):
        job_id = self._job_id(request, context)
        if job_id in self.tombs:
            return pb.ArchivedJob(job_id=job_id, replica=self.instance, deleted=True)
        seqs = job_seqs(self.store, job_id)
        if not seqs:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {job_id} is not on {self.instance}")
        return pb.ArchivedJob(job_id=job_id, seqs=seqs, replica=self.instance)

    def ListJobs(self, request, context):
        for job_id in self.tombs.ids():
            yield pb.ArchivedJob(job_id=job_id, replica=self.instance, deleted=True)
        for job_id in self.store.jobs():
            if ids.is_job_id(job_id) and job_id not in self.tombs:
                yield pb.ArchivedJob(job_id=job_id, seqs=job_seqs(self.store, job_id), replica=self.instance)

    def GetFrame(self, request, context):
        job_id = self._job_id(request, context)
        self._not_deleted(job_id, context)
        try:
            frame = unseal(self.store.get(frame_key(job_id, request.seq)))
        except FileNotFoundError:
            context.abort(grpc.StatusCode.NOT_FOUND, f"frame {request.seq} of {job_id} is not on {self.instance}")
        except DamagedFrame:
            context.abort(grpc.StatusCode.DATA_LOSS, f"frame {request.seq} of {job_id} is damaged on {self.instance}")
        return pb.StoredFrame(frame=frame, sha256=hashlib.sha256(frame).hexdigest())

    def DeleteJob(self, request, context):
        job_id = self._job_id(request, context)
        removed = self.tombs.delete(job_id, "DeleteJob")
        reply = pb.DeleteJobReply(job_id=job_id, deleted_on=[self.instance], frames_removed=removed)
        if request.local_only:
            return reply
        for addr, stub in self.peers.stubs():
            try:
                got = stub.DeleteJob(pb.DeleteJobRequest(job_id=job_id, local_only=True), timeout=RPC_S * 10)
            except grpc.RpcError as exc:
                log.warning("archive.delete_pending", job_id=job_id, peer=addr, code=exc.code().name)
                reply.pending.append(addr)
                continue
            reply.deleted_on.extend(got.deleted_on)
            reply.frames_removed += got.frames_removed
        log.info("archive.delete", job_id=job_id, deleted_on=list(reply.deleted_on), pending=list(reply.pending),
                 frames=reply.frames_removed)
        return reply
