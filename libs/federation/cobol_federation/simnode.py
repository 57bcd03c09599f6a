"""One simulated node: python -m cobol_federation.simnode --id ID --data DIR --addr HOST:PORT.

Loads its directory (its private data), keeps a bounded sample of the training records and
answers the federator's rounds over gRPC until SIGTERM; then writes its cost (seconds per
stage, bytes sent) as JSON to --stats. --leave STAGE makes it quit before answering STAGE in
its first round (a node leaving mid-round)."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import simdata
from .client import FederatorClient
from .node import Participant, RecordSample


class _Log:
    def info(self, event: str, **kw) -> None:
        print(json.dumps({"event": event, **kw}), file=sys.stderr, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="cobol_federation.simnode")
    ap.add_argument("--id", required=True)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--addr", required=True)
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--max-records", type=int, default=4000)
    ap.add_argument("--stats", type=Path, required=True)
    ap.add_argument("--ready", type=Path, required=True)
    ap.add_argument("--leave", choices=("shares", "masked", "unmask"))
    args = ap.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    data = simdata.load(args.data, args.holdout)
    sample = RecordSample(args.max_records)
    for r in data.train:
        sample.add(r)
    fed = FederatorClient(args.addr, timeout=60)
    node = Participant(args.id, Ed25519PrivateKey.generate(), fed.stub, sample, _Log())
    args.ready.write_text(str(len(data.train)))
    first_round = None
    while not stop.is_set():
        if args.leave and node.round and (first_round is None or first_round == node.round):
            first_round = node.round
            if args.leave in node_stage_due(node):
                print(json.dumps({"event": "simnode.leaving", "node": args.id, "round": node.round,
                                  "before": args.leave}), file=sys.stderr, flush=True)
                break
        node.step()
        stop.wait(0.1)
    args.stats.write_text(json.dumps({"node": args.id, "records": sample.size() or len(data.train),
                                      "seconds": node.seconds, "bytes_sent": node.bytes_sent,
                                      "rounds": node.round}))
    fed.close()
    return 0


def node_stage_due(node: Participant) -> set[str]:
    """Stages this node would answer next (it has done the ones before)."""
    order = ["advertise", "shares", "masked", "unmask"]
    done = [s for s in order if s in node.done]
    return {order[len(done)]} if done and len(done) < len(order) else set()


if __name__ == "__main__":
    sys.exit(main())
