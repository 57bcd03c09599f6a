"""gRPC Ingest.Upload: a client stream of bytes becomes a job of ordered chunks.

The first message carries `start`, then `data` messages, then `end` with the byte count.
Chunks go to cobol.chunks as they fill; the job is sealed only after `end` arrived, its count
matches, and every chunk is durably written. Anything else - a stream that stops without
`end` (cancelled, broken, truncated), a protocol error, the size limit, a Kafka failure -
aborts the job.
"""
from __future__ import annotations

import hashlib
import time
import uuid

import grpc

from cobol_mesh import kafka, metrics, telemetry
from cobol_mesh import logging as mlog
from cobol_mesh.proto import pb, pb_grpc
from cobol_mesh.settings import settings

from . import events
from .manifest import Manifests

log = mlog.get("cobol.ingest.upload")
MAX_INFLIGHT_CHUNKS = 16       # bounds memory: at most this many chunks wait in the producer


class UploadAborted(Exception):
    def __init__(self, code: grpc.StatusCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class IngestServicer(pb_grpc.IngestServicer):
    def __init__(self, producer, manifests: Manifests, instance: str) -> None:
        self.producer = producer
        self.manifests = manifests
        self.instance = instance
        self.chunk_size = min(settings.chunk_size, settings.kafka_max_bytes - 64 * 1024)

    def Upload(self, request_iterator, context):
        try:
            first = next(request_iterator)
        except StopIteration:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty stream: the first message must carry `start`")
        except grpc.RpcError:
            return pb.UploadReply()
        if first.WhichOneof("part") != "start":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must carry `start`")
        start = first.start
        job_id = start.job_id or uuid.uuid4().hex
        profile = start.profile or "fast"
        source = start.source or "grpc"
        name = start.name or job_id
        if not events.ID_RE.match(job_id):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "job_id must match [A-Za-z0-9._:-]{1,128}")
        if profile not in events.PROFILES:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"profile must be one of {events.PROFILES}")
        if source not in ("grpc", "rest"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "source must be grpc or rest")
        if len(name) > 1024:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "name is longer than 1024 characters")
        if not self.manifests.open(job_id, name, source, profile):
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"job {job_id} already exists")

        job = _Job(self, job_id, profile)
        log.info("upload.open", job_id=job_id, name=name, source=source, profile=profile)
        try:
            # Opened is durable before the first chunk, so the ledger knows the job first.
            kafka.produce(self.producer, settings.topic_events, job_id,
                          events.opened(job_id, source, name, profile),
                          tracker=job.tracker, headers=telemetry.kafka_headers())
            kafka.flush_or_raise(self.producer, job.tracker)
            end = None
            for req in request_iterator:
                part = req.WhichOneof("part")
                if end is not None:
                    raise UploadAborted(grpc.StatusCode.INVALID_ARGUMENT, "a message after `end`")
                if part == "data":
                    job.feed(req.data)
                elif part == "end":
                    end = req.end
                else:
                    raise UploadAborted(grpc.StatusCode.INVALID_ARGUMENT, "`start` sent twice")
            if end is None:
                raise UploadAborted(grpc.StatusCode.CANCELLED,
                                    "the stream stopped without `end`: cancelled or truncated upload")
            if end.bytes != job.bytes_in:
                raise UploadAborted(grpc.StatusCode.DATA_LOSS,
                                    f"`end` declares {end.bytes} bytes but {job.bytes_in} arrived")
            job.seal()
        except UploadAborted as exc:
            job.abort(exc.reason)
            context.abort(exc.code, exc.reason)
        except grpc.RpcError:
            job.abort("client cancelled or the stream broke")
            return pb.UploadReply()
        except Exception as exc:
            log.exception("upload.failed", job_id=job_id)
            job.abort(f"ingest error: {type(exc).__name__}: {exc}")
            context.abort(grpc.StatusCode.UNAVAILABLE, f"ingest failed: {exc}")
        return pb.UploadReply(job_id=job_id, bytes_in=job.bytes_in, chunk_count=job.seq,
                              sha256=job.sha.hexdigest())


class _Job:
    def __init__(self, svc: IngestServicer, job_id: str, profile: str) -> None:
        self.svc = svc
        self.job_id = job_id
        self.profile = profile
        self.buf = bytearray()
        self.seq = 0
        self.bytes_in = 0
        self.sha = hashlib.sha256()
        self.tracker = kafka.DeliveryTracker()
        self.t0 = time.monotonic()
        self.emitted = 0                        # bytes already cut into chunks

    def feed(self, data: bytes) -> None:
        self.bytes_in += len(data)
        if self.bytes_in > settings.max_upload_bytes:
            raise UploadAborted(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"upload exceeds COBOL_MAX_UPLOAD_BYTES={settings.max_upload_bytes}")
        self.sha.update(data)
        self.buf += data
        size = self.svc.chunk_size
        while len(self.buf) >= size:
            self._emit(bytes(self.buf[:size]))
            del self.buf[:size]

    def _emit(self, data: bytes) -> None:
        p = self.svc.producer
        while self.tracker.pending >= MAX_INFLIGHT_CHUNKS:
            p.poll(0.05)
        if self.tracker.error is not None:
            raise kafka.KafkaException(self.tracker.error)
        offset = self.emitted
        kafka.produce(p, settings.topic_chunks, events.chunk_key(self.job_id, self.seq),
                      events.chunk(self.job_id, self.seq, data, self.profile, offset),
                      tracker=self.tracker, headers=telemetry.kafka_headers())
        self.emitted += len(data)
        self.seq += 1
        p.poll(0)

    def seal(self) -> None:
        if self.buf or self.seq == 0:          # an empty upload is one empty chunk
            self._emit(bytes(self.buf))
            self.buf.clear()
        p = self.svc.producer
        kafka.flush_or_raise(p, self.tracker)   # every chunk durable before the seal
        digest = self.sha.hexdigest()
        kafka.produce(p, settings.topic_events, self.job_id,
                      events.sealed(self.job_id, self.seq, self.bytes_in, digest),
                      tracker=self.tracker, headers=telemetry.kafka_headers())
        kafka.flush_or_raise(p, self.tracker)
        self.svc.manifests.seal(self.job_id, self.bytes_in, self.seq, digest)
        secs = time.monotonic() - self.t0
        metrics.BYTES_IN.labels("ingest", self.svc.instance).inc(self.bytes_in)
        metrics.JOBS.labels("ingest", self.svc.instance, "sealed").inc()
        log.info("upload.sealed", job_id=self.job_id, bytes_in=self.bytes_in, chunks=self.seq,
                 seconds=round(secs, 3), mib_s=round(self.bytes_in / 1048576 / max(secs, 1e-6), 1))

    def abort(self, reason: str) -> None:
        log.warning("upload.aborted", job_id=self.job_id, reason=reason, bytes_in=self.bytes_in)
        metrics.JOBS.labels("ingest", self.svc.instance, "aborted").inc()
        try:
            tracker = kafka.DeliveryTracker()
            kafka.produce(self.svc.producer, settings.topic_events, self.job_id,
                          events.aborted(self.job_id, reason), tracker=tracker)
            kafka.flush_or_raise(self.svc.producer, tracker)
        except Exception:
            log.exception("upload.abort_event_failed", job_id=self.job_id)
        try:
            self.svc.manifests.abort(self.job_id, self.bytes_in, self.seq, reason)
        except Exception:
            log.exception("upload.abort_manifest_failed", job_id=self.job_id)
