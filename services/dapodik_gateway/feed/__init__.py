"""The hub's feed of students (``/api/v1/hub/peserta-didik``): what the hub syncs from."""
