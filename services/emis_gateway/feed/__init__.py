"""The hub's change feed of students (``/api/v1/hub/siswa``): what the hub syncs from, with a resume cursor."""
