"""Outbound delivery: the transactional outbox, its workers, retries and the platform webhook."""
