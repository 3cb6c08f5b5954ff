"""Monthly attendance (kehadiran_pd) of a student, for PKH's education commitment."""
