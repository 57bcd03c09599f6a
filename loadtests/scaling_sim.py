#!/usr/bin/env python3
"""`make scaling-sim`: check the scaling model (docs/scaling.md) against N worker processes, each
in its own network namespace behind a bandwidth-limited veth, all talking to one real Kafka
broker on the host. Root only.

    sudo .venv/bin/python loadtests/scaling_sim.py [--workers 1,2,4] [--rate-mbit 40]
        [--mib 48] [--partitions 12] [--profile fast] [--corpora DIR] [--json OUT]
    .venv/bin/python loadtests/scaling_sim.py --cleanup     # remove what a killed run left

1. Namespaces `cobolsim<offset>-<i>` on a bridge `csb<offset>` (10.213.<offset mod 250>.0/24, no
   uplink), each veth end limited by `tc tbf` to --rate-mbit (both directions).
2. A single-node Apache Kafka (KRaft, the project's jars) listening on the bridge address only
   (controller on 127.0.0.1), its data in .data/scaling-sim/ (removed afterwards).
3. --mib of real corpus bytes (every file of --corpora, concatenated and cut into 1 MiB chunks,
   repeated when short) produced to `sim.chunks` (--partitions partitions) before any timing.
4. For each N: N workers, worker i in namespace i, each reading its share of the partitions
   (p mod N == i: the split a consumer group makes), running the real codec (`encode_frame`) on
   every chunk and producing the frame to `sim.frames` (acks=all). All start together; the
   throughput is input bytes / (last worker's end - first start).
5. Beside each N: the model's prediction (scripts/scaling_model.py `sim_prediction`) from the
   codec's speed on one core, measured in this run on the same chunks, and the link rate.

Columns beside sim and model: `codec cpu` (share of the run's wall time the workers spent in the
codec, CPU time), `codec MB/s` (per CPU-second), `cores used` (workers + broker CPU over wall
time), `broker`, `best/link` (the fastest worker against its own bound) and the load average.

Every namespace, veth, qdisc, the broker and the workers are removed/stopped on exit, also on
failure, Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec"), str(ROOT / "scripts"),
                str(ROOT / "loadtests")]

import figures  # noqa: E402
import scaling_model  # noqa: E402
from sim_netns import SimNet, SimNetError  # noqa: E402

CHUNK = 1 << 20
CHUNKS_TOPIC, FRAMES_TOPIC = "sim.chunks", "sim.frames"
STATE = ROOT / ".data" / "scaling-sim"
SOURCE = "loadtests/scaling_sim.py"


def port_offset() -> int:
    from cobol_mesh.settings import PORT_OFFSET
    return PORT_OFFSET


def corpus_chunks(corpora: Path, mib: int) -> list[bytes]:
    """`mib` 1 MiB chunks of the corpus files (sorted by path), repeated when the corpus is short."""
    files = sorted(p for p in corpora.rglob("*") if p.is_file() and p.name != "README.md")
    data = b"".join(p.read_bytes() for p in files)
    if len(data) < CHUNK:
        raise SystemExit(f"corpus {corpora}: {len(data)} bytes, need at least 1 MiB")
    buf = data * -(-mib * CHUNK // len(data))
    return [buf[i * CHUNK:(i + 1) * CHUNK] for i in range(mib)]


# ---- the broker ------------------------------------------------------------------------------

class SimKafka:
    """One KRaft broker+controller for the simulation: clients on the bridge address only."""

    def __init__(self, host_ip: str):
        import infra
        from cobol_mesh.settings import local_port
        self.infra = infra
        self.host_ip = host_ip
        self.port, self.cport = local_port(19092), local_port(19093)
        self.bootstrap = f"{host_ip}:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, deadline_s: float = 120) -> None:
        infra = self.infra
        for p in (self.port, self.cport):
            if not infra.port_free(p):
                raise SystemExit(f"port {p} is in use (another simulation? COBOL_PORT_OFFSET={port_offset()})")
        shutil.rmtree(STATE, ignore_errors=True)
        (STATE / "kafka").mkdir(parents=True)
        props = STATE / "server.properties"
        props.write_text("\n".join([
            "process.roles=broker,controller", "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.cport}",
            f"listeners=PLAINTEXT://{self.host_ip}:{self.port},CONTROLLER://127.0.0.1:{self.cport}",
            f"advertised.listeners=PLAINTEXT://{self.host_ip}:{self.port}",
            "controller.listener.names=CONTROLLER", "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={STATE / 'kafka'}", "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1",
            "auto.create.topics.enable=false", f"message.max.bytes={infra.MAX_BYTES}",
            "group.initial.rebalance.delay.ms=0", "num.network.threads=2", "num.io.threads=2", ""]))
        java = infra.java_bin(install=False)
        fmt = subprocess.run(infra.kafka_java_cmd(java, "kafka.tools.StorageTool", "format", "-t", infra.kafka_uuid(),
                                                  "-c", str(props)), capture_output=True, text=True)
        if fmt.returncode:
            raise SystemExit(f"kafka-storage format failed:\n{fmt.stdout[-2000:]}{fmt.stderr[-2000:]}")
        log = open(STATE / "kafka.log", "wb")
        self.proc = subprocess.Popen(infra.kafka_java_cmd(java, "kafka.Kafka", str(props), heap="512m"),
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})  # refusals until it listens
        end = time.monotonic() + deadline_s
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"the simulation's broker exited ({self.proc.returncode}); see {STATE / 'kafka.log'}")
            try:
                if admin.list_topics(timeout=2).brokers:
                    return
            except Exception:  # noqa: BLE001 - not up yet; the deadline decides
                pass
            if time.monotonic() > end:
                raise SystemExit(f"the simulation's broker did not answer in {deadline_s:.0f} s")
            time.sleep(0.5)

    def create_topics(self, partitions: int) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futs = admin.create_topics([NewTopic(CHUNKS_TOPIC, partitions, 1), NewTopic(FRAMES_TOPIC, partitions, 1)])
        for f in futs.values():
            f.result(timeout=60)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(STATE, ignore_errors=True)


def preload(bootstrap: str, chunks: list[bytes], partitions: int) -> None:
    from confluent_kafka import Producer
    prod = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.max.bytes": 16 << 20,
                     "linger.ms": 5, "queue.buffering.max.kbytes": 256 << 10})
    for i, c in enumerate(chunks):
        prod.produce(CHUNKS_TOPIC, c, partition=i % partitions)
        prod.poll(0)
    if prod.flush(120):
        raise SystemExit("preload: chunks still unacknowledged after 120 s")


# ---- the worker (runs inside a namespace) -----------------------------------------------------

def worker(bootstrap: str, parts: list[int], profile: str) -> int:
    """Read the given partitions from the start to their end, encode each chunk, produce its frame.
    Prints `ready`, waits for a line on stdin, then prints one JSON line of what it did."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from cobol_codec import encode_frame
    cons = Consumer({"bootstrap.servers": bootstrap, "group.id": f"sim-{os.getpid()}", "enable.auto.commit": False,
                     "fetch.max.bytes": 8 << 20, "max.partition.fetch.bytes": 4 << 20})
    ends = {p: cons.get_watermark_offsets(TopicPartition(CHUNKS_TOPIC, p), timeout=30)[1] for p in parts}
    todo = {p for p, e in ends.items() if e > 0}
    prod = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.max.bytes": 16 << 20, "linger.ms": 5})
    encode_frame(b"warm up the codec " * 100, profile)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    t0, cpu0, bytes_in, bytes_out, n, codec_s = time.time(), time.process_time(), 0, 0, 0, 0.0
    cons.assign([TopicPartition(CHUNKS_TOPIC, p, 0) for p in parts])  # after `go`: nothing prefetched
    while todo:
        msg = cons.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            raise SystemExit(f"worker: {msg.error()}")
        c0 = time.thread_time()  # CPU time: a worker preempted by its neighbours is not a slower codec
        frame = encode_frame(msg.value(), profile)
        codec_s += time.thread_time() - c0
        prod.produce(FRAMES_TOPIC, frame, partition=msg.partition())
        prod.poll(0)
        bytes_in, bytes_out, n = bytes_in + len(msg.value()), bytes_out + len(frame), n + 1
        if msg.offset() + 1 >= ends[msg.partition()]:
            todo.discard(msg.partition())
    if prod.flush(120):
        raise SystemExit("worker: frames still unacknowledged after 120 s")
    print(json.dumps({"t0": t0, "t1": time.time(), "bytes_in": bytes_in, "bytes_out": bytes_out, "chunks": n,
                      "codec_s": codec_s, "cpu_s": time.process_time() - cpu0}),
          flush=True)
    cons.close()
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_workers(net: SimNet, bootstrap: str, n: int, partitions: int, profile: str, timeout_s: float,
                broker_pid: int) -> dict:
    """N workers, worker i in namespace i+1; all told `go` once all are ready."""
    procs = []
    try:
        for i in range(n):
            parts = [p for p in range(partitions) if p % n == i]
            argv = [sys.executable, str(Path(__file__).resolve()), "worker", "--bootstrap", bootstrap,
                    "--parts", ",".join(map(str, parts)) or "-", "--profile", profile]
            procs.append(subprocess.Popen(net.command(i + 1, argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          text=True, start_new_session=True))
        for p in procs:
            line = p.stdout.readline().strip()
            if line != "ready":
                raise SystemExit(f"a worker did not get ready (said {line!r}, exit {p.poll()})")
        broker0 = cpu_seconds(broker_pid)
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=timeout_s)
            if p.returncode:
                raise SystemExit(f"a worker failed ({p.returncode})")
            results.append(json.loads(out.strip().splitlines()[-1]))
        broker_s = cpu_seconds(broker_pid) - broker0
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)
    t = max(r["t1"] for r in results) - min(r["t0"] for r in results)
    b_in, b_out = sum(r["bytes_in"] for r in results), sum(r["bytes_out"] for r in results)
    return {"seconds": t, "bytes_in": b_in, "bytes_out": b_out, "mbs": b_in / t / 1e6,
            "chunks": sum(r["chunks"] for r in results),
            "codec_busy": sum(r["codec_s"] for r in results) / (n * t),
            # the fastest worker's MB/s: what one link carried when its worker was not the straggler
            "best_worker_mbs": max(r["bytes_in"] / (r["t1"] - r["t0"]) for r in results) / 1e6,
            "w_codec": b_in / sum(r["codec_s"] for r in results) / 1e6,
            # cores the simulation kept busy during the run: workers (codec + Kafka client) and the broker
            "cpu_cores": (sum(r["cpu_s"] for r in results) + broker_s) / t, "broker_cores": broker_s / t}


def link_goodput(net: SimNet, i: int, mib: int = 4) -> float:
    """MB/s of one TCP stream host -> node i through its limited veth (what the tbf rate leaves
    after Ethernet, IP and TCP headers): the node reads `mib` MiB and answers one byte."""
    import socket
    with socket.socket() as srv:
        srv.bind((net.host_ip, 0))
        srv.listen(1)
        srv.settimeout(30)
        code = ("import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), 30); n=0\n"
                "while n < int(sys.argv[3]):\n    b=s.recv(1<<16)\n    n+=len(b)\n    assert b\n"
                "s.sendall(b'k')")
        node = subprocess.Popen(net.command(i, [sys.executable, "-c", code, net.host_ip, str(srv.getsockname()[1]),
                                                str(mib * CHUNK)]))
        try:
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(120)
                t0 = time.perf_counter()
                conn.sendall(bytes(mib * CHUNK))
                if conn.recv(1) != b"k":
                    raise SystemExit("link check: the node did not confirm")
                dt = time.perf_counter() - t0
        finally:
            node.wait(timeout=60)
    return mib * CHUNK / dt / 1e6


def codec_speed(chunks: list[bytes], profile: str) -> tuple[float, float]:
    """MB/s of encode_frame on one core over these chunks, and their ratio."""
    from cobol_codec import encode_frame
    t0, out = time.perf_counter(), 0
    for c in chunks:
        out += len(encode_frame(c, profile))
    dt = time.perf_counter() - t0
    return sum(map(len, chunks)) / dt / 1e6, sum(map(len, chunks)) / out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        w = argparse.ArgumentParser(prog="scaling_sim.py worker")
        w.add_argument("--bootstrap", required=True)
        w.add_argument("--parts", required=True)
        w.add_argument("--profile", default="fast")
        a = w.parse_args(argv[1:])
        return worker(a.bootstrap, [] if a.parts == "-" else [int(x) for x in a.parts.split(",")], a.profile)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="1,2,4", help="worker counts to run (default 1,2,4)")
    ap.add_argument("--rate-mbit", type=float, default=40.0, help="tc tbf rate of each veth, each way (default 40)")
    ap.add_argument("--mib", type=int, default=48, help="MiB of corpus chunks each run processes (default 48)")
    ap.add_argument("--partitions", type=int, default=12, help="partitions of sim.chunks (default 12)")
    ap.add_argument("--profile", default="fast")
    ap.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    ap.add_argument("--timeout", type=float, default=600, help="seconds a run may take (default 600)")
    ap.add_argument("--json", metavar="OUT", help="append figures (scripts/figures.py) to OUT")
    ap.add_argument("--cleanup", action="store_true", help="only remove what an earlier, killed run left")
    a = ap.parse_args(argv)
    off = port_offset()
    if a.cleanup:
        net = SimNet(offset=off, nodes=1, rate_mbit=1)
        left = net.leftovers()
        net.teardown()
        print(f"removed {left or 'nothing'}; left now: {net.leftovers() or 'nothing'}")
        return 0
    try:
        counts = sorted({int(x) for x in a.workers.split(",") if x.strip()})
    except ValueError:
        ap.error("--workers: a comma-separated list of integers, e.g. 1,2,4")
    if not counts or counts[0] < 1 or counts[-1] > 64:
        ap.error("--workers: counts from 1 to 64")
    if a.mib < 1 or a.partitions < 1 or a.rate_mbit <= 0 or a.timeout <= 0:
        ap.error("--mib, --partitions >= 1; --rate-mbit, --timeout > 0")
    if not a.corpora.is_dir():
        ap.error(f"--corpora {a.corpora}: not a folder")
    chunks = corpus_chunks(a.corpora, a.mib)
    # SIGTERM unwinds like Ctrl-C, so the `finally`s below stop the broker and remove the namespaces.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cores = os.cpu_count() or 1
    sample = chunks[::max(1, len(chunks) // 8)][:8]
    w_cpu, ratio = codec_speed(sample, a.profile)
    print(f"codec `{a.profile}` on one core: {w_cpu:.1f} MB/s, ratio {ratio:.2f} ({len(sample)} MiB of "
          f"{a.corpora}); {cores} cores; links {a.rate_mbit:g} Mbit/s each way; {a.partitions} partitions", flush=True)
    kafka = None
    try:
        with SimNet(offset=off, nodes=counts[-1], rate_mbit=a.rate_mbit) as net:
            print(f"namespaces {net.ns(1)}..{net.ns(counts[-1])}, bridge {net.bridge} {net.host_ip}; "
                  f"qdisc on node 1: {net.qdisc(1)[1]}", flush=True)
            goodput = link_goodput(net, 1)
            print(f"one TCP stream through a {a.rate_mbit:g} Mbit/s link: {goodput:.2f} MB/s "
                  f"({goodput * 8 / a.rate_mbit:.0%} of the nominal rate)", flush=True)
            kafka = SimKafka(net.host_ip)
            kafka.start()
            kafka.create_topics(a.partitions)
            t0 = time.monotonic()
            preload(kafka.bootstrap, chunks, a.partitions)
            print(f"broker {kafka.bootstrap}: {len(chunks)} MiB of chunks preloaded in {time.monotonic() - t0:.1f} s",
                  flush=True)
            print(f"  {'N':>3} {'sim MB/s':>8} {'w (MB/s)':>8} {'model':>7} {'bound':>8} {'sim/model':>9} "
                  f"{'seconds':>8} {'ratio':>6} {'codec cpu':>10} {'codec MB/s':>10} {'cores used':>10} {'broker':>6} {'best/link':>9} {'load':>5}")
            for n in counts:
                # The per-worker figure, measured again just before each run: the host's load moves.
                w_cpu, _ = codec_speed(chunks[::max(1, len(chunks) // 4)][:4], a.profile)
                r = run_workers(net, kafka.bootstrap, n, a.partitions, a.profile, a.timeout, kafka.proc.pid)
                if r["chunks"] != len(chunks):
                    raise SystemExit(f"N={n}: {r['chunks']} chunks encoded, {len(chunks)} expected")
                m = scaling_model.sim_prediction(n, a.partitions, w_cpu, goodput * 8, ratio, cores)
                print(f"  {n:3d} {r['mbs']:8.1f} {w_cpu:8.1f} {m['mbs']:7.1f} {m['bound']:>8} "
                      f"{r['mbs'] / m['mbs']:9.0%} {r['seconds']:8.1f} {r['bytes_in'] / r['bytes_out']:6.2f} {r['codec_busy']:10.0%} "
                      f"{r['w_codec']:10.1f} {r['cpu_cores']:10.2f} {r['broker_cores']:6.2f} "
                      f"{r['best_worker_mbs'] / min(goodput, w_cpu):9.0%} {os.getloadavg()[0]:5.1f}", flush=True)
                labels = dict(workers=n, rate_mbit=a.rate_mbit, partitions=a.partitions, profile=a.profile,
                              cores=cores, load_avg=round(os.getloadavg()[0], 1))
                figures.append(a.json, source=SOURCE, name="scaling.sim_throughput", value=r["mbs"], unit="MB/s",
                               peer="cobol sim", **labels)
                figures.append(a.json, source=SOURCE, name="scaling.sim_model", value=m["mbs"], unit="MB/s",
                               peer="model", bound=m["bound"], w_cpu=round(w_cpu, 2), link_mbs=round(goodput, 2),
                               **labels)
    except SimNetError as e:
        raise SystemExit(f"scaling-sim: {e}")
    finally:
        if kafka:
            kafka.stop()
    left = SimNet(offset=off, nodes=1, rate_mbit=1).leftovers()
    print(f"torn down: namespaces, veths, qdiscs, broker; left: {left or 'nothing'}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
