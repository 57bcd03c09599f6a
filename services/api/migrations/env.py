"""Alembic environment of the API: online migrations only, into COBOL_API_DB_SCHEMA."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

LOCK_KEY = 0x0C0B01A1   # one migrator at a time when several API instances start together

cfg = context.config
url = cfg.attributes["url"]
schema = cfg.attributes.get("schema", "public")

engine = create_engine(url, future=True)
with engine.connect() as conn:
    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
    try:
        if schema != "public":
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            conn.execute(text(f'SET search_path TO "{schema}"'))
        conn.commit()
        context.configure(connection=conn, version_table_schema=schema, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()
    finally:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
        conn.commit()
engine.dispose()
