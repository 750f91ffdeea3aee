"""Per-label cleaning queues, review items, leases and decisions (built on the dataset app)."""
