#!/usr/bin/env python3
"""Local infrastructure for Cobol Protocol: Kafka (3 KRaft brokers), Redis, PostgreSQL, S3 (moto).

    scripts/infra.py install [component...]   fetch/install what is missing (idempotent)
    scripts/infra.py start   [component...]   install if needed, start, wait until ready (idempotent)
    scripts/infra.py stop    [component...]   stop exactly the pids in .run/*.pid (also one broker:
                                              `stop kafka-2`; `start kafka` brings it back)
    scripts/infra.py status  [--json]         what runs, where; exit 0 only if everything is up
    scripts/infra.py wait    [component...]   poll until the running components answer
    scripts/infra.py reset   [component...]   stop and delete the component's local data (.data/...)

Components: kafka, redis, postgres, s3 (default: all). Real engines only: Kafka from Maven
Central's jars on Java 17+, Redis and PostgreSQL from Debian, and moto's standalone S3 server
(the project's one stand-in, since no real S3 is reachable). Dev/test only: PostgreSQL trusts
every local connection, nothing is exposed beyond 127.0.0.1.

Everything is plain stdlib. Only the Kafka readiness check and topic creation use
confluent_kafka; when the running interpreter lacks it, the script re-executes itself under
.venv/bin/python.

Environment (defaults in brackets):
    COBOL_KAFKA_PORT [9092]      first client port; brokers use +0/+2/+4, controllers +1/+3/+5
    COBOL_KAFKA_BROKERS [3]      3, or 1 for a single low-memory broker (RF 1)
    COBOL_KAFKA_VERSION [4.1.1]  org.apache.kafka:kafka_2.13 version
    COBOL_KAFKA_HEAP [512m]      -Xms/-Xmx of each broker
    COBOL_JAVA                   java binary to use (default: $JAVA_HOME/bin/java, then PATH)
    COBOL_REDIS_PORT [6379]   COBOL_PG_PORT [5432]   COBOL_S3_PORT [9000]
    COBOL_PORT_OFFSET [0]        added to every default port above (two meshes on one machine)
    COBOL_INFRA_STATE [repo]     where .run/ and .data/ live (the jar cache stays in .cache/)
    COBOL_INFRA_TIMEOUT [180]    seconds any readiness wait may take
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "scripts" / "infra"
TOPICS_FILE = TEMPLATES / "topics.json"
CACHE = ROOT / ".cache"
STATE = Path(os.environ.get("COBOL_INFRA_STATE") or ROOT).resolve()
RUN = STATE / ".run"
DATA = STATE / ".data"
VENV_PY = ROOT / ".venv" / "bin" / "python"

COMPONENTS = ("kafka", "redis", "postgres", "s3")
KAFKA_VERSION = os.environ.get("COBOL_KAFKA_VERSION", "4.1.1")
KAFKA_HEAP = os.environ.get("COBOL_KAFKA_HEAP", "512m")
MAX_BYTES = 16 * 1024 * 1024
PG_DB = PG_USER = PG_PASSWORD = "cobol"
TIMEOUT = float(os.environ.get("COBOL_INFRA_TIMEOUT", "180"))

T0 = time.monotonic()


class InfraError(Exception):
    """A failure with a message meant for a person; printed without a traceback."""


def log(msg: str) -> None:
    print(f"[infra {time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def port_offset() -> int:
    """COBOL_PORT_OFFSET shifts every default port (two meshes on one machine)."""
    raw = os.environ.get("COBOL_PORT_OFFSET", "").strip() or "0"
    try:
        return int(raw)
    except ValueError:
        raise InfraError(f"COBOL_PORT_OFFSET={raw!r} is not an integer") from None


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InfraError(f"{name}={raw!r} is not an integer") from None


def kafka_brokers() -> int:
    n = env_int("COBOL_KAFKA_BROKERS", 3)
    if n not in (1, 3):
        raise InfraError(f"COBOL_KAFKA_BROKERS must be 3 (default) or 1, not {n}")
    return n


def kafka_nodes() -> list[dict]:
    base = env_int("COBOL_KAFKA_PORT", 9092 + port_offset())
    return [{"id": i + 1, "name": f"kafka-{i + 1}", "port": base + 2 * i, "cport": base + 2 * i + 1}
            for i in range(kafka_brokers())]


def bootstrap() -> str:
    return ",".join(f"127.0.0.1:{n['port']}" for n in kafka_nodes())


def redis_port() -> int:
    return env_int("COBOL_REDIS_PORT", 6379 + port_offset())


def pg_port() -> int:
    return env_int("COBOL_PG_PORT", 5432 + port_offset())


def s3_port() -> int:
    return env_int("COBOL_S3_PORT", 9000 + port_offset())


def pg_dsn() -> str:
    return f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{pg_port()}/{PG_DB}"


# --------------------------------------------------------------------------- processes


def pid_file(instance: str) -> Path:
    return RUN / f"{instance}.pid"


def log_file(instance: str) -> Path:
    return RUN / f"{instance}.log"


# What /proc/<pid>/cmdline must contain for a pid file to count as ours (guards pid reuse).
MARKERS = {"kafka": "kafka.Kafka", "redis": "redis-server", "postgres": "postgres", "s3": "moto_server",
           "jaeger": "jaeger"}  # scripts/otel/collector.py (not one of COMPONENTS: built on demand)


def component_of(instance: str) -> str:
    return instance.split("-")[0]


def pid_alive(pid: int, marker: str | None = None) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    if stat[stat.rindex(b")") + 2:][:1] in (b"Z", b"X"):
        return False  # a zombie has exited already
    if marker:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        return marker in cmd
    return True


def read_pid(instance: str) -> int | None:
    try:
        return int(pid_file(instance).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def running_pid(instance: str) -> int | None:
    """The pid in .run/<instance>.pid if that process is alive and is what we started."""
    pid = read_pid(instance)
    if pid and pid_alive(pid, MARKERS[component_of(instance)]):
        return pid
    return None


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def require_ports(instance: str, ports: list[int]) -> None:
    for port in ports:
        if not port_free(port):
            who = ""
            if shutil.which("ss"):
                out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
                who = f" ({out.strip()})" if out.strip() else ""
            raise InfraError(
                f"{instance}: port 127.0.0.1:{port} is already in use by another process{who}, "
                f"not one started by scripts/infra.py. Stop it, or choose other ports with the "
                f"COBOL_*_PORT variables.")


def spawn(instance: str, argv: list[str], *, env: dict | None = None, user: str | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    RUN.mkdir(parents=True, exist_ok=True)
    logf = open(log_file(instance), "ab")
    logf.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} scripts/infra.py start {instance}\n".encode())
    logf.flush()
    kwargs = {}
    if user:
        kwargs.update(user=user, group=user, extra_groups=[])
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                cwd=str(cwd or STATE), env=env, start_new_session=True, **kwargs)
    except OSError as e:
        raise InfraError(f"{instance}: cannot run {argv[0]}: {e}") from None
    finally:
        logf.close()
    return proc


def write_pid(instance: str, pid: int) -> None:
    tmp = pid_file(instance).with_suffix(".pid.tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(pid_file(instance))


def log_tail(instance: str, lines: int = 25) -> str:
    try:
        text = log_file(instance).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text[-lines:])


def wait_for(what: str, check, deadline: float, *, alive=None, interval: float = 0.2):
    """Poll check() until it returns a truthy value; fail at the deadline or when alive() says
    a process we wait on has died. Never a fixed sleep: the interval is only the polling step."""
    last_err = None
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as e:  # noqa: BLE001 - any failure of a probe just means "not yet"
            last_err = e
        if alive is not None:
            dead = alive()
            if dead:
                raise InfraError(f"{what}: {dead}")
        if time.monotonic() > deadline:
            extra = f" (last error: {last_err})" if last_err else ""
            raise InfraError(f"{what}: not ready after {TIMEOUT:.0f}s{extra}")
        time.sleep(interval)


def dead_instances(instances: list[str]):
    def check():
        for inst in instances:
            if not running_pid(inst):
                return f"{inst} exited during start-up; last lines of {log_file(inst)}:\n{log_tail(inst)}"
        return None
    return check


def stop_instances(instances: list[str], timeout: float = 60.0) -> None:
    """Signal every live instance at once (brokers shut down together while the quorum still
    stands), wait with a deadline, then SIGKILL what is left. Removes the pid files."""
    live: dict[str, int] = {}
    for inst in instances:
        pid = running_pid(inst)
        if pid:
            # PostgreSQL: SIGINT is its "fast" shutdown; SIGTERM would wait for every client.
            sig = signal.SIGINT if component_of(inst) == "postgres" else signal.SIGTERM
            log(f"{inst}: stopping pid {pid} ({signal.Signals(sig).name})")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            live[inst] = pid
        elif pid_file(inst).exists():
            log(f"{inst}: not running (removing stale pid file)")
            pid_file(inst).unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    while live and time.monotonic() < deadline:
        for inst, pid in list(live.items()):
            if not pid_alive(pid):
                log(f"{inst}: stopped")
                pid_file(inst).unlink(missing_ok=True)
                del live[inst]
        if live:
            time.sleep(0.1)
    for inst, pid in live.items():
        log(f"{inst}: still running after {timeout:.0f}s, sending SIGKILL to pid {pid}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        kill_deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < kill_deadline:
            time.sleep(0.1)
        pid_file(inst).unlink(missing_ok=True)


# --------------------------------------------------------------------------- installing

_apt_updated = False


def apt_install(*packages: str) -> None:
    global _apt_updated
    if not shutil.which("apt-get"):
        raise InfraError(f"cannot install {' '.join(packages)}: apt-get is missing (install them by hand)")
    if os.geteuid() != 0:
        raise InfraError(f"cannot install {' '.join(packages)}: apt-get needs root (run as root or sudo)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        log("apt-get update")
        r = subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, text=True)
        if r.returncode:
            raise InfraError(f"apt-get update failed ({r.returncode}):\n{(r.stdout + r.stderr)[-2000:]}")
        _apt_updated = True
    log(f"apt-get install -y {' '.join(packages)}")
    r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
                       env=env, capture_output=True, text=True)
    if r.returncode:
        raise InfraError(f"apt-get install {' '.join(packages)} failed ({r.returncode}):\n"
                         f"{(r.stdout + r.stderr)[-2000:]}")


def java_bin(*, install: bool) -> str:
    explicit = os.environ.get("COBOL_JAVA")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise InfraError(f"Java is missing: COBOL_JAVA={explicit} is not an executable file")
        candidates = [explicit]
    else:
        candidates = []
        if os.environ.get("JAVA_HOME"):
            candidates.append(os.path.join(os.environ["JAVA_HOME"], "bin", "java"))
        if shutil.which("java"):
            candidates.append(shutil.which("java"))
    for java in candidates:
        if os.access(java, os.X_OK) and java_major(java) >= 17:
            return java
    if explicit:
        raise InfraError(f"COBOL_JAVA={explicit} is not Java 17 or newer (Kafka 4 needs 17+)")
    if not install:
        raise InfraError("Java 17+ is missing (Kafka 4 needs it): run `scripts/infra.py install kafka` "
                         "or `apt-get install -y openjdk-17-jre-headless`, or set COBOL_JAVA")
    apt_install("openjdk-17-jre-headless")
    java = shutil.which("java")
    if not java or java_major(java) < 17:
        raise InfraError("Java 17+ is still missing after installing openjdk-17-jre-headless")
    return java


def java_major(java: str) -> int:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return 0
    for token in out.split():
        token = token.strip('"')
        if token[:1].isdigit():
            head = token.split(".")[0].split("-")[0].split("+")[0]
            if head == "1":  # 1.8.0_x
                return 8
            with contextlib.suppress(ValueError):
                return int(head)
    return 0


def kafka_libs() -> Path:
    return CACHE / f"kafka-{KAFKA_VERSION}" / "libs"


def install_kafka() -> None:
    java_bin(install=True)
    libs = kafka_libs()
    if (libs / ".complete").exists():
        log(f"kafka: jars present in {libs.relative_to(ROOT)}")
        return
    if not shutil.which("mvn"):
        apt_install("maven")
    tmp = libs.with_name("libs.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"kafka: fetching org.apache.kafka:kafka_2.13:{KAFKA_VERSION} and Log4j 2 with Maven")
    r = subprocess.run(["mvn", "-q", "-B", "-f", str(TEMPLATES / "pom.xml"), "dependency:copy-dependencies",
                        f"-Dkafka.version={KAFKA_VERSION}", "-DincludeScope=runtime",
                        f"-DoutputDirectory={tmp}"], capture_output=True, text=True)
    if r.returncode or not any(tmp.glob(f"kafka_2.13-{KAFKA_VERSION}.jar")):
        raise InfraError(f"kafka: Maven could not fetch kafka_2.13:{KAFKA_VERSION} ({r.returncode}):\n"
                         f"{(r.stdout + r.stderr)[-3000:]}")
    (tmp / ".complete").write_text(KAFKA_VERSION + "\n")
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    log(f"kafka: {len(list(libs.glob('*.jar')))} jars in {libs.relative_to(ROOT)}")


def install_redis() -> None:
    if shutil.which("redis-server"):
        log("redis: redis-server present")
        return
    apt_install("redis-server")
    if not shutil.which("redis-server"):
        raise InfraError("redis: redis-server is still missing after apt-get install redis-server")


def pg_bin_dir() -> Path | None:
    # The real binaries: /usr/local/bin/pg_ctl may be a symlink or something else entirely.
    found = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        p = Path(d)
        if all((p / b).exists() for b in ("postgres", "initdb", "psql")):
            with contextlib.suppress(ValueError):
                found.append((int(p.parent.name), p))
    return max(found)[1] if found else None


def install_postgres() -> None:
    if pg_bin_dir():
        log(f"postgres: binaries present in {pg_bin_dir()}")
        return
    apt_install("postgresql")
    if not pg_bin_dir():
        raise InfraError("postgres: no /usr/lib/postgresql/*/bin after apt-get install postgresql")


def moto_server() -> Path | None:
    for cand in (ROOT / ".venv" / "bin" / "moto_server", Path(sys.executable).parent / "moto_server"):
        if cand.exists():
            return cand
    found = shutil.which("moto_server")
    return Path(found) if found else None


def install_s3() -> None:
    if moto_server():
        log("s3: moto_server present")
        return
    if not VENV_PY.exists():
        raise InfraError("s3: moto_server is missing and there is no .venv: run `make setup` first")
    log("s3: pip install 'moto[server]' into .venv")
    r = subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", "moto[server]"], capture_output=True, text=True)
    if r.returncode or not moto_server():
        raise InfraError(f"s3: installing moto[server] failed ({r.returncode}):\n{(r.stdout + r.stderr)[-2000:]}")


INSTALL = {"kafka": install_kafka, "redis": install_redis, "postgres": install_postgres, "s3": install_s3}


# --------------------------------------------------------------------------- Kafka


def kafka_uuid() -> str:
    """A random Kafka Uuid (base64url, 22 chars), as `StorageTool random-uuid` makes it."""
    while True:
        s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not s.startswith("-"):
            return s


def kafka_cluster_meta() -> dict:
    """One cluster id for all brokers, fixed the first time; refuse a changed layout."""
    meta_path = DATA / "kafka-cluster.json"
    nodes = kafka_nodes()
    layout = {"brokers": len(nodes), "controller_ports": [n["cport"] for n in nodes]}
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in layout} != layout:
            raise InfraError(
                f"kafka: the data in {DATA}/kafka-* was formatted for {meta.get('brokers')} broker(s) with "
                f"controller ports {meta.get('controller_ports')}, but COBOL_KAFKA_BROKERS/COBOL_KAFKA_PORT now "
                f"ask for {layout['brokers']} with {layout['controller_ports']}. Run `scripts/infra.py reset kafka` "
                f"to start over with empty topics, or set the variables back.")
        return meta
    meta = {"cluster_id": kafka_uuid(), **layout}
    DATA.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def kafka_properties(node: dict) -> Path:
    nodes = kafka_nodes()
    rf = len(nodes)
    values = {
        "node_id": node["id"], "broker_count": rf,
        "quorum_voters": ",".join(f"{n['id']}@127.0.0.1:{n['cport']}" for n in nodes),
        "client_port": node["port"], "controller_port": node["cport"],
        "log_dir": DATA / node["name"],
        "replication_factor": rf, "min_isr": min(2, rf),
        "offsets_partitions": 12, "txn_partitions": 6,
        "max_bytes": MAX_BYTES, "max_bytes_x4": 4 * MAX_BYTES,
    }
    text = string.Template((TEMPLATES / "server.properties.template").read_text()).substitute(values)
    RUN.mkdir(parents=True, exist_ok=True)
    path = RUN / f"{node['name']}.properties"
    path.write_text(text)
    return path


def kafka_java_cmd(java: str, *args: str, heap: str | None = None) -> list[str]:
    cmd = [java]
    if heap:
        cmd += [f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                "-XX:+ExitOnOutOfMemoryError"]
    else:
        cmd += ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    cmd += ["-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile=file:{TEMPLATES / 'log4j2.properties'}",
            "-cp", f"{kafka_libs()}/*", *args]
    return cmd


def start_kafka(*, install: bool) -> list[str]:
    nodes = kafka_nodes()
    names = [n["name"] for n in nodes]
    todo = [n for n in nodes if not running_pid(n["name"])]
    for n in nodes:
        if n not in todo:
            log(f"{n['name']}: already running (pid {running_pid(n['name'])})")
    if not todo:
        return names
    if install:
        install_kafka()
    java = java_bin(install=False)
    if not (kafka_libs() / ".complete").exists():
        raise InfraError(f"kafka: jars missing in {kafka_libs()}: run `scripts/infra.py install kafka`")
    for n in todo:
        pid_file(n["name"]).unlink(missing_ok=True)
        require_ports(n["name"], [n["port"], n["cport"]])
    meta = kafka_cluster_meta()
    props = {n["name"]: kafka_properties(n) for n in nodes}
    # Format each broker's storage once (in parallel: each is a JVM start); reuse it afterwards.
    formatting = []
    for n in todo:
        if not (DATA / n["name"] / "meta.properties").exists():
            log(f"{n['name']}: formatting {DATA / n['name']} (cluster id {meta['cluster_id']})")
            formatting.append((n["name"], subprocess.Popen(
                kafka_java_cmd(java, "kafka.tools.StorageTool", "format", "--ignore-formatted",
                               "-t", meta["cluster_id"], "-c", str(props[n["name"]])),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    for name, proc in formatting:
        out, _ = proc.communicate()
        if proc.returncode:
            raise InfraError(f"{name}: kafka-storage format failed ({proc.returncode}):\n{out[-3000:]}")
    cds_opts, cds_shared = class_data_sharing(java, first_run=len(todo) == len(nodes))
    for i, n in enumerate(todo):
        cmd = kafka_java_cmd(java, "kafka.Kafka", str(props[n["name"]]), heap=KAFKA_HEAP)
        if cds_shared or i == 0:  # every broker maps the archive; only one records it
            cmd[1:1] = cds_opts
        proc = spawn(n["name"], cmd)
        write_pid(n["name"], proc.pid)
        log(f"{n['name']}: started pid {proc.pid}, client 127.0.0.1:{n['port']}, controller :{n['cport']}, "
            f"log {log_file(n['name'])}")
    return names


def class_data_sharing(java: str, *, first_run: bool) -> tuple[list[str], bool]:
    """JVM start-up on two cores is mostly class loading: share a dynamic CDS archive of the
    broker's classes (Java 13+). The first broker of a cold start records the archive when it
    exits (`stop`); later starts map it. A stale archive (other JDK or jars) is ignored by the
    JVM itself, so this never breaks a start."""
    import hashlib
    key = hashlib.sha1(f"{java}|{subprocess.run([java, '-version'], capture_output=True, text=True).stderr}"
                       .encode(), usedforsecurity=False).hexdigest()[:10]
    final = kafka_libs().parent / f"kafka-{key}.jsa"
    partial = final.with_suffix(".jsa.partial")
    quiet = ["-Xlog:cds=off", "-Xlog:cds+dynamic=off"]
    if not final.exists() and partial.exists() and partial.stat().st_size > 0 and first_run:
        partial.rename(final)  # written by a broker that has exited since: no JVM is using it
    if final.exists():
        return quiet + [f"-XX:SharedArchiveFile={final}"], True
    if first_run:
        partial.unlink(missing_ok=True)
        return quiet + [f"-XX:ArchiveClassesAtExit={partial}"], False
    return [], False


def admin():
    from confluent_kafka.admin import AdminClient
    # Short reconnect backoff: librdkafka's default grows to 10 s while the brokers boot.
    return AdminClient({"bootstrap.servers": bootstrap(), "socket.timeout.ms": 5000,
                        "reconnect.backoff.ms": 100, "reconnect.backoff.max.ms": 500,
                        "logger": _quiet_logger()})


def _quiet_logger():
    import logging
    lg = logging.getLogger("cobol.infra.kafka")
    lg.addHandler(logging.NullHandler())
    lg.propagate = False
    return lg


def wait_kafka(deadline: float) -> None:
    nodes = kafka_nodes()
    names = [n["name"] for n in nodes]
    a = admin()

    def brokers_up():
        md = a.list_topics(timeout=min(5.0, max(0.5, deadline - time.monotonic())))
        return len(md.brokers) >= len(nodes)

    log(f"kafka: waiting for {len(nodes)} broker(s) to register at {bootstrap()}")
    wait_for("kafka", brokers_up, deadline, alive=dead_instances(names), interval=0.3)
    log("kafka: cluster answers, all brokers registered")
    ensure_topics(a, deadline)


def load_topics() -> list[dict]:
    spec = json.loads(TOPICS_FILE.read_text())
    out = []
    for t in spec["topics"]:
        out.append({"name": t["name"], "partitions": int(t["partitions"]),
                    "config": {**spec.get("defaults", {}), **t.get("config", {})}})
    return out


def ensure_topics(a, deadline: float) -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import ConfigResource, ConfigEntry, AlterConfigOpType, NewTopic

    rf = len(kafka_nodes())
    topics = load_topics()
    existing = a.list_topics(timeout=10).topics
    new = [NewTopic(t["name"], num_partitions=t["partitions"], replication_factor=rf, config=t["config"])
           for t in topics if t["name"] not in existing]
    if new:
        for name, fut in a.create_topics(new, request_timeout=30).items():
            try:
                fut.result()
                log(f"kafka: created topic {name}")
            except KafkaException as e:
                if e.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS: someone else won the race
                    raise InfraError(f"kafka: creating topic {name} failed: {e}") from None
    # Existing topics: keep their config in line with topics.json (idempotent), report drift.
    old = [t for t in topics if t["name"] in existing]
    if old:
        resources = [ConfigResource("topic", t["name"], incremental_configs=[
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in t["config"].items()])
            for t in old]
        for res, fut in a.incremental_alter_configs(resources).items():
            try:
                fut.result()
            except KafkaException as e:
                raise InfraError(f"kafka: updating config of {res.name} failed: {e}") from None
        for t in old:
            md = existing[t["name"]]
            got_rf = len(next(iter(md.partitions.values())).replicas) if md.partitions else 0
            if len(md.partitions) != t["partitions"] or got_rf != rf:
                log(f"kafka: WARNING topic {t['name']} has {len(md.partitions)} partitions RF {got_rf}, "
                    f"topics.json asks {t['partitions']} RF {rf} (not changed; reset kafka to recreate)")

    def all_led():
        md = a.list_topics(timeout=5).topics
        for t in topics:
            tm = md.get(t["name"])
            if tm is None or tm.error is not None or len(tm.partitions) < t["partitions"]:
                return False
            if any(p.leader < 0 or len(p.isrs) < min(2, rf) for p in tm.partitions.values()):
                return False
        return True

    wait_for("kafka topics", all_led, deadline, interval=0.2)
    log(f"kafka: {len(topics)} topics ready (RF {rf}): {', '.join(t['name'] for t in topics)}")


# --------------------------------------------------------------------------- Redis


def redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        return s.recv(64).startswith(b"+PONG")


def start_redis(*, install: bool) -> list[str]:
    if running_pid("redis"):
        log(f"redis: already running (pid {running_pid('redis')})")
        return ["redis"]
    if install:
        install_redis()
    server = shutil.which("redis-server")
    if not server:
        raise InfraError("redis: redis-server is missing: run `scripts/infra.py install redis`")
    port = redis_port()
    pid_file("redis").unlink(missing_ok=True)
    require_ports("redis", [port])
    (DATA / "redis").mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    conf = RUN / "redis.conf"
    conf.write_text("\n".join([
        "# Generated by scripts/infra.py (dev/test): loopback only.",
        "bind 127.0.0.1", f"port {port}", "protected-mode yes",
        "daemonize yes", "supervised no", f"pidfile {pid_file('redis')}",
        f"logfile {log_file('redis')}", "loglevel notice", f"dir {DATA / 'redis'}",
        "dbfilename dump.rdb", "save 3600 1 300 100 60 10000", "appendonly no",
        "always-show-logo no", "",
    ]))
    log(f"redis: starting on 127.0.0.1:{port}, data {DATA / 'redis'}")
    r = subprocess.run([server, str(conf)], capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise InfraError(f"redis: redis-server failed ({r.returncode}): {r.stdout}{r.stderr}\n{log_tail('redis')}")
    # The daemon writes its own pid file (.run/redis.pid) once it has forked.
    pid = wait_for("redis pid file", lambda: running_pid("redis"), time.monotonic() + 30)
    log(f"redis: started pid {pid}, log {log_file('redis')}")
    return ["redis"]


# --------------------------------------------------------------------------- PostgreSQL


def pg_data(*, prepare: bool = False) -> Path:
    """.data/postgres, owned by the postgres user. If that user cannot traverse to .data (a
    parent directory without o+x), a postgres-owned directory under /var/lib/postgresql/cobol/
    (one per state dir) instead; parents that are not ours are never chmod'ed."""
    local = DATA / "postgres"
    if os.geteuid() != 0:
        return local  # not root: the server runs as the current user
    if prepare:
        DATA.mkdir(parents=True, exist_ok=True)
        os.chmod(DATA, os.stat(DATA).st_mode | 0o011)  # let other users traverse (not list) .data
    if DATA.exists() and subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(DATA)],
                                        capture_output=True).returncode == 0:
        return local
    import hashlib
    return Path("/var/lib/postgresql/cobol") / hashlib.sha1(str(STATE).encode(), usedforsecurity=False).hexdigest()[:12]


def pg_user_ok() -> bool:
    if os.geteuid() != 0:
        return True
    return subprocess.run(["id", "-u", "postgres"], capture_output=True).returncode == 0


def psql(sql: str, *, user: str = "postgres", db: str = "postgres", timeout: float = 10) -> str:
    bindir = pg_bin_dir()
    env = dict(os.environ, PGCONNECT_TIMEOUT="3", PGPASSWORD=PG_PASSWORD if user == PG_USER else "")
    r = subprocess.run([str(bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
                        "-h", "127.0.0.1", "-p", str(pg_port()), "-U", user, "-d", db, "-c", sql],
                       capture_output=True, text=True, timeout=timeout, env=env)
    if r.returncode:
        raise RuntimeError((r.stderr or r.stdout).strip())
    return r.stdout.strip()


def start_postgres(*, install: bool) -> list[str]:
    if running_pid("postgres"):
        log(f"postgres: already running (pid {running_pid('postgres')})")
        return ["postgres"]
    if install:
        install_postgres()
    bindir = pg_bin_dir()
    if not bindir:
        raise InfraError("postgres: no PostgreSQL under /usr/lib/postgresql: run `scripts/infra.py install postgres`")
    if not pg_user_ok():
        raise InfraError("postgres: the `postgres` system user is missing (apt-get install postgresql creates it)")
    port = pg_port()
    pid_file("postgres").unlink(missing_ok=True)
    require_ports("postgres", [port])
    pgdata = pg_data(prepare=True)
    as_pg = os.geteuid() == 0
    if pgdata != DATA / "postgres":
        log(f"postgres: the postgres user cannot reach {DATA}; using {pgdata} instead")
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(parents=True, exist_ok=True)
        if as_pg:
            shutil.chown(pgdata, "postgres", "postgres")
        os.chmod(pgdata, 0o700)
        log(f"postgres: initdb {pgdata} (trust auth for local connections: dev/test only)")
        cmd = [str(bindir / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust",
               "--encoding=UTF8", "--locale=C", "--no-instructions"]
        if as_pg:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
        if r.returncode:
            raise InfraError(f"postgres: initdb failed ({r.returncode}):\n{(r.stdout + r.stderr)[-3000:]}")
    # Unix socket in the data dir, unless the path is too long for a socket address (107 bytes).
    sockdir = str(pgdata) if len(str(pgdata)) + len("/.s.PGSQL.65535") < 107 else ""
    argv = [str(bindir / "postgres"), "-D", str(pgdata), "-c", "listen_addresses=127.0.0.1",
            "-c", f"port={port}", "-c", f"unix_socket_directories={sockdir}", "-c", "max_connections=200",
            "-c", "logging_collector=off"]
    log(f"postgres: starting on 127.0.0.1:{port}, data {pgdata}")
    proc = spawn("postgres", argv, user="postgres" if as_pg else None, cwd=Path("/"))
    write_pid("postgres", proc.pid)
    log(f"postgres: started pid {proc.pid}, log {log_file('postgres')}")
    return ["postgres"]


def wait_postgres(deadline: float) -> None:
    wait_for("postgres", lambda: psql("SELECT 1") == "1", deadline, alive=dead_instances(["postgres"]))
    # Role and database, idempotently (the password is set for the DSN; trust ignores it).
    psql(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_USER}') THEN "  # nosec B608 # PG_USER and PG_PASSWORD are module constants
         f"CREATE ROLE {PG_USER} LOGIN PASSWORD '{PG_PASSWORD}'; END IF; END $$;")
    if psql(f"SELECT 1 FROM pg_database WHERE datname = '{PG_DB}'") != "1":  # nosec B608 # PG_DB is a module constant
        psql(f"CREATE DATABASE {PG_DB} OWNER {PG_USER}")
        log(f"postgres: created role and database {PG_DB}")
    wait_for("postgres (cobol)", lambda: psql("SELECT 1", user=PG_USER, db=PG_DB) == "1", deadline)
    log(f"postgres: ready, {pg_dsn()}")


# --------------------------------------------------------------------------- S3 (moto)


def s3_answers(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as resp:  # nosec B310 # a fixed http://127.0.0.1 URL
        return resp.status == 200


def start_s3(*, install: bool) -> list[str]:
    if running_pid("s3"):
        log(f"s3: already running (pid {running_pid('s3')})")
        return ["s3"]
    if install:
        install_s3()
    server = moto_server()
    if not server:
        raise InfraError("s3: moto_server is missing: run `scripts/infra.py install s3` (needs .venv)")
    port = s3_port()
    pid_file("s3").unlink(missing_ok=True)
    require_ports("s3", [port])
    proc = spawn("s3", [str(server), "-H", "127.0.0.1", "-p", str(port)])
    write_pid("s3", proc.pid)
    log(f"s3: started moto_server pid {proc.pid} on http://127.0.0.1:{port}, log {log_file('s3')}")
    return ["s3"]


def wait_s3(deadline: float) -> None:
    wait_for("s3", lambda: s3_answers(s3_port()), deadline, alive=dead_instances(["s3"]))
    log(f"s3: ready, http://127.0.0.1:{s3_port()}")


def wait_redis(deadline: float) -> None:
    wait_for("redis", lambda: redis_ping(redis_port()), deadline, alive=dead_instances(["redis"]))
    log(f"redis: ready, redis://127.0.0.1:{redis_port()}/0")


START = {"kafka": start_kafka, "redis": start_redis, "postgres": start_postgres, "s3": start_s3}
WAIT = {"kafka": wait_kafka, "redis": wait_redis, "postgres": wait_postgres, "s3": wait_s3}


# --------------------------------------------------------------------------- commands


def instances_of(component: str) -> list[str]:
    if component == "kafka":
        names = [n["name"] for n in kafka_nodes()]
        # Also any broker left from a run with a different COBOL_KAFKA_BROKERS.
        extra = sorted(p.stem for p in RUN.glob("kafka-*.pid") if p.stem not in names)
        return names + extra
    return [component]


def endpoints() -> dict:
    return {
        "kafka": {"bootstrap_servers": bootstrap()},
        "redis": {"url": f"redis://127.0.0.1:{redis_port()}/0"},
        "postgres": {"dsn": pg_dsn(), "data": str(pg_data()) if pg_bin_dir() else None},
        "s3": {"endpoint_url": f"http://127.0.0.1:{s3_port()}", "region": "us-east-1",
               "aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
    }


def status(components: list[str], as_json: bool) -> int:
    eps = endpoints()
    report, all_up = {}, True
    for comp in components:
        insts = {}
        for inst in instances_of(comp):
            pid = running_pid(inst)
            if inst.startswith("kafka-") and inst not in [n["name"] for n in kafka_nodes()] and not pid:
                continue
            insts[inst] = {"running": bool(pid), "pid": pid, "log": str(log_file(inst))}
            all_up &= bool(pid)
        report[comp] = {"instances": insts, **eps[comp]}
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        for comp, info in report.items():
            where = {k: v for k, v in info.items() if k != "instances" and v is not None}
            for inst, st in info["instances"].items():
                state = f"running  pid {st['pid']}" if st["running"] else "stopped"
                print(f"{inst:<10} {state}")
            for k, v in where.items():
                if not k.startswith("aws_"):
                    print(f"{'':<10} {k}: {v}")
    return 0 if all_up else 3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/infra.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["install", "start", "stop", "status", "wait", "reset"])
    ap.add_argument("components", nargs="*", help="kafka, redis, postgres, s3, or all (default)")
    ap.add_argument("--json", action="store_true", help="status: machine-readable output")
    ap.add_argument("--no-install", action="store_true", help="start: fail instead of installing what is missing")
    args = ap.parse_args(argv)

    brokers = [c for c in args.components if c.startswith("kafka-")]
    if brokers:                                  # one broker of the cluster (fault drills)
        known = [n["name"] for n in kafka_nodes()]
        if args.command != "stop" or any(b not in known for b in brokers) or len(brokers) != len(args.components):
            ap.error(f"single brokers ({', '.join(known)}) can only be stopped, on their own; "
                     "`start kafka` starts the missing ones")
        RUN.mkdir(parents=True, exist_ok=True)
        with locked():
            stop_instances(brokers)
        return 0
    comps = [c for c in args.components if c != "all"] or list(COMPONENTS)
    for c in comps:
        if c not in COMPONENTS:
            ap.error(f"unknown component {c!r} (choose from {', '.join(COMPONENTS)}, all)")
    comps = [c for c in COMPONENTS if c in comps]  # fixed order

    if args.command == "status":
        return status(comps, args.json)
    if args.command == "install":
        for c in comps:
            INSTALL[c]()
        log("install: done")
        return 0
    if args.command in ("start", "wait") and "kafka" in comps:
        ensure_confluent_kafka(argv)

    RUN.mkdir(parents=True, exist_ok=True)
    with locked():
        if args.command == "stop":
            stop_instances([i for c in comps for i in instances_of(c)])
            return 0
        if args.command == "reset":
            stop_instances([i for c in comps for i in instances_of(c)])
            for c in comps:
                targets = {"kafka": list(DATA.glob("kafka-*")), "redis": [DATA / "redis"],
                           "postgres": [pg_data()], "s3": []}[c]
                for t in targets:
                    if t.exists():
                        log(f"{c}: deleting {t}")
                        shutil.rmtree(t) if t.is_dir() else t.unlink()
            return 0
        started = time.monotonic()
        if args.command == "start":
            for c in comps:
                START[c](install=not args.no_install)
        deadline = time.monotonic() + TIMEOUT
        for c in comps:
            if args.command == "wait":
                missing = [i for i in instances_of(c) if not running_pid(i)]
                if missing:
                    raise InfraError(f"{c}: not running ({', '.join(missing)}): run `scripts/infra.py start {c}`")
            WAIT[c](deadline)
        log(f"{args.command}: {', '.join(comps)} ready in {time.monotonic() - started:.1f}s")
    return 0


@contextlib.contextmanager
def locked():
    """One infra.py at a time per state dir (two test sessions starting at once)."""
    import fcntl
    with open(RUN / "infra.lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("waiting for another scripts/infra.py to finish")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def ensure_confluent_kafka(argv: list[str] | None) -> None:
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        if VENV_PY.exists() and Path(sys.prefix).resolve() != VENV_PY.parent.parent.resolve():
            os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve()),
                                    *(argv if argv is not None else sys.argv[1:])])
        raise InfraError("kafka: confluent_kafka is not importable and there is no .venv: run `make setup`") from None


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InfraError as e:
        print(f"[infra] ERROR: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
