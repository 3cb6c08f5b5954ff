"""Dapodik gateway: the schools' (Kemendikdasmen) student data, with the hub's PKH/KIP results written back.

Serves ``sekolah`` and ``peserta_didik`` with Dapodik's own field names and sync metadata
(``create_date``, ``last_update``, ``last_sync``, ``soft_delete``), and accepts the hub's result
batches with provenance and a value history (DOMAIN.md §2).
"""
