"""Jembatan operator tooling: run the whole system locally (``jembatan demo``), generate worlds, sync."""
