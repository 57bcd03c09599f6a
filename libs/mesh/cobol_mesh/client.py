"""A small synchronous HTTP client for the Cobol Protocol REST API (used by the `cobol` CLI).

    client = ApiClient.from_env()              # COBOL_API_URL, COBOL_USER/COBOL_PASSWORD, token cache
    job = client.submit("app.log", profile="max")
    client.wait(job["id"])
    client.download(job["id"], "app.log.cobol")

Credentials, in order: COBOL_TOKEN; a cached token for this API URL in
~/.config/cobol/token (0600; $COBOL_TOKEN_FILE overrides the path) unless COBOL_USER names
someone else; a login with COBOL_USER/COBOL_PASSWORD (the new token is cached). A cached
token that the API refuses is dropped and, when a password is at hand, renewed once.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import httpx

DEFAULT_URL = f"http://127.0.0.1:{8000 + int(os.environ.get('COBOL_PORT_OFFSET') or 0)}"
PIECE = 256 * 1024
Progress = Callable[[int], None]   # called with the number of bytes just moved


class ApiError(Exception):
    """An error meant for a person: the message says what went wrong and what to do."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def token_file() -> Path:
    override = os.environ.get("COBOL_TOKEN_FILE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cobol" / "token"


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(token_file().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(data: dict[str, Any]) -> None:
    path = token_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
        detail = body.get("detail", body) if isinstance(body, dict) else body
        if isinstance(detail, list):  # FastAPI validation errors
            detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
        return str(detail)
    except ValueError:
        return resp.text.strip()[:500] or resp.reason_phrase


class ApiClient:
    def __init__(self, url: str = DEFAULT_URL, *, token: str | None = None, user: str | None = None,
                 password: str | None = None, timeout: float = 30.0, use_cache: bool = True) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.user = user
        self.password = password
        self.use_cache = use_cache
        self.http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout, connect=5.0))

    @classmethod
    def from_env(cls, url: str | None = None) -> "ApiClient":
        return cls(url or os.environ.get("COBOL_API_URL") or DEFAULT_URL,
                   token=os.environ.get("COBOL_TOKEN") or None,
                   user=os.environ.get("COBOL_USER") or None,
                   password=os.environ.get("COBOL_PASSWORD") or None)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "ApiClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- authentication --------------------------------------------------------------------

    def login(self, user: str | None = None, password: str | None = None, *, cache: bool | None = None) -> str:
        user = user or self.user
        password = password if password is not None else self.password
        if not user or password is None:
            raise ApiError("not logged in: set COBOL_USER and COBOL_PASSWORD, or run `cobol login`", 401)
        resp = self._send("POST", "/api/auth/token", data={"username": user, "password": password}, auth=False)
        if resp.status_code == 401:
            raise ApiError(f"login as {user!r} refused: wrong user name or password", 401)
        self._check(resp)
        body = resp.json()
        self.token, self.user = body["access_token"], user
        if cache if cache is not None else self.use_cache:
            data = _read_cache()
            data[self.url] = {"user": user, "token": self.token,
                              "expires_at": time.time() + float(body.get("expires_in", 3600))}
            _write_cache(data)
        return self.token

    def logout(self) -> None:
        data = _read_cache()
        if data.pop(self.url, None) is not None:
            _write_cache(data)
        self.token = None

    def _ensure_token(self) -> str:
        if self.token:
            return self.token
        if self.use_cache:
            entry = _read_cache().get(self.url)
            if (isinstance(entry, dict) and entry.get("token") and entry.get("expires_at", 0) > time.time() + 30
                    and (self.user is None or entry.get("user") == self.user)):
                self.token = entry["token"]
                return self.token
        return self.login()

    # ---- plumbing ------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, auth: bool = True, stream: bool = False, **kw) -> httpx.Response:
        headers = dict(kw.pop("headers", None) or {})
        if auth:
            headers["Authorization"] = f"Bearer {self._ensure_token()}"
        try:
            req = self.http.build_request(method, path, headers=headers, **kw)
            return self.http.send(req, stream=stream)
        except httpx.ConnectError as exc:
            raise ApiError(f"cannot reach the Cobol API at {self.url} ({exc}); is the mesh up (`make up`)? "
                           "Set COBOL_API_URL if it runs elsewhere.") from None
        except httpx.TimeoutException as exc:
            raise ApiError(f"the Cobol API at {self.url} did not answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise ApiError(f"connection to the Cobol API at {self.url} failed: {exc}") from None

    def _request(self, method: str, path: str, *, stream: bool = False, retry_auth: bool = True, **kw) -> httpx.Response:
        resp = self._send(method, path, stream=stream, **kw)
        if resp.status_code == 401 and retry_auth and self.password is not None and self.user:
            resp.close()
            self.token = None
            self.login()
            resp = self._send(method, path, stream=stream, **kw)
        if resp.status_code == 401:
            if self.use_cache:
                self.logout()
            resp.close()
            raise ApiError("the API refused the credentials (token expired or revoked): "
                           "log in again (`cobol login`, or COBOL_USER/COBOL_PASSWORD)", 401)
        return resp

    @staticmethod
    def _check(resp: httpx.Response, what: str = "request") -> httpx.Response:
        if resp.is_success:
            return resp
        if resp.is_stream_consumed is False:
            resp.read()
        status = resp.status_code
        hint = {403: "your role does not allow this", 404: "not found", 409: "not ready",
                413: "too large for this API (COBOL_MAX_UPLOAD_BYTES)", 503: "a mesh service is down"}.get(status)
        msg = f"{what} failed: HTTP {status}: {_detail(resp)}"
        raise ApiError(msg + (f" ({hint})" if hint and hint not in msg else ""), status)

    # ---- API -------------------------------------------------------------------------------------

    def health(self) -> dict:
        return self._check(self._send("GET", "/api/health", auth=False), "health").json()

    def job(self, job_id: str) -> dict:
        return self._check(self._request("GET", f"/api/jobs/{job_id}"), f"status of job {job_id}").json()

    def jobs(self, limit: int = 50, **filters) -> list[dict]:
        """The newest jobs you may see (filters: status, profile, owner, q, since, until, ...)."""
        params = {"limit": limit, **{k: v for k, v in filters.items() if v is not None}}
        return self._check(self._request("GET", "/api/jobs", params=params), "job list").json()["items"]

    def submit(self, source: str | os.PathLike | IO[bytes], *, name: str | None = None, profile: str = "fast",
               progress: Progress | None = None) -> dict:
        """Upload a file (path, or a binary file object such as stdin) as a new job; streamed."""
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            try:
                fobj: IO[bytes] = open(path, "rb")
            except OSError as exc:
                raise ApiError(f"cannot read {path}: {exc.strerror}") from None
            name = name or path.name
            size: int | None = path.stat().st_size if path.is_file() else None
        else:
            fobj, size = source, None
            name = name or "stdin"
        boundary = uuid.uuid4().hex
        safe = name.replace('"', "%22").replace("\r", "").replace("\n", "")
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"profile\"\r\n\r\n{profile}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body() -> Iterator[bytes]:
            yield head
            while True:
                piece = fobj.read(PIECE)
                if not piece:
                    break
                if progress:
                    progress(len(piece))
                yield piece
            yield tail

        # Check the credentials first: a refused token would otherwise only show after the whole
        # body has been sent.
        self._check(self._request("GET", "/api/me"), "authentication")
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        if size is not None:
            headers["Content-Length"] = str(len(head) + size + len(tail))
        try:
            resp = self._request("POST", "/api/jobs", content=body(), headers=headers, retry_auth=False,
                                 timeout=httpx.Timeout(300.0, connect=5.0))
        finally:
            if isinstance(source, (str, os.PathLike)):
                fobj.close()
        return self._check(resp, f"upload of {name}").json()

    def wait(self, job_id: str, *, timeout: float | None = None, interval: float = 0.5,
             on_update: Callable[[dict], None] | None = None) -> dict:
        """Poll until the job is done or failed; returns its last status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if on_update:
                on_update(job)
            if job["status"] in ("done", "failed"):
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise ApiError(f"job {job_id} is still {job['status']} after {timeout:.0f}s")
            time.sleep(interval)
            interval = min(interval * 1.5, 3.0)

    def download(self, job_id: str, out: str | os.PathLike | IO[bytes], *, original: bool = False,
                 progress: Progress | None = None) -> int:
        """Stream the job's .cobol container (or its original bytes) to a path or file object."""
        kind = "original" if original else "result"
        resp = self._request("GET", f"/api/jobs/{job_id}/{kind}", stream=True,
                             timeout=httpx.Timeout(300.0, connect=5.0))
        try:
            self._check(resp, f"download of job {job_id}'s {kind}")
            n = 0
            if isinstance(out, (str, os.PathLike)) and Path(out).exists() and not Path(out).is_file():
                with open(out, "wb") as f:     # a device or pipe: write to it, never rename over it
                    for piece in resp.iter_bytes(PIECE):
                        f.write(piece)
                        n += len(piece)
            elif isinstance(out, (str, os.PathLike)):
                target = Path(out)
                tmp = target.with_name(f".{target.name}.part")
                try:
                    with open(tmp, "wb") as f:
                        for piece in resp.iter_bytes(PIECE):
                            f.write(piece)
                            n += len(piece)
                            if progress:
                                progress(len(piece))
                    os.replace(tmp, target)
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    raise
            else:
                for piece in resp.iter_bytes(PIECE):
                    out.write(piece)
                    n += len(piece)
                    if progress:
                        progress(len(piece))
            return n
        except httpx.TransportError as exc:
            raise ApiError(f"download of job {job_id}'s {kind} broke off: {exc}") from None
        finally:
            resp.close()
