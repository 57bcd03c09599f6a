"""Process-wide state of one API instance, filled in by the app's lifespan."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .config import Settings
    from .db import Database
    from .grpc_clients import MeshClients
    from .live import JobHub
    from .users import UserStore


class State:
    settings: "Settings"
    db: "Database"
    users: "UserStore"
    mesh: "MeshClients"
    hub: "JobHub"
    redis: Any = None


state = State()
