"""python -m cobol_operator [--namespace NS ...] [--all-namespaces]

Runs the CobolCluster operator (kopf) in this process. Environment: COBOL_KUBE_API (an API
URL without auth, for emulators; in a pod the service account is used),
COBOL_OPERATOR_INTERVAL (seconds between status refreshes, default 15),
COBOL_OPERATOR_API_URL (how to reach a cluster's API for the coordinator's view of the nodes),
COBOL_TOPOLOGY (another topology file).
"""
from __future__ import annotations

import argparse
import asyncio
import sys

import kopf


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cobol-operator", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--namespace", "-n", action="append", default=[], help="watch this namespace (repeatable)")
    ap.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    ap.add_argument("--liveness", default="http://0.0.0.0:8080/healthz",
                    help="liveness endpoint (default %(default)s)")
    args = ap.parse_args(argv)
    if not args.namespace and not args.all_namespaces:
        ap.error("give --namespace NS (repeatable) or --all-namespaces")
    kopf.configure(verbose=False)            # kopf's log format and levels, on stderr
    from . import handlers  # noqa: F401  (registers the handlers)
    asyncio.run(kopf.operator(standalone=True, clusterwide=args.all_namespaces,
                              namespaces=args.namespace, liveness_endpoint=args.liveness))
    return 0


if __name__ == "__main__":
    sys.exit(main())
