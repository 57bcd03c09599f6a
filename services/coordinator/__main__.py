"""python -m services.coordinator: the job ledger."""
from __future__ import annotations

import services  # noqa: F401  (library paths)
from cobol_mesh import service
from cobol_mesh.grpc_server import Server
from cobol_mesh.lifecycle import run_thread
from cobol_mesh.proto import pb, pb_grpc
from cobol_mesh.settings import settings

from .events import EventConsumer
from .ledger import Ledger
from .server import CoordinatorServicer


def main() -> None:
    lc = service.boot("coordinator")
    ledger = Ledger(settings.redis_url, settings.redis_prefix, settings.jobs_channel)
    ledger.r.ping()
    consumer = EventConsumer(lc.instance, ledger, lc.stopping)
    server = Server(settings.coordinator_addr, max_workers=16)
    server.add(pb_grpc.add_CoordinatorServicer_to_server, CoordinatorServicer(ledger),
               pb.DESCRIPTOR.services_by_name["Coordinator"].full_name)
    server.start()
    thread = run_thread("events", consumer.run, lc)
    lc.on_stop(lambda: server.stop(5))
    lc.ready()
    lc.log.info("coordinator.serving", addr=settings.coordinator_addr)
    lc.wait([thread])


if __name__ == "__main__":
    main()
