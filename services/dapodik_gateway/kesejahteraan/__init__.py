"""``kesejahteraan_pd``: a student's welfare programme rows (PIP, PKH, KPS, KKS, KIS), derived from and kept
consistent with the record's fields."""
