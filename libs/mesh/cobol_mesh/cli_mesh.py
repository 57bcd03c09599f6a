"""The mesh commands of the `cobol` CLI: submit, status, fetch, jobs (and login/logout).

`register(subparsers)` adds them to the CLI's argparse sub-parsers; each command returns an
exit code (0 ok, 1 error or failed job, 2 usage) and prints errors as ``cobol: ...``.
The API URL comes from --api-url or COBOL_API_URL (default http://127.0.0.1:8000);
credentials from COBOL_TOKEN, the token cached in ~/.config/cobol/token, or
COBOL_USER/COBOL_PASSWORD (see cobol_mesh.client).
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from typing import Callable

from .client import DEFAULT_URL, ApiClient, ApiError

PROFILES = ("fast", "balanced", "max")


class _Progress:
    """One self-rewriting line on stderr, only when stderr is a terminal."""

    def __init__(self, label: str, total: int | None, enabled: bool | None = None) -> None:
        self.label, self.total, self.done = label, total, 0
        self.on = sys.stderr.isatty() if enabled is None else enabled
        self.t0 = self.last = time.monotonic()

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.on and now - self.last >= 0.2:
            self.last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.t0, 1e-9) / 1e6
        if self.total:
            pct = min(100.0, 100.0 * self.done / self.total)
            bar = "#" * int(pct / 4)
            line = f"{self.label} [{bar:<25}] {pct:5.1f}% {self.done / 1e6:9.1f} MB {rate:7.1f} MB/s"
        else:
            line = f"{self.label} {self.done / 1e6:9.1f} MB {rate:7.1f} MB/s"
        sys.stderr.write("\r" + line)
        sys.stderr.flush()

    def close(self) -> None:
        if self.on:
            self._draw(time.monotonic())
            sys.stderr.write("\n")
            sys.stderr.flush()


def _client(args) -> ApiClient:
    return ApiClient.from_env(getattr(args, "api_url", None))


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _line(job: dict) -> str:
    ratio = f"{job['ratio']:.2f}x" if job.get("ratio") else "-"
    pct = f"{100 * (job.get('progress') or 0):5.1f}%"
    reason = f"  ({job['reason']})" if job.get("reason") else ""
    return (f"{job['id']}  {job['status']:<7} {pct}  {_fmt_bytes(job.get('bytes_in')):>10} -> "
            f"{_fmt_bytes(job.get('bytes_out')):>10}  {ratio:>8}  {job.get('profile') or '-':<8} "
            f"{job.get('name') or ''}{reason}")


def _run(fn: Callable[[argparse.Namespace, ApiClient], int]) -> Callable[[argparse.Namespace], int]:
    def wrapper(args: argparse.Namespace) -> int:
        try:
            with _client(args) as client:
                return fn(args, client)
        except ApiError as exc:
            print(f"cobol: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"cobol: {exc}", file=sys.stderr)
            return 1
    return wrapper


def cmd_submit(args, client: ApiClient) -> int:
    if args.file == "-":
        source, total, name = sys.stdin.buffer, None, args.name or "stdin"
    else:
        if not os.path.isfile(args.file):
            raise ApiError(f"{args.file}: no such file")
        source, total, name = args.file, os.path.getsize(args.file), args.name
    progress = _Progress("upload", total)
    try:
        job = client.submit(source, name=name, profile=args.profile, progress=progress)
    finally:
        progress.close()
    if not args.wait:
        print(json.dumps(job) if args.json else job["id"])
        return 0
    if not args.json:
        print(job["id"], file=sys.stderr)
    return _wait(client, job["id"], args.timeout, args.json)


def _wait(client: ApiClient, job_id: str, timeout: float | None, as_json: bool) -> int:
    bar = _Progress("job", 1000)

    def on_update(job: dict) -> None:
        target = int(1000 * (job.get("progress") or 0))
        if target > bar.done:
            bar(target - bar.done)

    try:
        job = client.wait(job_id, timeout=timeout, on_update=on_update)
    finally:
        bar.close()
    print(json.dumps(job) if as_json else _line(job))
    if job["status"] == "failed":
        print(f"cobol: job {job_id} failed: {job.get('reason') or 'no reason given'}", file=sys.stderr)
        return 1
    return 0


def cmd_status(args, client: ApiClient) -> int:
    if args.wait:
        return _wait(client, args.job, args.timeout, args.json)
    job = client.job(args.job)
    print(json.dumps(job) if args.json else _line(job))
    return 1 if job["status"] == "failed" else 0


def cmd_jobs(args, client: ApiClient) -> int:
    jobs = client.jobs(args.limit)
    if args.json:
        print(json.dumps(jobs))
    else:
        for job in jobs:
            print(_line(job))
    return 0


def cmd_fetch(args, client: ApiClient) -> int:
    total = None
    if args.original:
        try:
            total = int(client.job(args.job).get("bytes_in") or 0) or None
        except ApiError:
            total = None
    if args.output != "-" and os.path.exists(args.output) and not args.force:
        raise ApiError(f"{args.output} already exists (use --force to overwrite)")
    progress = _Progress("download", total)
    try:
        out = sys.stdout.buffer if args.output == "-" else args.output
        n = client.download(args.job, out, original=args.original, progress=progress)
    finally:
        progress.close()
    if args.output != "-":
        print(f"{args.output}: {n} bytes", file=sys.stderr)
    return 0


def cmd_login(args, client: ApiClient) -> int:
    user = args.user or os.environ.get("COBOL_USER") or input("user: ")
    password = os.environ.get("COBOL_PASSWORD") if args.password_env else None
    if password is None:
        password = getpass.getpass(f"password for {user}: ")
    client.login(user, password, cache=True)
    print(f"logged in to {client.url} as {user}", file=sys.stderr)
    return 0


def cmd_logout(args, client: ApiClient) -> int:
    client.logout()
    return 0


def register(subparsers) -> None:
    """Add the mesh commands to the `cobol` CLI's sub-parsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api-url", metavar="URL",
                        help=f"the Cobol API (default $COBOL_API_URL or {DEFAULT_URL})")
    common.add_argument("--json", action="store_true", help="print JSON")

    s = subparsers.add_parser("submit", parents=[common], help="upload a file to the mesh as a new job",
                              description="Upload FILE (or - for stdin) to the mesh; prints the job id.")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--profile", choices=PROFILES, default="fast", help="codec profile (default fast)")
    s.add_argument("--name", help="job name (default: the file's name)")
    s.add_argument("--wait", action="store_true", help="wait until the job is done (exit 1 if it fails)")
    s.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="give up waiting after this")
    s.set_defaults(func=_run(cmd_submit))

    st = subparsers.add_parser("status", parents=[common], help="show a job's status")
    st.add_argument("job", metavar="JOB")
    st.add_argument("--wait", action="store_true", help="wait until the job is done or failed")
    st.add_argument("--timeout", type=float, default=None, metavar="SECONDS")
    st.set_defaults(func=_run(cmd_status))

    f = subparsers.add_parser("fetch", parents=[common], help="download a job's .cobol container or original")
    f.add_argument("job", metavar="JOB")
    f.add_argument("-o", "--output", required=True, metavar="OUT", help="output file, or - for stdout")
    f.add_argument("--original", action="store_true", help="fetch the original bytes instead of the container")
    f.add_argument("-f", "--force", action="store_true", help="overwrite OUT if it exists")
    f.set_defaults(func=_run(cmd_fetch))

    j = subparsers.add_parser("jobs", parents=[common], help="list the newest jobs")
    j.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    j.set_defaults(func=_run(cmd_jobs))

    li = subparsers.add_parser("login", parents=[common], help="log in to the API and cache the token")
    li.add_argument("--user", help="user name (default $COBOL_USER)")
    li.add_argument("--password-env", action="store_true", help="take the password from $COBOL_PASSWORD")
    li.set_defaults(func=_run(cmd_login))

    lo = subparsers.add_parser("logout", parents=[common], help="forget the cached token")
    lo.set_defaults(func=_run(cmd_logout))

    __import__("cobol_federation.cli").cli.register(subparsers)   # `cobol federate` (owner: federator)
