"""Streaming a multipart upload straight into Ingest.Upload.

The request body is never spooled: it is read chunk by chunk from ``request.stream()``, fed
to python-multipart's incremental parser, and the file part's bytes are cut into pieces
that go through a small bounded queue to a writer task driving the client-streaming gRPC
call. Memory per upload is bounded by ``queue size × piece size`` (about 2 MiB by default).

The gRPC stream gets its closing ``end`` message (so that ingest seals the job) only when
the multipart body ended with its closing boundary; every other ending (client gone, body
truncated, too large, malformed) cancels the call without ``end``, and ingest aborts the job.
"""
from __future__ import annotations

import asyncio
import os
import re
import uuid
from dataclasses import dataclass, field

import grpc
from cobol_proto import mesh_pb2
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from . import metrics
from .enums import DEFAULT_PROFILE, DICT_RE, PROFILES, parse_layers

FIELDS = ("profile", "layers", "dictionary")   # form fields (or query parameters) of a job
MAX_FIELD_BYTES = 1024
MAX_NAME_CHARS = 255
IDLE_TIMEOUT = float(os.environ.get("COBOL_API_UPLOAD_IDLE_TIMEOUT", "120"))
REPLY_TIMEOUT = float(os.environ.get("COBOL_API_UPLOAD_REPLY_TIMEOUT", "300"))


class UploadError(Exception):
    """Ends an upload with an HTTP status; ``outcome`` goes to the audit log and metrics."""

    def __init__(self, status: int, detail: str, outcome: str = "rejected") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.outcome = outcome


def check_field(name: str, value: str) -> str:
    """A job option (profile, layers, dictionary) checked; "" means the default."""
    if "\x00" in value:
        raise UploadError(422, f"{name} must not contain NUL")
    if value == "":
        return value
    if name == "profile" and value not in PROFILES:
        raise UploadError(422, f"profile must be one of {', '.join(PROFILES)}, or empty for the default")
    if name == "layers":
        try:
            parse_layers(value)
        except ValueError as exc:
            raise UploadError(422, str(exc)) from None
    if name == "dictionary" and not DICT_RE.match(value):
        raise UploadError(422, "dictionary must be 16 lower-case hex digits, 'none', or empty for the current one")
    return value


def safe_name(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    return (name or "upload")[:MAX_NAME_CHARS]


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    filename: str | None = None
    is_file: bool = False
    value: bytearray = field(default_factory=bytearray)
    overflow: bool = False


class StreamingUpload:
    def __init__(self, *, stub, boundary: bytes, max_bytes: int, query: dict[str, str],
                 piece_bytes: int = 256 * 1024, queue_pieces: int = 8, metadata=None) -> None:
        self.stub = stub
        self.max_bytes = max_bytes
        self.query = dict(query)          # profile/layers/dictionary given in the query string
        self.values = {"profile": "", "layers": "", "dictionary": ""}
        for k, v in self.query.items():
            self.values[k] = check_field(k, v)
        self.locked = False               # once the gRPC stream has started
        self.metadata = metadata
        self.piece_bytes = piece_bytes
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=queue_pieces)
        self.job_id: str | None = None
        self.name: str | None = None
        self.file_bytes = 0
        self.sent = 0                     # bytes written to the gRPC stream
        self.reply: mesh_pb2.UploadReply | None = None
        self.call = None
        self.writer: asyncio.Task | None = None
        self.on_start = None              # async callback(upload) once the job id is known

        # parser state (callbacks are synchronous; they only record what happened)
        self._events: list[tuple] = []
        self._part: _Part | None = None
        self._hfield = bytearray()
        self._hvalue = bytearray()
        self._buffer = bytearray()
        self._in_file = False
        self._file_seen = False
        self._file_done = False
        self._ended = False
        self._error: UploadError | None = None
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._on_part_begin,
            "on_header_field": lambda d, s, e: self._hfield.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._hvalue.extend(d[s:e]),
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_end": self._on_end,
        })

    # ---- parser callbacks ----------------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_end(self) -> None:
        if self._part is not None:
            key = self._hfield.decode("latin-1").strip().lower()
            self._part.headers[key] = self._hvalue.decode("utf-8", "replace").strip()
        self._hfield.clear()
        self._hvalue.clear()

    def _on_headers_finished(self) -> None:
        part = self._part
        if part is None:
            return
        disposition, params = parse_options_header(part.headers.get("content-disposition", ""))
        part.name = params.get(b"name", b"").decode("utf-8", "replace") or None
        filename = params.get(b"filename")
        part.filename = filename.decode("utf-8", "replace") if filename is not None else None
        part.is_file = part.name == "file"
        if part.is_file:
            if self._file_seen:
                self._fail(UploadError(422, "exactly one 'file' part is allowed"))
                return
            self._file_seen = True
            self._in_file = True
            self._events.append(("file_begin", part.filename or "upload"))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            n = end - start
            self.file_bytes += n
            if self.file_bytes > self.max_bytes:
                self._fail(UploadError(413, f"upload exceeds the limit of {self.max_bytes} bytes",
                                       outcome="too_large"))
                return
            if self._error is None:
                self._buffer.extend(data[start:end])
        elif self._part is not None:
            if len(self._part.value) + (end - start) > MAX_FIELD_BYTES:
                self._part.overflow = True
            else:
                self._part.value.extend(data[start:end])

    def _on_part_end(self) -> None:
        part, self._part = self._part, None
        if part is None:
            return
        if part.is_file:
            self._in_file = False
            self._file_done = True
            self._events.append(("file_end",))
        elif part.name in FIELDS:
            if part.overflow:
                self._fail(UploadError(422, f"field {part.name!r} is too long"))
            else:
                self._events.append(("field", part.name, part.value.decode("utf-8", "replace").strip()))

    def _on_end(self) -> None:
        self._ended = True

    def _fail(self, err: UploadError) -> None:
        if self._error is None:
            self._error = err

    # ---- the gRPC side -------------------------------------------------------------------

    def _set_field(self, name: str, value: str) -> None:
        value = check_field(name, value)
        if name in self.query and value != self.values[name]:
            raise UploadError(400, f"the form field {name!r} conflicts with the query parameter of the same name")
        if self.locked and value != self.values[name]:
            raise UploadError(422, f"the {name!r} field must come before the 'file' part")
        self.values[name] = value

    @property
    def profile(self) -> str:
        return self.values["profile"] or DEFAULT_PROFILE

    async def _start(self, filename: str) -> None:
        self.locked = True
        self.name = safe_name(filename)
        self.job_id = str(uuid.uuid4())
        if self.on_start is not None:
            await self.on_start(self)
        self.call = self.stub.Upload(metadata=self.metadata)
        metrics.UPLOADS_STREAMING.inc()
        self.writer = asyncio.create_task(self._write_loop(), name=f"upload-writer-{self.job_id}")

    async def _write_loop(self) -> None:
        await self.call.write(mesh_pb2.UploadRequest(start=mesh_pb2.UploadStart(
            name=self.name, profile=self.profile, source="rest", job_id=self.job_id,
            layers=self.values["layers"], dictionary=self.values["dictionary"])))
        while True:
            piece = await self.queue.get()
            if piece is None:
                await self.call.write(mesh_pb2.UploadRequest(end=mesh_pb2.UploadEnd(bytes=self.sent)))
                await self.call.done_writing()
                return
            await self.call.write(mesh_pb2.UploadRequest(data=piece))
            self.sent += len(piece)
            metrics.UPLOAD_BYTES.inc(len(piece))

    async def _put(self, item: bytes | None) -> None:
        try:
            self.queue.put_nowait(item)
            return
        except asyncio.QueueFull:
            pass
        put = asyncio.ensure_future(self.queue.put(item))
        done, _ = await asyncio.wait({put, self.writer}, return_when=asyncio.FIRST_COMPLETED)
        if put in done:
            return
        put.cancel()
        await self._writer_failed()

    async def _writer_failed(self) -> None:
        assert self.writer is not None and self.writer.done()
        exc = None if self.writer.cancelled() else self.writer.exception()
        raise await self._call_error(exc)

    async def _call_error(self, exc: BaseException | None) -> UploadError:
        """The most precise error: the call's own status if it has ended, else the exception."""
        if isinstance(exc, grpc.RpcError):
            return _grpc_error(exc)
        if self.call is not None and self.call.done():
            try:
                code, details = await self.call.code(), await self.call.details()
                if code != grpc.StatusCode.OK:
                    return _grpc_status(code, details)
            except Exception:  # noqa: BLE001
                pass
        if exc is None:
            return UploadError(502, "ingest stream ended early", outcome="ingest_error")
        return UploadError(502, f"ingest stream failed: {type(exc).__name__}: {exc}", outcome="ingest_error")

    async def _flush(self, final: bool = False) -> None:
        while len(self._buffer) >= self.piece_bytes or (final and self._buffer):
            piece = bytes(self._buffer[: self.piece_bytes])
            del self._buffer[: self.piece_bytes]
            await self._put(piece)

    async def _process_events(self) -> None:
        events, self._events = self._events, []
        for ev in events:
            if ev[0] == "field":
                self._set_field(ev[1], ev[2])
            elif ev[0] == "file_begin":
                await self._start(ev[1])
            # file_end: nothing to do until the closing boundary

    # ---- driving ---------------------------------------------------------------------------

    async def run(self, request: Request) -> mesh_pb2.UploadReply:
        metrics.UPLOADS_ACTIVE.inc()
        try:
            return await self._run(request)
        except BaseException:
            await self.abort()
            raise
        finally:
            metrics.UPLOADS_ACTIVE.dec()
            if self.call is not None:
                metrics.UPLOADS_STREAMING.dec()

    async def _run(self, request: Request) -> mesh_pb2.UploadReply:
        stream = request.stream().__aiter__()
        while True:
            try:
                chunk = await asyncio.wait_for(stream.__anext__(), IDLE_TIMEOUT)
            except StopAsyncIteration:
                break
            except asyncio.TimeoutError:
                raise UploadError(408, f"no upload data for {IDLE_TIMEOUT:.0f}s", outcome="timeout") from None
            except ClientDisconnect:
                raise UploadError(499, "client disconnected before the upload finished",
                                  outcome="client_disconnected") from None
            if not chunk:
                continue
            try:
                self.parser.write(chunk)
            except Exception as exc:  # python-multipart raises its own parse errors
                raise UploadError(422, f"malformed multipart body: {exc}") from None
            await self._process_events()
            if self._error is not None:
                raise self._error
            if self.job_id is not None:
                await self._flush()
            if self.writer is not None and self.writer.done():
                await self._writer_failed()

        await self._process_events()
        if self._error is not None:
            raise self._error
        if not self._file_seen:
            raise UploadError(422, "the multipart body has no 'file' part")
        if not (self._file_done and self._ended):
            raise UploadError(400, "the multipart body ended before its closing boundary (truncated upload)",
                              outcome="truncated")
        await self._flush(final=True)
        await self._put(None)
        try:
            await asyncio.wait_for(asyncio.shield(self.writer), REPLY_TIMEOUT)
            self.reply = await asyncio.wait_for(self.call, REPLY_TIMEOUT)
        except asyncio.TimeoutError:
            raise UploadError(504, "ingest did not confirm the upload in time", outcome="ingest_timeout") from None
        except Exception as exc:  # noqa: BLE001
            raise await self._call_error(exc) from None
        return self.reply

    async def abort(self) -> None:
        """Stop the gRPC stream without its `end` message: ingest then aborts the job."""
        if self.call is not None and not self.call.done():
            self.call.cancel()
        if self.writer is not None and not self.writer.done():
            self.writer.cancel()
            try:
                await self.writer
            except BaseException:  # noqa: BLE001
                pass
        elif self.writer is not None and not self.writer.cancelled():
            self.writer.exception()  # retrieved, so asyncio does not log it as never retrieved


def _grpc_status(code, details: str) -> UploadError:
    mapping = {
        grpc.StatusCode.UNAVAILABLE: (503, "ingest is unavailable"),
        grpc.StatusCode.DEADLINE_EXCEEDED: (504, "ingest timed out"),
        grpc.StatusCode.RESOURCE_EXHAUSTED: (413, "ingest refused the upload as too large"),
        grpc.StatusCode.INVALID_ARGUMENT: (422, "ingest refused the upload"),
        grpc.StatusCode.ALREADY_EXISTS: (409, "a job with this id already exists"),
    }
    status, text = mapping.get(code, (502, "ingest failed"))
    return UploadError(status, f"{text}: {details}", outcome="ingest_error")


def _grpc_error(exc: BaseException) -> UploadError:
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return _grpc_status(exc.code(), exc.details() if hasattr(exc, "details") else str(exc))
    return UploadError(502, f"ingest stream failed: {type(exc).__name__}: {exc}", outcome="ingest_error")
