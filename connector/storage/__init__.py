"""Persistence: models, the database handle, migrations and the repository."""
