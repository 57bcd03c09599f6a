"""gRPC Ingest.Upload: a client stream of bytes becomes a job of ordered chunks.

The first message carries `start`, then `data` messages, then `end` with the byte count.
Chunks go to cobol.chunks as they fill; the job is sealed only after `end` arrived, its count
matches, and every chunk is durably written. Anything else - a stream that stops without
`end` (cancelled, broken, truncated), a protocol error, the size limit, a Kafka failure, a
stream silent for COBOL_UPLOAD_IDLE_S or open longer than COBOL_UPLOAD_DEADLINE_S - aborts
the job.

At most COBOL_INGEST_MAX_STREAMS uploads run at once; one more is refused at once with
RESOURCE_EXHAUSTED. The server's thread pool is larger than that bound, so idle uploads can
never take the threads that other calls (health checks, new uploads) need.
"""
from __future__ import annotations

import hashlib
import queue
import threading
import time
import uuid

import grpc

from cobol_mesh import ids, kafka, metrics, telemetry
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


_END = object()


class _Requests:
    """The request stream with an idle timeout and a total deadline. A reader thread pulls
    messages into a small queue (two messages: memory stays bounded); `next()` waits for one
    with a timeout. When the handler returns or aborts, gRPC ends the stream and the reader
    thread ends with it."""

    def __init__(self, request_iterator, idle_s: float, deadline_s: float) -> None:
        self.idle_s = idle_s
        self.deadline = time.monotonic() + deadline_s
        self.deadline_s = deadline_s
        self.q: queue.Queue = queue.Queue(maxsize=2)
        self.done = threading.Event()
        threading.Thread(target=self._pump, args=(request_iterator,), name="upload-reader",
                         daemon=True).start()

    def _put(self, item) -> None:
        while not self.done.is_set():
            try:
                self.q.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _pump(self, it) -> None:
        try:
            for req in it:
                self._put(req)
                if self.done.is_set():
                    return
            self._put(_END)
        except grpc.RpcError as exc:
            self._put(exc)
        except Exception as exc:        # grpc ends an aborted stream in several ways
            self._put(exc)

    def close(self) -> None:
        self.done.set()

    def __iter__(self):
        return self

    def __next__(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise UploadAborted(grpc.StatusCode.DEADLINE_EXCEEDED,
                                f"upload open longer than COBOL_UPLOAD_DEADLINE_S={self.deadline_s:g}s")
        try:
            item = self.q.get(timeout=min(self.idle_s, left))
        except queue.Empty:
            if time.monotonic() >= self.deadline:
                raise UploadAborted(grpc.StatusCode.DEADLINE_EXCEEDED,
                                    f"upload open longer than COBOL_UPLOAD_DEADLINE_S={self.deadline_s:g}s") from None
            raise UploadAborted(grpc.StatusCode.DEADLINE_EXCEEDED,
                                f"no message for {self.idle_s:g}s (COBOL_UPLOAD_IDLE_S): idle upload closed") from None
        if item is _END:
            raise StopIteration
        if isinstance(item, Exception):
            raise item
        return item


def check_start(start) -> tuple[str, str, str, str, str, str]:
    """(job_id, name, source, profile, layers, dictionary) of a valid `start`; raises
    UploadAborted(INVALID_ARGUMENT) with the reason otherwise. Nothing is written before."""
    try:
        job_id = ids.check_client_job_id(start.job_id) if start.job_id else uuid.uuid4().hex
        profile = ids.check_profile(start.profile or "fast")
        layers = ids.check_layers(start.layers)
        dictionary = ids.check_dictionary(start.dictionary)
    except ids.InvalidName as exc:
        raise UploadAborted(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
    source = start.source or "grpc"
    if source not in ("grpc", "rest"):
        raise UploadAborted(grpc.StatusCode.INVALID_ARGUMENT, "source must be grpc or rest")
    name = start.name or job_id
    if len(name) > 1024 or "\0" in name:
        raise UploadAborted(grpc.StatusCode.INVALID_ARGUMENT, "name must be at most 1024 characters, without NUL")
    return job_id, name, source, profile, layers, dictionary


class IngestServicer(pb_grpc.IngestServicer):
    def __init__(self, producer, manifests: Manifests, instance: str) -> None:
        self.producer = producer
        self.manifests = manifests
        self.instance = instance
        self.chunk_size = min(settings.chunk_size, settings.kafka_max_bytes - 64 * 1024)
        self.slots = threading.BoundedSemaphore(settings.ingest_max_streams)

    def Upload(self, request_iterator, context):
        if not self.slots.acquire(blocking=False):
            metrics.JOBS.labels("ingest", self.instance, "refused_busy").inc()
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"ingest is at its limit of {settings.ingest_max_streams} concurrent uploads "
                          "(COBOL_INGEST_MAX_STREAMS): retry later")
        reqs = _Requests(request_iterator, settings.upload_idle_s, settings.upload_deadline_s)
        try:
            return self._upload(reqs, context)
        finally:
            reqs.close()
            self.slots.release()

    def _upload(self, reqs: _Requests, context):
        try:
            first = next(reqs)
            if first.WhichOneof("part") != "start":
                raise UploadAborted(grpc.StatusCode.INVALID_ARGUMENT, "the first message must carry `start`")
            job_id, name, source, profile, layers, dictionary = check_start(first.start)
        except StopIteration:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty stream: the first message must carry `start`")
        except UploadAborted as exc:
            context.abort(exc.code, exc.reason)
        except Exception:              # the client went away before `start`
            return pb.UploadReply()
        try:
            opened = self.manifests.open(job_id, name, source, profile)
        except Exception as exc:
            log.error("upload.manifest_unavailable", job_id=job_id, error=str(exc)[:300])
            context.abort(grpc.StatusCode.UNAVAILABLE, "ingest cannot record the job (PostgreSQL unavailable); retry later")
        if not opened:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"job {job_id} already exists")

        # Passed on as given: "" is the current dictionary, "none" none (compressor/dictionaries.py).
        job = _Job(self, job_id, profile, layers, dictionary)
        log.info("upload.open", job_id=job_id, name=name, source=source, profile=profile, layers=layers or None)
        try:
            # Opened is durable before the first chunk, so the ledger knows the job first.
            kafka.produce(self.producer, settings.topic_events, job_id,
                          events.opened(job_id, source, name, profile, layers),
                          tracker=job.tracker, headers=telemetry.kafka_headers())
            kafka.flush_or_raise(self.producer, job.tracker)
            end = None
            for req in reqs:
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
            if not context.is_active():
                job.abort("client cancelled or the stream broke")
                return pb.UploadReply()
            log.exception("upload.failed", job_id=job_id)
            job.abort(f"ingest error: {type(exc).__name__}: {exc}")
            context.abort(grpc.StatusCode.UNAVAILABLE, f"ingest failed: {exc}")
        return pb.UploadReply(job_id=job_id, bytes_in=job.bytes_in, chunk_count=job.seq,
                              sha256=job.sha.hexdigest())


class _Job:
    def __init__(self, svc: IngestServicer, job_id: str, profile: str, layers: str = "",
                 dictionary_id: str = "") -> None:
        self.svc = svc
        self.job_id = job_id
        self.profile = profile
        self.layers = layers
        self.dictionary_id = dictionary_id
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
                      events.chunk(self.job_id, self.seq, data, self.profile, offset,
                                   self.layers, self.dictionary_id),
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
