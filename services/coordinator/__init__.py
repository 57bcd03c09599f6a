"""Coordinator: the job ledger (Redis), fed by cobol.jobs.events, queried over gRPC."""
