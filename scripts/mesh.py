#!/usr/bin/env python3
"""Start and stop the whole local mesh: infrastructure (scripts/infra.py) and every service.

    scripts/mesh.py up       infra start, then each service in the background; waits until ready
    scripts/mesh.py down     stop exactly the services' pids in .run/, then infra stop
                             (--keep-infra: the services only)
    scripts/mesh.py status   what runs

Each service instance writes .run/<instance>.pid and logs to .run/<instance>.log; it is ready
when it has written .run/<instance>.ready and, for gRPC services, answers health SERVING.
Idempotent: a live instance is left alone; a stale pid file is replaced.
Environment: COBOL_RUN_DIR, COBOL_MESH_TIMEOUT [90], and every COBOL_* of cobol_mesh.settings.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv" / "bin" / "python"
if Path(sys.executable).resolve() != PY.resolve() and PY.exists() and "COBOL_MESH_REEXEC" not in os.environ:
    os.environ["COBOL_MESH_REEXEC"] = "1"
    os.execv(str(PY), [str(PY), *sys.argv])
sys.path[:0] = [str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec")]

from cobol_mesh.settings import settings  # noqa: E402

RUN = settings.run_dir
TIMEOUT = float(os.environ.get("COBOL_MESH_TIMEOUT", "90"))

# (instance, module, gRPC address to health-check or None)
SERVICES = [
    ("coordinator-1", "services.coordinator", settings.coordinator_addr),
    ("archive-1", "services.archive", settings.archive_addr),
    ("compressor-1", "services.compressor", None),
    ("compressor-2", "services.compressor", None),
    ("ingest-1", "services.ingest", settings.ingest_addr),
]
if (ROOT / "services" / "api" / "__main__.py").exists():
    SERVICES.append(("api-1", "services.api", None))
KINDS = ("coordinator", "archive", "compressor", "ingest", "api")


def say(msg: str) -> None:
    print(f"mesh: {msg}", flush=True)


def pid_of(instance: str) -> int | None:
    try:
        pid = int((RUN / f"{instance}.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    return pid if "services." in cmd else None       # a recycled pid is not ours


def log_tail(instance: str, n: int = 20) -> str:
    try:
        return "\n".join((RUN / f"{instance}.log").read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def is_ready(instance: str, addr: str | None, pid: int) -> bool:
    if instance.startswith("api"):
        return _api_ready()
    try:
        if int((RUN / f"{instance}.ready").read_text().strip()) != pid:
            return False
    except (OSError, ValueError):
        return False
    if addr:
        from cobol_mesh.grpc_server import health_status
        return health_status(addr) == "SERVING"
    return True


def start(instance: str, module: str) -> subprocess.Popen:
    RUN.mkdir(parents=True, exist_ok=True)
    (RUN / f"{instance}.ready").unlink(missing_ok=True)
    env = dict(os.environ, COBOL_INSTANCE=instance, PYTHONUNBUFFERED="1")
    if instance.startswith("api") and not env.get("COBOL_ADMIN_PASSWORD"):
        env["COBOL_ADMIN_PASSWORD"] = admin_password()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with open(RUN / f"{instance}.log", "ab") as log:
        proc = subprocess.Popen([str(PY), "-m", module], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    tmp = RUN / f"{instance}.pid.tmp"
    tmp.write_text(f"{proc.pid}\n")
    tmp.replace(RUN / f"{instance}.pid")
    return proc


def admin_password() -> str:
    """The local mesh's bootstrap admin password: generated once, kept in .data/ (mode 0600)."""
    import secrets
    path = ROOT / ".data" / "admin-password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(18) + "\n")
        say(f"generated the API's admin password into {path} (user: admin)")
    return path.read_text().strip()


def wait_ready(instance: str, addr: str | None, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mesh: {instance} exited during start-up (status {proc.returncode}); "
                             f"last log lines:\n{log_tail(instance)}")
        if is_ready(instance, addr, proc.pid):
            return
        time.sleep(0.2)
    raise SystemExit(f"mesh: {instance} not ready after {TIMEOUT:.0f}s; last log lines:\n{log_tail(instance)}")


def _api_ready() -> bool:
    import urllib.request
    port = os.environ.get("COBOL_API_PORT") or str(8000 + int(os.environ.get("COBOL_PORT_OFFSET") or 0))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1) as r:
            return r.status < 500
    except Exception:
        return False


def up() -> None:
    r = subprocess.run([str(PY), str(ROOT / "scripts" / "infra.py"), "start"], cwd=ROOT)
    if r.returncode:
        raise SystemExit(f"mesh: scripts/infra.py start failed (exit {r.returncode})")
    for instance, module, addr in SERVICES:
        pid = pid_of(instance)
        if pid:
            say(f"{instance}: already running (pid {pid})")
            continue
        proc = start(instance, module)
        wait_ready(instance, addr, proc)
        say(f"{instance}: ready (pid {proc.pid}{', ' + addr if addr else ''}; log {RUN / (instance + '.log')})")
    say("up")


def stop_instances(names: list[str], timeout: float = 30.0) -> None:
    pids = {n: p for n in names if (p := pid_of(n))}
    for n, p in pids.items():
        say(f"{n}: stopping pid {p}")
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = {n: p for n, p in pids.items() if Path(f"/proc/{p}").exists() and _not_zombie(p)}
        time.sleep(0.1)
    for n, p in pids.items():
        say(f"{n}: did not stop in {timeout:.0f}s, killing pid {p}")
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for n in names:
        for suffix in (".pid", ".ready"):
            (RUN / f"{n}{suffix}").unlink(missing_ok=True)


def _not_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def service_instances() -> list[str]:
    names = {p.stem for p in RUN.glob("*.pid") if p.stem.split("-")[0] in KINDS}
    order = {n: i for i, (n, _m, _a) in enumerate(SERVICES)}
    return sorted(names, key=lambda n: -order.get(n, -1))     # reverse start order: ingest first


def down(keep_infra: bool = False) -> None:
    stop_instances(service_instances())
    if keep_infra:
        say("services down (infrastructure left running)")
        return
    r = subprocess.run([str(PY), str(ROOT / "scripts" / "infra.py"), "stop"], cwd=ROOT)
    if r.returncode:
        raise SystemExit(f"mesh: scripts/infra.py stop failed (exit {r.returncode})")
    say("down")


def status() -> int:
    subprocess.run([str(PY), str(ROOT / "scripts" / "infra.py"), "status"], cwd=ROOT)
    ok = True
    for instance, _module, addr in SERVICES:
        pid = pid_of(instance)
        state = "stopped"
        if pid:
            state = "ready" if is_ready(instance, addr, pid) else "starting"
        ok &= state == "ready"
        print(f"{instance:<14} {state:<8} {'pid ' + str(pid) if pid else ''} {addr or ''}".rstrip())
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "status"
    if cmd == "up":
        up()
    elif cmd == "down":
        down(keep_infra="--keep-infra" in argv)
    elif cmd == "status":
        return status()
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
