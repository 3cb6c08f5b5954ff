"""EMIS 4.0 (Kemenag) gateway: madrasah, their students (siswa) and the PKH data the hub writes back."""
