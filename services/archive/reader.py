"""gRPC Archive: ReadResult streams the container (FILE_HEADER + frames in seq order);
ReadOriginal decodes frame by frame. Memory stays bounded by one frame."""
from __future__ import annotations

import grpc

from cobol_mesh import logging as mlog
from cobol_mesh.proto import pb, pb_grpc

from .store import Store, iter_frames, job_prefix

log = mlog.get("cobol.archive.reader")
PIECE = 1024 * 1024          # gRPC message size for streamed bytes


def _pieces(data: bytes):
    for off in range(0, len(data), PIECE):
        yield pb.ReadChunk(data=data[off:off + PIECE])


class ArchiveServicer(pb_grpc.ArchiveServicer):
    def __init__(self, store: Store) -> None:
        self.store = store

    def _frames(self, request, context):
        job_id = request.job_id
        if not job_id or "/" in job_id or job_id.startswith("."):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a valid job_id is required")
        if not self.store.list(job_prefix(job_id)):
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {job_id} is not in the archive")
        return iter_frames(self.store, job_id)

    def ReadResult(self, request, context):
        from cobol_codec import FILE_HEADER
        frames = self._frames(request, context)
        yield pb.ReadChunk(data=bytes(FILE_HEADER))
        try:
            for _seq, frame in frames:
                yield from _pieces(frame)
        except LookupError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))

    def ReadOriginal(self, request, context):
        from cobol_codec import FILE_HEADER, decompress
        frames = self._frames(request, context)
        try:
            for seq, frame in frames:
                try:
                    data = decompress(bytes(FILE_HEADER) + frame)
                except Exception as exc:
                    log.error("archive.decode_failed", job_id=request.job_id, seq=seq, error=str(exc))
                    context.abort(grpc.StatusCode.DATA_LOSS, f"frame {seq} does not decode: {exc}")
                yield from _pieces(data)
        except LookupError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
