"""Ingest: gRPC uploads and device records from Kafka, cut into chunks for the compressors."""
