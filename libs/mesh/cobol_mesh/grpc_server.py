"""A gRPC server on 127.0.0.1 with health checking and reflection (grpc_reflection.v1alpha)."""
from __future__ import annotations

from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from . import grpc_auth, telemetry
from .settings import settings

MAX_MSG = 64 * 1024 * 1024
OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MSG),
    ("grpc.max_send_message_length", MAX_MSG),
    ("grpc.so_reuseport", 0),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


class Server:
    def __init__(self, addr: str, max_workers: int = 16, identity: str | None = None) -> None:
        host = addr.rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost", "[::1]") and not settings.bind_public:
            raise SystemExit(f"refusing to bind gRPC to {addr}: the mesh binds to 127.0.0.1 only (COBOL_BIND_PUBLIC=1 in containers)")
        self.addr = addr
        kind = identity or settings.instance.rpartition("-")[0] or settings.instance
        # a server is always its own kind (COBOL_GRPC_IDENTITY only picks what a client presents)
        self.identity = kind if (grpc_auth.cert_dir() / f"{kind}.crt").exists() else grpc_auth.identity(kind)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=OPTIONS,
                                  interceptors=[grpc_auth.AuthInterceptor(self.identity), telemetry.ServerTracing()])
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.names = [reflection.SERVICE_NAME, health.SERVICE_NAME]

    def add(self, add_fn, servicer, full_name: str) -> None:
        add_fn(servicer, self.server)
        self.names.append(full_name)

    def start(self) -> None:
        reflection.enable_server_reflection(self.names, self.server)
        if self.server.add_secure_port(self.addr, grpc_auth.server_credentials(self.identity)) == 0:  # mTLS
            raise SystemExit(f"cannot bind gRPC to {self.addr} (port in use?)")
        self.server.start()
        for name in self.names + [""]:
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace: float = 5.0) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait(grace + 1)


def channel(addr: str, ident: str | None = None) -> grpc.Channel:
    return grpc_auth.channel(addr, ident, options=OPTIONS[:2])


def health_status(addr: str, timeout: float = 1.0, service: str = "") -> str:
    """SERVING / NOT_SERVING / UNKNOWN / 'unreachable'."""
    with channel(addr) as ch:
        try:
            resp = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout)
            return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
        except grpc.RpcError:
            return "unreachable"
