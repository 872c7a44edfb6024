"""Alembic migrations of the schema in :mod:`cardtrace.store.schema` (run by ``migrate``)."""
