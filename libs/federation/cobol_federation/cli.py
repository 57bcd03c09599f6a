"""`cobol federate ...`: the federated dictionary from the command line.

    cobol federate simulate --nodes N --data DIR [DIR ...] --rounds R --epsilon 1.0 --out DICT
    cobol federate list | rounds | budget | promote ID | rollback ID     (a running federator)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import ids, patterns, simdata

ROOT = Path(__file__).resolve().parents[3]


class UsageError(Exception):
    pass


def _port_free(port: int) -> bool:
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _validate(args) -> list[Path]:
    if args.nodes < 2:
        raise UsageError("--nodes must be at least 2 (secure aggregation needs two or more nodes)")
    if args.nodes > 64:
        raise UsageError("--nodes is at most 64 on one machine")
    dirs = [Path(d) for d in args.data]
    if len(dirs) != args.nodes:
        raise UsageError(f"--data needs one directory per node: {args.nodes} nodes, {len(dirs)} directories")
    if len(set(d.resolve() for d in dirs)) != len(dirs):
        raise UsageError("--data directories must be distinct (each is one node's private data)")
    for d in dirs:
        if not d.is_dir():
            raise UsageError(f"--data {d}: not a directory")
        if not any(f.stat().st_size for f in simdata.files_of(d)):
            raise UsageError(f"--data {d}: holds no non-empty file")
    if not 1 <= args.rounds <= 6:
        raise UsageError("--rounds must be between 1 and 6 (one pattern level per round: 2..128-byte patterns)")
    if not (args.epsilon > 0 and math.isfinite(args.epsilon)) or args.epsilon > 100:
        raise UsageError("--epsilon must be a number in (0, 100]")
    if not 0 < args.delta < 0.01:
        raise UsageError("--delta must be in (0, 0.01)")
    if not 0.05 <= args.holdout <= 0.9:
        raise UsageError("--holdout must be between 0.05 and 0.9")
    if not 0 <= args.dropouts <= args.nodes // 5:
        raise UsageError(f"--dropouts must be between 0 and 20% of the nodes ({args.nodes // 5})")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"--out {out} already exists (use --force to overwrite)")
    if not out.parent.resolve().is_dir():
        raise UsageError(f"--out {out}: directory {out.parent} does not exist")
    if args.static and not Path(args.static).exists():
        raise UsageError(f"--static {args.static}: no such file or directory")
    sizes = []
    for s in args.chunk_sizes.split(","):
        try:
            v = int(s)
        except ValueError:
            raise UsageError(f"--chunk-sizes: {s!r} is not an integer") from None
        if not 256 <= v <= 16 << 20:
            raise UsageError("--chunk-sizes: each size must be between 256 and 16 MiB")
        sizes.append(v)
    args.sizes = sizes
    return dirs


def _say(msg: str) -> None:
    print(f"[federate {time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


T0 = time.monotonic()


def _spawn(argv, env, log: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=ROOT)


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 20
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _eval_sets(data: list[simdata.NodeData], sizes: list[int], max_bytes: int, max_records: int):
    sets = {}
    for size in sizes:
        chunks = []
        for d in data:
            blob = b"\n".join(d.heldout)[:max_bytes]
            chunks += [blob[i:i + size] for i in range(0, len(blob), size) if len(blob[i:i + size]) >= size // 2]
        sets[f"{size // 1024} KiB chunks" if size >= 1024 else f"{size} B chunks"] = chunks
    recs = []
    for d in data:
        recs += patterns.split_records(b"\n".join(d.heldout))[:max_records]
    sets["single records"] = recs
    return sets


def ratio(units: list[bytes], dictionary, profile: str) -> float:
    from cobol_codec import encode_frame
    raw = sum(len(u) for u in units)
    out = sum(len(encode_frame(u, profile, dictionary=dictionary)) for u in units)
    return raw / out if out else 0.0


def central_selection(data: list[simdata.NodeData], levels: int, keep: int, max_candidates: int,
                      dict_bytes: int, clip: float, max_records: int) -> bytes:
    """The federated pipeline's pattern selection on everyone's records at once, without
    noise or secure aggregation: how much of the gap is privacy, how much the method."""
    records = [r for d in data for r in d.train[:max_records]]
    found_all: dict[bytes, float] = {}
    dom = patterns.Domain(0)
    for level in range(levels):
        counts = patterns.local_counts(records, dom, clip, 16) / 65536.0
        found = patterns.survivors(dom, counts, 1e-9, keep)
        found_all.update(found)
        if not found or level + 1 >= levels:
            break
        dom = patterns.next_domain(level, found, max_candidates)
        if not dom.size:
            break
    return patterns.build_dictionary(found_all, dict_bytes).content


def cmd_simulate(args) -> int:
    dirs = _validate(args)
    from cobol_codec import Dictionary, train
    from .client import FederatorClient
    work = Path(tempfile.mkdtemp(prefix="cobol-federate-"))
    py = sys.executable
    port = _free_port()
    addr = f"127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(ROOT / p) for p in ("", "libs/federation", "libs/mesh", "libs/codec")),
               PYTHONUNBUFFERED="1", COBOL_FEDERATOR_ADDR=addr, COBOL_FED_STANDALONE="1",
               COBOL_FED_EPSILON=str(args.epsilon), COBOL_FED_DELTA=str(args.delta),
               COBOL_FED_MAX_ROUNDS=str(args.rounds), COBOL_FED_MIN_NODES=str(max(2, args.nodes - args.dropouts)),
               COBOL_FED_STAGE_SECONDS=str(args.stage_seconds), COBOL_FED_JOIN_GRACE="0.5",
               COBOL_FED_PROMOTE="auto", COBOL_FED_ROUND_PAUSE="0.2", COBOL_FED_MAX_RECORDS=str(args.max_records),
               COBOL_FED_DICT_BYTES=str(args.dict_bytes), COBOL_FED_KEY_DIR=str(work / "keys"),
               COBOL_RUN_DIR=str(work), COBOL_METRICS_PORT="-1", COBOL_INSTANCE="federator-sim",
               COBOL_LOG_LEVEL="warning")
    procs: list[subprocess.Popen] = []
    try:
        _say(f"{args.nodes} nodes, {args.rounds} rounds at most, (epsilon, delta) = ({args.epsilon}, {args.delta}); logs in {work}")
        for i, d in enumerate(dirs):
            leave = ["--leave", "masked"] if i < args.dropouts else []
            procs.append(_spawn([py, "-m", "cobol_federation.simnode", "--id", f"node-{i + 1}", "--data", str(d),
                                 "--addr", addr, "--holdout", str(args.holdout), "--max-records", str(args.max_records),
                                 "--stats", str(work / f"node-{i + 1}.json"), "--ready", str(work / f"node-{i + 1}.ready"),
                                 *leave], dict(env, COBOL_GRPC_IDENTITY="compressor"),   # nodes play compressors
                                 work / f"node-{i + 1}.log"))
        deadline = time.monotonic() + 600
        while not all((work / f"node-{i + 1}.ready").exists() for i in range(args.nodes)):
            if any(p.poll() not in (None, 0) for p in procs):
                raise UsageError(f"a node process failed to start; see {work}/node-*.log")
            if time.monotonic() > deadline:
                raise UsageError("nodes did not load their data within 10 minutes")
            time.sleep(0.2)
        _say("nodes loaded their data: " + ", ".join(
            f"node-{i + 1} {(work / f'node-{i + 1}.ready').read_text()} records" for i in range(args.nodes)))
        procs.append(_spawn([py, "-m", "services.federator"], env, work / "federator.log"))
        fed = FederatorClient(addr, timeout=30)
        seen: set[int] = set()
        t_train = time.monotonic()
        budget = None
        done_once = False
        while True:
            if procs[-1].poll() is not None:
                raise UsageError(f"the federator exited (code {procs[-1].returncode}); see {work}/federator.log")
            try:
                rounds = fed.rounds(100)
                budget = fed.budget()
            except Exception:
                time.sleep(0.3)
                continue
            for r in sorted(rounds, key=lambda r: r.round_id):
                if r.status not in ("open", "") and r.closed_at and r.round_id not in seen:
                    seen.add(r.round_id)
                    _say(f"round {r.round_id} level {r.level} ({2 << r.level}-byte patterns, {r.candidates} candidates): "
                         f"{r.status} in {r.seconds:.1f}s, {r.contributed}/{r.invited} inputs, {r.dropped} dropped, "
                         f"epsilon spent {r.epsilon_spent:.3f}" + (f", version {r.dictionary_id}" if r.dictionary_id else "")
                         + (f" ({r.reason})" if r.reason else ""))
            if budget.status == "finished" and done_once:
                break
            done_once = budget.status == "finished"     # one more pass prints the last round
            if time.monotonic() - t_train > args.timeout:
                raise UsageError(f"the training did not finish within {args.timeout:.0f}s")
            time.sleep(0.3)
        train_secs = time.monotonic() - t_train
        _say(f"training finished: {budget.reason}; epsilon spent {budget.epsilon_spent:.4f} of {budget.epsilon} "
             f"(delta {budget.delta:g}, noise multiplier {budget.noise_multiplier}, {budget.releases} releases)")
        if not budget.dictionary_id:
            raise UsageError("the training released no dictionary (no pattern cleared the noise): "
                             "more data per node, more nodes or a larger epsilon are needed")
        fdict = fed.fetch(budget.dictionary_id)
        info = fed.get(budget.dictionary_id)
        fed.close()
    finally:
        _stop(procs)
    stats = [json.loads(p.read_text()) for p in sorted(work.glob("node-*.json"))]
    shutil.rmtree(work, ignore_errors=True)          # kept (with the logs) only when something failed
    tmp = Path(args.out).with_name(f".{Path(args.out).name}.tmp")
    tmp.write_bytes(fdict.to_bytes())
    os.replace(tmp, args.out)
    _say(f"wrote {args.out}: dictionary {budget.dictionary_id}, {len(fdict.content)} bytes, {info.patterns} patterns")

    data = [simdata.load(d, args.holdout) for d in dirs]
    dicts = {"federated (DP)": fdict, "no dictionary": None}
    if args.static:
        sp = Path(args.static)
        dicts["static default"] = (Dictionary.load(sp) if sp.is_file() else
                                   train([f.read_bytes() for f in simdata.files_of(sp)], args.dict_bytes))
    _say("training the upper bound (central, no privacy) and the same selection without noise")
    everything = [b"\n".join(d.train) for d in data]
    dicts["central, no privacy (codec trainer)"] = train(everything, args.dict_bytes)
    dicts["central, same selection, no noise"] = Dictionary(central_selection(
        data, args.rounds, int(os.environ.get("COBOL_FED_KEEP", "2048")), 65536, args.dict_bytes, 1.0, args.max_records))
    sets = _eval_sets(data, args.sizes, args.eval_bytes, args.eval_records)
    _say("compressing held-out data: " + ", ".join(f"{k}: {len(v)}" for k, v in sets.items()))
    table = {name: {unit: ratio(units, d, args.profile) for unit, units in sets.items()} for name, d in dicts.items()}
    summary = {"dictionary_id": budget.dictionary_id, "bytes": len(fdict.content), "patterns": info.patterns,
               "epsilon_spent": budget.epsilon_spent, "delta": budget.delta, "noise_multiplier": budget.noise_multiplier,
               "releases": budget.releases, "rounds_to_convergence": budget.releases, "converged": info.converged,
               "finish_reason": budget.reason, "training_seconds": round(train_secs, 2),
               "seconds_per_round": round(train_secs / max(1, len(seen)), 2), "profile": args.profile,
               "ratios": table, "nodes": stats}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    units = list(sets)
    print(f"\nfederated dictionary {budget.dictionary_id}: {len(fdict.content)} bytes, {info.patterns} patterns, "
          f"{budget.releases} rounds ({budget.reason}), epsilon {budget.epsilon_spent:.3f} / delta {budget.delta:g}")
    print(f"compression ratio on held-out data (profile {args.profile}; original / compressed, frame headers included):")
    print(f"  {'dictionary':<38}" + "".join(f"{u:>18}" for u in units))
    for name, row in table.items():
        print(f"  {name:<38}" + "".join(f"{row[u]:>17.3f}x" for u in units))
    if "static default" not in table:
        print("  static default: none given (--static DICT, or DIR of public data to train one on)")
    else:
        print("  federated vs static: " + ", ".join(
            f"{u} {100 * (table['federated (DP)'][u] / table['static default'][u] - 1):+.1f}%" for u in units))
    print("  federated vs central upper bound: " + ", ".join(
        f"{u} {100 * (table['federated (DP)'][u] / table['central, no privacy (codec trainer)'][u] - 1):+.1f}%" for u in units))
    secs = [sum(v for k, v in s["seconds"].items()) for s in stats]
    print(f"rounds run (failed ones included): {len(seen)} in {train_secs:.1f}s ({train_secs / max(1, len(seen)):.1f}s per round); "
          f"per node: secure aggregation + counting {sum(secs) / max(1, len(secs)):.2f}s CPU-side, "
          f"{sum(s['bytes_sent'] for s in stats) / max(1, len(stats)) / 1e6:.2f} MB sent")
    return 0


def _client(args):
    from .client import FederatorClient
    return FederatorClient(args.federator)


def _msg(m) -> dict:
    from google.protobuf.json_format import MessageToDict
    return MessageToDict(m, preserving_proto_field_name=True)


def cmd_show(args) -> int:
    with _client(args) as c:
        if args.what == "list":
            out = [_msg(d) for d in c.list_dictionaries(args.limit)]
        elif args.what == "rounds":
            out = [_msg(r) for r in c.rounds(args.limit)]
        else:
            out = _msg(c.budget())
    print(json.dumps(out, indent=2))
    return 0


def cmd_version(args) -> int:
    try:
        ids.parse(args.id)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with _client(args) as c:
        st = c.promote(args.id) if args.action == "promote" else c.rollback(args.id)
    print(json.dumps(_msg(st)))
    return 0


def _run(fn):
    def wrapper(args) -> int:
        import grpc
        try:
            return fn(args)
        except UsageError as exc:
            print(f"cobol: {exc}", file=sys.stderr)
            return 2
        except grpc.RpcError as exc:
            print(f"cobol: federator: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"cobol: {exc}", file=sys.stderr)
            return 1
    return wrapper


def register(subparsers) -> None:
    """Add `cobol federate ...` to the CLI's sub-parsers."""
    fp = subparsers.add_parser("federate", help="federated dictionaries: simulate a training, inspect and control versions",
                               description="Federated dictionaries (secure aggregation + differential privacy).")
    sub = fp.add_subparsers(dest="federate_cmd", metavar="COMMAND", required=True)
    s = sub.add_parser("simulate", help="train a dictionary across N node processes over the real protocol",
                       description="Runs N node processes (each --data DIR is one node's private data) and a "
                                   "federator on loopback gRPC through real secure-aggregation rounds with "
                                   "differential privacy; writes the final dictionary to --out and prints the "
                                   "compression ratio on held-out data with it, a static dictionary (--static), "
                                   "no dictionary and a centrally trained non-private one (the upper bound).")
    s.add_argument("--nodes", type=int, required=True, metavar="N")
    s.add_argument("--data", nargs="+", required=True, metavar="DIR", help="one directory per node")
    s.add_argument("--rounds", type=int, default=5, metavar="R", help="rounds (pattern levels) at most, 1-6 (default 5)")
    s.add_argument("--epsilon", type=float, default=1.0, help="privacy budget of the whole training (default 1.0)")
    s.add_argument("--delta", type=float, default=1e-6, help="(default 1e-6)")
    s.add_argument("--out", required=True, metavar="DICT", help="where to write the dictionary (cobol --dict format)")
    s.add_argument("--force", action="store_true", help="overwrite --out")
    s.add_argument("--static", metavar="DICT|DIR", help="the static default: a dictionary file, or a directory of public data to train one on")
    s.add_argument("--holdout", type=float, default=0.2, help="share of each file's lines held out for measuring (default 0.2)")
    s.add_argument("--dropouts", type=int, default=0, help="nodes that leave in the first round after sharing keys (<= 20%%)")
    s.add_argument("--profile", choices=("fast", "balanced", "max"), default="fast", help="codec profile for the ratios (default fast)")
    s.add_argument("--chunk-sizes", default="4096,16384,65536", help="held-out chunk sizes in bytes (default 4096,16384,65536)")
    s.add_argument("--max-records", type=int, default=4000, help="records per node per round at most (default 4000)")
    s.add_argument("--dict-bytes", type=int, default=32768, help="dictionary size (default 32768)")
    s.add_argument("--eval-bytes", type=int, default=256 << 10, help="held-out bytes per node per chunk size (default 256 KiB)")
    s.add_argument("--eval-records", type=int, default=300, help="held-out single records per node (default 300)")
    s.add_argument("--stage-seconds", type=float, default=60.0, help="deadline of each round stage (default 60)")
    s.add_argument("--timeout", type=float, default=1800.0, help="give up after this many seconds (default 1800)")
    s.add_argument("--json", action="store_true", help="print the figures as JSON")
    s.set_defaults(func=_run(cmd_simulate))
    default_addr = os.environ.get("COBOL_FEDERATOR_ADDR") or ""
    for what, helptext in (("list", "list dictionary versions"), ("rounds", "list rounds"), ("budget", "the privacy budget")):
        p = sub.add_parser(what, help=helptext)
        p.add_argument("--federator", default=default_addr or None, metavar="HOST:PORT")
        p.add_argument("--limit", type=int, default=50)
        p.set_defaults(func=_run(cmd_show), what=what)
    for action in ("promote", "rollback"):
        p = sub.add_parser(action, help=f"{action} a dictionary version (by its 16-hex id)")
        p.add_argument("id", metavar="ID")
        p.add_argument("--federator", default=default_addr or None, metavar="HOST:PORT")
        p.set_defaults(func=_run(cmd_version), action=action)
