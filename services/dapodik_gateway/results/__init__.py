"""Results the hub writes back (``POST /api/v1/hub/results``): values, provenance, value history."""
