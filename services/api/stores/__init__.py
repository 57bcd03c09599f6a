"""The API's state, one store per kind (PostgreSQL rows; revocations on Redis)."""
