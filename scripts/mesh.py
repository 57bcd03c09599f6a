#!/usr/bin/env python3
"""Start, watch, scale and stop the whole local mesh, as the topology (topology.yaml) describes it.

    scripts/mesh.py up [--no-supervise]   infra, then every instance in the background; waits
                                          until ready; then starts the supervisor
    scripts/mesh.py down [--keep-infra]   the supervisor, then exactly the services' pids, then infra
    scripts/mesh.py status                what runs, and how often the supervisor restarted what
    scripts/mesh.py scale SERVICE N       add or remove instances while jobs run (compressor:
                                          prints how many partitions moved against the minimum)
    scripts/mesh.py supervise             the supervisor loop (what `up` starts in the background)

Instances come from the topology: services, instance counts, ports. Overrides:
COBOL_ARCHIVE_REPLICAS (archive instances), WORKERS or COBOL_COMPRESSOR_WORKERS (compressors).
COBOL_COORDINATOR_HA=0 starts one coordinator instead of the topology's leader + standby.

Each instance writes .run/<instance>.pid and logs to .run/<instance>.log; it is ready when it
has written .run/<instance>.ready and, for gRPC services, answers health SERVING. The desired
instance counts live in .run/mesh.json. The supervisor (.run/supervisor.pid, log
.run/supervisor.log) restarts an instance whose process died, as Kubernetes would, with a
growing back-off when it keeps dying, and records each restart in .run/supervisor.json.
Environment: COBOL_RUN_DIR, COBOL_MESH_TIMEOUT [90], COBOL_ANALYTICS_START_TIMEOUT [600], and every COBOL_* of cobol_mesh.settings.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv" / "bin" / "python"
if Path(sys.executable).resolve() != PY.resolve() and PY.exists() and "COBOL_MESH_REEXEC" not in os.environ:
    os.environ["COBOL_MESH_REEXEC"] = "1"
    os.execv(str(PY), [str(PY), *sys.argv])
sys.path[:0] = [str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec")]

from cobol_mesh import topology  # noqa: E402
from cobol_mesh.settings import group, settings  # noqa: E402

RUN = settings.run_dir
TIMEOUT = float(os.environ.get("COBOL_MESH_TIMEOUT", "90"))
STATE = RUN / "mesh.json"
SUPERVISOR = "supervisor"


def say(msg: str) -> None:
    print(f"mesh: {msg}", flush=True)


# ---- the plan: which instances, with which environment ---------------------------------------

@dataclass
class Planned:
    name: str
    service: str
    module: str
    addr: str | None                   # gRPC address to health-check
    env: dict = field(default_factory=dict)


def _env_count(*names: str) -> int | None:
    for n in names:
        raw = os.environ.get(n, "").strip()
        if raw:
            if not raw.isdigit() or not 0 <= int(raw) <= 64:
                raise SystemExit(f"mesh: {n}={raw!r} must be an instance count 0..64")
            return int(raw)
    return None


def default_counts(topo: topology.Topology) -> dict[str, int]:
    counts = {name: s.instances for name, s in topo.services.items()}
    if "coordinator" in counts and os.environ.get("COBOL_COORDINATOR_HA") == "0":
        counts["coordinator"] = min(counts["coordinator"], 1)
    for svc, names in (("archive", ("COBOL_ARCHIVE_REPLICAS",)),
                       ("compressor", ("WORKERS", "COBOL_COMPRESSOR_WORKERS"))):
        n = _env_count(*names)
        if n is not None and svc in counts:
            counts[svc] = n
    if not (ROOT / "services" / "api" / "__main__.py").exists():
        counts.pop("api", None)
    return counts


def load_counts(topo: topology.Topology) -> dict[str, int]:
    try:
        saved = json.loads(STATE.read_text())["counts"]
        return {k: int(v) for k, v in saved.items() if k in topo.services}
    except (OSError, ValueError, KeyError, TypeError):
        return default_counts(topo)


def save_counts(counts: dict[str, int]) -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    tmp = STATE.with_suffix(".tmp")
    tmp.write_text(json.dumps({"counts": counts}, indent=1))
    tmp.replace(STATE)


def plan(topo: topology.Topology, counts: dict[str, int]) -> list[Planned]:
    """Every instance to run, in start order (the topology's order), with its environment."""
    def insts(svc: str):
        s = topo.services.get(svc)
        return [s.instance(i, topo.port_offset) for i in range(1, counts.get(svc, 0) + 1)] if s else []

    def addr(port: int) -> str:
        return f"127.0.0.1:{port}"

    archives = insts("archive")
    shared: dict[str, str] = {}
    if insts("ingest"):
        shared["COBOL_INGEST_ADDR"] = addr(insts("ingest")[0].port)
    coords = insts("coordinator")
    if coords:
        # every replica answers reads (standbys too): clients fall over between them
        shared["COBOL_COORDINATOR_ADDRS"] = ",".join(addr(c.port) for c in coords)
        shared["COBOL_COORDINATOR_ADDR"] = ("ipv4:" + shared["COBOL_COORDINATOR_ADDRS"]
                                            if len(coords) > 1 else addr(coords[0].port))
    if insts("federator"):
        shared["COBOL_FEDERATOR_ADDR"] = addr(insts("federator")[0].port)
    if archives:
        # clients get every replica: gRPC's pick_first moves to the next one when one is down
        shared["COBOL_ARCHIVE_ADDR"] = ("ipv4:" + ",".join(addr(a.port) for a in archives)
                                        if len(archives) > 1 else addr(archives[0].port))
    out = []
    for svc, s in topo.services.items():
        for inst in insts(svc):
            env = dict(shared, COBOL_INSTANCE=inst.name)
            if inst.metrics_port:
                env["COBOL_METRICS_PORT"] = str(inst.metrics_port)
            grpc_addr = None
            if svc == "archive":
                grpc_addr = addr(inst.port)
                env["COBOL_ARCHIVE_ADDR"] = grpc_addr
                env["COBOL_ARCHIVE_PEERS"] = ",".join(addr(a.port) for a in archives if a.name != inst.name)
                env["COBOL_ARCHIVE_DIR"] = str(settings.archive_dir / inst.name)
                env["COBOL_S3_BUCKET"] = f"{settings.s3_bucket}-{inst.name}"
            elif svc == "coordinator":
                grpc_addr = env["COBOL_COORDINATOR_ADDR"] = addr(inst.port)
            elif svc == "ingest":
                grpc_addr = env["COBOL_INGEST_ADDR"] = addr(inst.port)
            elif svc == "federator":
                grpc_addr = env["COBOL_FEDERATOR_ADDR"] = addr(inst.port)
            elif svc == "api":
                env["COBOL_API_PORT"] = str(inst.port)
            out.append(Planned(inst.name, svc, s.module, grpc_addr, env))
    return out


# ---- processes --------------------------------------------------------------------------------

def pid_of(instance: str) -> int | None:
    try:
        pid = int((RUN / f"{instance}.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    marker = "mesh.py" if instance == SUPERVISOR else "services."
    return pid if marker in cmd and _not_zombie(pid) else None      # a recycled pid is not ours


def _not_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def log_tail(instance: str, n: int = 20) -> str:
    try:
        return "\n".join((RUN / f"{instance}.log").read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def is_ready(p: Planned, pid: int) -> bool:
    if p.service == "api":
        return _api_ready(p.env.get("COBOL_API_PORT"))
    try:
        if int((RUN / f"{p.name}.ready").read_text().strip()) != pid:
            return False
    except (OSError, ValueError):
        return False
    if p.addr:
        from cobol_mesh.grpc_server import health_status
        return health_status(p.addr) == "SERVING"
    return True


def write_pid(name: str, pid: int) -> None:
    tmp = RUN / f"{name}.pid.tmp"
    tmp.write_text(f"{pid}\n")
    tmp.replace(RUN / f"{name}.pid")


def start(p: Planned) -> subprocess.Popen:
    RUN.mkdir(parents=True, exist_ok=True)
    (RUN / f"{p.name}.ready").unlink(missing_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", **p.env)
    if p.service == "api" and not env.get("COBOL_ADMIN_PASSWORD"):
        env["COBOL_ADMIN_PASSWORD"] = admin_password()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with open(RUN / f"{p.name}.log", "ab") as log:
        proc = subprocess.Popen([str(PY), "-m", p.module], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    write_pid(p.name, proc.pid)
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


def start_timeout(service: str) -> float:
    """The analytics worker rebuilds its tables from their changelogs before it is ready: after
    a long run (a 30-minute soak) that takes minutes, so it gets COBOL_ANALYTICS_START_TIMEOUT."""
    if service == "analytics":
        return max(TIMEOUT, float(os.environ.get("COBOL_ANALYTICS_START_TIMEOUT", "600")))
    return TIMEOUT


def wait_ready(p: Planned, proc: subprocess.Popen) -> None:
    began = time.monotonic()
    limit = start_timeout(p.service)
    next_note = began + 30
    while time.monotonic() < began + limit:
        if proc.poll() is not None:
            raise SystemExit(f"mesh: {p.name} exited during start-up (status {proc.returncode}); "
                             f"last log lines:\n{log_tail(p.name)}")
        if is_ready(p, proc.pid):
            return
        if time.monotonic() >= next_note:       # progress on a long start, so it does not look hung
            why = "; rebuilding its tables from the changelogs" if p.service == "analytics" else ""
            say(f"{p.name}: still starting after {time.monotonic() - began:.0f}s (up to {limit:.0f}s){why}")
            next_note += 30
        time.sleep(0.2)
    raise SystemExit(f"mesh: {p.name} not ready after {limit:.0f}s; last log lines:\n{log_tail(p.name)}")


def _api_ready(port: str | None) -> bool:
    import urllib.request
    port = port or os.environ.get("COBOL_API_PORT") or str(8000 + int(os.environ.get("COBOL_PORT_OFFSET") or 0))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1) as r:  # nosec B310 # a fixed http://127.0.0.1 URL
            return r.status < 500
    except Exception:
        return False


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
        _reap()
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


def _reap() -> None:
    """Collect exited children (the supervisor is the parent of what it restarted)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def running_instances(topo: topology.Topology) -> list[str]:
    """Every instance with a pid file (planned or left from a larger scale), stop order first."""
    kinds = set(topo.services)
    names = {p.stem for p in RUN.glob("*.pid") if p.stem.rsplit("-", 1)[0] in kinds}
    order = {n: i for i, n in enumerate(p.name for p in plan(topo, {k: 64 for k in kinds}))}
    return sorted(names, key=lambda n: -order.get(n, -1))     # reverse start order: api, ingest first


# ---- commands ---------------------------------------------------------------------------------

def up(supervise: bool = True) -> None:
    r = subprocess.run([str(PY), str(ROOT / "scripts" / "infra.py"), "start"], cwd=ROOT)
    if r.returncode:
        raise SystemExit(f"mesh: scripts/infra.py start failed (exit {r.returncode})")
    topo = topology.load()
    counts = default_counts(topo)
    save_counts(counts)
    say("instances: " + ", ".join(f"{k} x{v}" for k, v in counts.items())
        + (" (one coordinator: COBOL_COORDINATOR_HA=0)" if os.environ.get("COBOL_COORDINATOR_HA") == "0" else ""))
    for p in plan(topo, counts):
        pid = pid_of(p.name)
        if pid:
            say(f"{p.name}: already running (pid {pid})")
            continue
        proc = start(p)
        wait_ready(p, proc)
        say(f"{p.name}: ready (pid {proc.pid}{', ' + p.addr if p.addr else ''}; log {RUN / (p.name + '.log')})")
    if supervise:
        start_supervisor()
    say("up")


def start_supervisor() -> None:
    pid = pid_of(SUPERVISOR)
    if pid:
        say(f"supervisor: already running (pid {pid})")
        return
    with open(RUN / f"{SUPERVISOR}.log", "ab") as log:
        proc = subprocess.Popen([str(PY), str(Path(__file__).resolve()), "supervise"], cwd=ROOT,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    write_pid(SUPERVISOR, proc.pid)
    say(f"supervisor: running (pid {proc.pid}; restarts crashed services; log {RUN / 'supervisor.log'})")


def down(keep_infra: bool = False) -> None:
    stop_instances([SUPERVISOR])                # first, or it would restart what we stop
    stop_instances(running_instances(topology.load()))
    if keep_infra:
        say("services down (infrastructure left running)")
        return
    r = subprocess.run([str(PY), str(ROOT / "scripts" / "infra.py"), "stop"], cwd=ROOT)
    if r.returncode:
        raise SystemExit(f"mesh: scripts/infra.py stop failed (exit {r.returncode})")
    say("down")


def restarts() -> dict:
    try:
        return json.loads((RUN / "supervisor.json").read_text())
    except (OSError, ValueError):
        return {}


def status() -> int:
    subprocess.run([str(PY), str(ROOT / "scripts" / "infra.py"), "status"], cwd=ROOT)
    topo = topology.load()
    ok = True
    seen = restarts()
    for p in plan(topo, load_counts(topo)):
        pid = pid_of(p.name)
        state = "stopped"
        if pid:
            state = "ready" if is_ready(p, pid) else "starting"
        ok &= state == "ready"
        r = seen.get(p.name)
        note = f"restarted {r['restarts']}x, last {r['last']} ({r['why']})" if r else ""
        print(f"{p.name:<14} {state:<8} {'pid ' + str(pid) if pid else '':<11} {p.addr or '':<16} {note}".rstrip())
    sup = pid_of(SUPERVISOR)
    print(f"{SUPERVISOR:<14} {'running' if sup else 'stopped':<8} {'pid ' + str(sup) if sup else ''}".rstrip())
    return 0 if ok else 1


def supervise(interval: float = 0.5) -> int:
    """Restart every planned instance whose process is gone. Back-off: 1 s after a death,
    doubling (to 30 s) while an instance keeps dying within a minute of its start."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    topo = topology.load()
    history: dict = {}                        # this supervisor's restarts (status shows them)
    (RUN / "supervisor.json").unlink(missing_ok=True)
    backoff: dict[str, float] = {}
    not_before: dict[str, float] = {}
    started_at: dict[str, float] = {}
    say(f"supervisor: watching (pid {os.getpid()})")
    while not stop:
        _reap()
        now = time.monotonic()
        for p in plan(topo, load_counts(topo)):
            if pid_of(p.name):
                if now - started_at.get(p.name, now) > 60:
                    backoff.pop(p.name, None)
                continue
            if p.name not in not_before:               # just found dead: wait its back-off
                delay = backoff.get(p.name, 0.5)
                backoff[p.name] = min(delay * 2, 30.0)
                not_before[p.name] = now + delay
                say(f"supervisor: {p.name} is down; restarting in {delay:.1f}s")
                continue
            if now < not_before[p.name]:
                continue
            del not_before[p.name]
            proc = start(p)
            started_at[p.name] = time.monotonic()
            r = history.setdefault(p.name, {"restarts": 0})
            r.update(restarts=r["restarts"] + 1, pid=proc.pid, why="process exited",
                     last=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            tmp = RUN / "supervisor.json.tmp"
            tmp.write_text(json.dumps(history, indent=1))
            tmp.replace(RUN / "supervisor.json")
            say(f"supervisor: restarted {p.name} (pid {proc.pid}; restart #{r['restarts']})")
        time.sleep(interval)
    say("supervisor: stopped")
    return 0


def scale(service: str, n: int) -> int:
    topo = topology.load()
    topo.service(service)                           # a clear error for an unknown service
    if not 0 <= n <= 64:
        raise SystemExit("mesh: the instance count must be 0..64")
    counts = load_counts(topo)
    before_n = counts.get(service, 0)
    watch = service == "compressor"
    before = group_assignment(group("compressor")) if watch else {}
    t0 = time.monotonic()
    new_counts = dict(counts, **{service: n})
    save_counts(new_counts)                         # the supervisor follows the new plan
    old = {p.name for p in plan(topo, counts) if p.service == service}
    for p in plan(topo, new_counts):
        if p.service == service and p.name not in old and not pid_of(p.name):
            proc = start(p)
            wait_ready(p, proc)
            say(f"{p.name}: ready (pid {proc.pid})")
    gone = sorted({pl.name for pl in plan(topo, counts) if pl.service == service}
                  - {pl.name for pl in plan(topo, new_counts)}, reverse=True)
    stop_instances(gone)
    say(f"{service}: {before_n} -> {n} instances")
    if watch and n:
        after = wait_stable(group("compressor"), n, timeout=60)
        moved, minimum, total = moves(before, after)
        say(f"compressor group: {total} partitions, {moved} moved (minimum {minimum}), "
            f"stable {time.monotonic() - t0:.1f}s after the scale began")
    return 0


# ---- consumer-group figures (scale events) -----------------------------------------------------

def group_assignment(group_id: str) -> dict[int, str]:
    """partition -> member (client id) of the group's current assignment, {} if none."""
    from confluent_kafka.admin import AdminClient
    a = AdminClient({"bootstrap.servers": settings.kafka_bootstrap, "log_level": 3})
    try:
        desc = a.describe_consumer_groups([group_id], request_timeout=10)[group_id].result(15)
    except Exception:
        return {}
    out = {}
    for m in desc.members:
        for tp in (m.assignment.topic_partitions if m.assignment else []):
            if tp.topic == settings.topic_chunks:
                out[tp.partition] = m.client_id + "/" + m.member_id[-6:]
    return out


def partitions_of(topic: str) -> int:
    from confluent_kafka.admin import AdminClient
    a = AdminClient({"bootstrap.servers": settings.kafka_bootstrap, "log_level": 3})
    return len(a.list_topics(topic, timeout=10).topics[topic].partitions)


def wait_stable(group_id: str, members: int, timeout: float) -> dict[int, str]:
    total = partitions_of(settings.topic_chunks)
    deadline = time.monotonic() + timeout
    got: dict[int, str] = {}
    while time.monotonic() < deadline:
        got = group_assignment(group_id)
        if len(got) == total and len({v for v in got.values()}) == min(members, total):
            return got
        time.sleep(0.3)
    say(f"warning: the group did not settle in {timeout:.0f}s ({len(got)} of {total} partitions assigned)")
    return got


def moves(before: dict[int, str], after: dict[int, str]) -> tuple[int, int, int]:
    """(partitions that changed owner, the fewest a balanced assignment needs, partitions)."""
    moved = sum(1 for p, m in after.items() if p in before and before[p] != m)
    return moved, minimum_moves(before, set(after.values()), len(after)), len(after)


def minimum_moves(before: dict[int, str], members_after: set[str], partitions: int) -> int:
    """Fewest partitions that must change owner to reach a balanced assignment (each member
    after the event holds floor or ceil of partitions/members) from `before`: members present
    before and after keep what they can, everything else moves."""
    if not members_after or not partitions or not before:
        return 0
    held: dict[str, int] = {}
    for m in before.values():
        held[m] = held.get(m, 0) + 1
    base, extra = divmod(partitions, len(members_after))
    survivors = sorted((held[m] for m in members_after if m in held), reverse=True)
    caps = [base + 1] * extra + [base] * (len(members_after) - extra)
    kept = sum(min(h, c) for h, c in zip(survivors, caps))
    return len(before) - kept


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "status"
    if cmd in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    try:
        if cmd == "up":
            up(supervise="--no-supervise" not in argv)
        elif cmd == "down":
            down(keep_infra="--keep-infra" in argv)
        elif cmd == "status":
            return status()
        elif cmd == "supervise":
            return supervise()
        elif cmd == "scale" and len(argv) == 4 and argv[3].isdigit():
            return scale(argv[2], int(argv[3]))
        else:
            print(__doc__)
            return 2
    except topology.TopologyError as exc:
        raise SystemExit(f"mesh: {exc}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
