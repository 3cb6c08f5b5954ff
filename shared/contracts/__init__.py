"""Wire contracts: the pydantic models that cross service boundaries.

Models keep the upstream systems' own field names (Dapodik's ``peserta_didik_id``, ``no_kip``...).
``*Record`` models are what a world file row holds (and what a loader accepts); read models add
the state a service keeps (versions, timestamps, hub results with provenance).
"""
