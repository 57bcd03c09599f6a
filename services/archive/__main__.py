"""python -m services.archive: the frames consumer and the gRPC read service."""
from __future__ import annotations

import services  # noqa: F401  (library paths)
from cobol_mesh import service
from cobol_mesh.grpc_server import Server
from cobol_mesh.lifecycle import run_thread
from cobol_mesh.proto import pb, pb_grpc
from cobol_mesh.settings import settings

from .reader import ArchiveServicer
from .store import open_store
from .writer import ArchiveWriter


def main() -> None:
    lc = service.boot("archive")
    store = open_store(settings)
    writer = ArchiveWriter(lc.instance, store, lc.stopping)
    server = Server(settings.archive_addr, max_workers=16)
    server.add(pb_grpc.add_ArchiveServicer_to_server, ArchiveServicer(store),
               pb.DESCRIPTOR.services_by_name["Archive"].full_name)
    server.start()
    thread = run_thread("archive-writer", writer.run, lc)
    lc.on_stop(lambda: server.stop(5))
    lc.ready()
    lc.log.info("archive.serving", addr=settings.archive_addr, backend=settings.archive_backend)
    lc.wait([thread])


if __name__ == "__main__":
    main()
