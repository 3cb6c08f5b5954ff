"""Validation before sync, as Dapodik does (``vld_peserta_didik``): findings classed warning or invalid;
invalid records are held back: they reach the hub with their findings, and the hub does not use the keys the
findings name (``shared/contracts/dapodik.py``)."""
