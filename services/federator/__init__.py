"""Federator: federated dictionary rounds (secure aggregation + differential privacy), the
dictionary store and its versions (PostgreSQL), A/B, promote and rollback (gRPC)."""
