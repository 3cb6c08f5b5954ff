"""Schools (``sekolah``), identified by sekolah_id (UUID) and NPSN."""
