"""Jobs of the seed-compatible HTTP API: records, their store, and the service."""
