"""python -m services.coordinator: one coordinator replica (leader or standby, see leader.py)."""
from __future__ import annotations

import services  # noqa: F401  (library paths)
from cobol_mesh import membership, metrics, service
from cobol_mesh.grpc_server import Server
from cobol_mesh.lifecycle import run_thread
from cobol_mesh.proto import pb, pb_grpc
from cobol_mesh.settings import settings
from cobol_proto import cluster_pb2 as cpb
from cobol_proto import cluster_pb2_grpc as cpb_grpc

from . import config
from .leader import Leader
from .server import ClusterServicer, CoordinatorServicer
from .state_redis import RedisState
from .watch import MAX_WATCHERS, WatchHub


def main() -> None:
    cfg = config.load()
    lc = service.boot("coordinator")
    state = RedisState(settings.redis_url, settings.redis_prefix)
    membership.ensure_topics(list(membership.TOPIC_SPECS))
    hub = WatchHub(lc.stopping)
    leader = Leader(lc.instance, state, cfg, lc.stopping)
    if membership.current is not None:        # our own load: the job-event partitions we read
        membership.current.track_consumer(leader.events)
    metrics.on_scrape(lambda: metrics.node_samples(leader.table.nodes if leader.table else None))
    # Watch streams hold a thread each: room for all of them plus the unary calls
    server = Server(settings.coordinator_addr, max_workers=MAX_WATCHERS + 16)
    server.add(pb_grpc.add_CoordinatorServicer_to_server, CoordinatorServicer(state, cfg),
               pb.DESCRIPTOR.services_by_name["Coordinator"].full_name)
    server.add(cpb_grpc.add_ClusterServicer_to_server, ClusterServicer(state, cfg, lc.instance, hub, lc.stopping),
               cpb.DESCRIPTOR.services_by_name["Cluster"].full_name)
    server.start()
    threads = [run_thread("leader", leader.run, lc), run_thread("watch", hub.run, lc)]
    lc.on_stop(lambda: server.stop(2))
    hub.ready.wait(30)
    lc.ready()
    lc.log.info("coordinator.serving", addr=settings.coordinator_addr, min_replicas=cfg.min_replicas,
                lease_ms=cfg.lease_ms)
    lc.wait(threads)


if __name__ == "__main__":
    main()
