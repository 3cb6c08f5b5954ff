"""Validation before sync, as Dapodik does (``vld_peserta_didik``): findings classed warning or invalid;
invalid records are held back from the hub's feed until fixed."""
