"""Students (``peserta_didik``): the record, the hub-written values, their provenance and history."""
