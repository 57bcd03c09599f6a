"""python -m services.ingest: the gRPC upload server and the cobol.ingest.raw consumer."""
from __future__ import annotations

import services  # noqa: F401  (library paths)
from cobol_mesh import kafka, service
from cobol_mesh.grpc_server import Server
from cobol_mesh.lifecycle import run_thread
from cobol_mesh.proto import pb, pb_grpc
from cobol_mesh.settings import settings

from . import events
from .manifest import Manifests
from .raw import RawConsumer
from .upload import IngestServicer


def main() -> None:
    lc = service.boot("ingest")
    # The owner of open uploads: one logical ingest instance (same name, mesh and address).
    owner = f"{settings.group_prefix}/{lc.instance}@{settings.ingest_addr}"
    manifests = Manifests(settings.pg_dsn, owner)
    manifests.migrate()
    producer = kafka.producer()
    # Uploads this instance had open when it died can never be sealed: abort them.
    orphans = manifests.abort_orphans()
    for job_id in orphans:
        kafka.produce(producer, settings.topic_events, job_id, events.aborted(job_id, "ingest restarted mid-upload"))
    kafka.flush_or_raise(producer)
    if orphans:
        lc.log.warning("ingest.orphans_aborted", jobs=orphans)

    raw = RawConsumer(lc.instance, manifests, lc.stopping)
    # more threads than concurrent uploads: idle uploads never starve other calls
    server = Server(settings.ingest_addr, max_workers=settings.ingest_max_streams + 16)
    server.add(pb_grpc.add_IngestServicer_to_server, IngestServicer(producer, manifests, lc.instance),
               pb.DESCRIPTOR.services_by_name["Ingest"].full_name)
    server.start()
    worker = run_thread("raw-consumer", raw.run, lc)
    lc.on_stop(lambda: producer.flush(30))
    lc.on_stop(lambda: server.stop(10))
    lc.ready()
    lc.log.info("ingest.serving", addr=settings.ingest_addr)
    lc.wait([worker])


if __name__ == "__main__":
    main()
