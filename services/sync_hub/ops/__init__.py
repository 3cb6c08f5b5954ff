"""The hub's operational view: the gauges /metrics reads from the database and the checks /ready makes
(docs/operations.md)."""
