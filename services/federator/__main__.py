"""python -m services.federator (COBOL_INSTANCE=federator-1): gRPC on COBOL_FEDERATOR_ADDR.

COBOL_FED_STANDALONE=1 (used by `cobol federate simulate` only): state in memory, no Kafka
broadcast, so a simulation needs neither PostgreSQL nor Kafka.
"""
from __future__ import annotations

import os

import services  # noqa: F401  (library paths)
from cobol_federation import config, messages
from cobol_federation.proto import fpb_grpc
from cobol_mesh import grpc_server, metrics, service
from cobol_mesh import logging as mlog
from cobol_mesh.lifecycle import run_thread
from cobol_mesh.settings import settings

from .broadcast import Broadcaster, ensure_topic
from .memstore import MemoryStore
from .rounds import Federation
from .server import FederatorServicer
from .store import Store


class _NoBroadcast:
    def __call__(self, state) -> None:
        pass

    def close(self) -> None:
        pass


def main() -> None:
    lc = service.boot("federator")
    log = mlog.get("cobol.federator")
    cfg = config.load()
    if os.environ.get("COBOL_FED_STANDALONE") == "1":
        store, bc = MemoryStore(), _NoBroadcast()
    else:
        store = Store(settings.pg_dsn, cfg.pg_schema)
        store.migrate()
        ensure_topic(cfg.topic_versions, log)
        bc = Broadcaster(cfg.topic_versions)
    identity = messages.load_identity(cfg.key_dir / f"{lc.instance}.key")
    fed = Federation(store, cfg, identity, bc, log)
    fed.recover()
    metrics.on_scrape(lambda: metrics.budget_samples(fed.budget()))
    bc(fed.current_state())              # the compacted topic always holds the served state

    srv = grpc_server.Server(cfg.federator_addr)
    srv.add(fpb_grpc.add_FederatorServicer_to_server, FederatorServicer(fed), "cobol.v1.Federator")
    srv.start()
    log.info("federator.serving", addr=cfg.federator_addr)

    def loop() -> None:
        while not lc.stopping.wait(0.2):
            fed.tick()

    thread = run_thread("rounds", loop, lc)
    lc.on_stop(store.close)
    lc.on_stop(bc.close)
    lc.on_stop(srv.stop)
    lc.ready()
    lc.wait([thread])


if __name__ == "__main__":
    main()
