"""python -m services.archive: the frames consumer and the gRPC read service."""
from __future__ import annotations

import services  # noqa: F401  (library paths)
from cobol_federation.client import DictionaryCache, FederatorClient
from cobol_mesh import service
from cobol_mesh.grpc_server import Server
from cobol_mesh.lifecycle import run_thread
from cobol_mesh.proto import pb, pb_grpc
from cobol_mesh.settings import settings

from .reader import ArchiveServicer
from .deletes import Tombstones
from .replicas import Peers, run_repairs
from .store import open_store
from .writer import ArchiveWriter


def main() -> None:
    lc = service.boot("archive")
    store = open_store(settings)
    lost = not store.has_marker()       # new, or its data was wiped: refill from the peers
    tombs = Tombstones(store)
    peers = Peers(lc.instance, store, settings.archive_peers.split(","), tombs)
    writer = ArchiveWriter(lc.instance, store, tombs, lc.stopping)
    server = Server(settings.archive_addr, max_workers=16)
    federator = FederatorClient()       # frames that name a dictionary decode with it (fetched by id)
    server.add(pb_grpc.add_ArchiveServicer_to_server,
               ArchiveServicer(store, peers, lc.instance, tombs, DictionaryCache(federator)),
               pb.DESCRIPTOR.services_by_name["Archive"].full_name)
    server.start()
    thread = run_thread("archive-writer", writer.run, lc)
    repair = run_thread("archive-repair", lambda: run_repairs(peers, lc.stopping, settings.archive_repair_s, lost), lc)
    lc.on_stop(lambda: server.stop(5))
    lc.on_stop(federator.close)
    lc.ready()
    lc.log.info("archive.serving", addr=settings.archive_addr, backend=settings.archive_backend,
                peers=peers.addrs, store_lost=lost)
    lc.wait([thread, repair])


if __name__ == "__main__":
    main()
