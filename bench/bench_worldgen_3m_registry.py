"""The issue's exact scale: 1,000,000 students with a ~3,000,000-person registry (true-negative share 15%).

    .venv/bin/python bench/bench_worldgen_3m_registry.py

Prints wall time, CPU time and peak RSS of one in-process generation. No test asserts any figure.
"""
import resource
import shutil
import tempfile
import time
from pathlib import Path

from worldgen.config import Shares, WorldConfig
from worldgen.generate import generate_world

out = Path(tempfile.mkdtemp(prefix="w3m-"))
t = time.perf_counter()
c = time.process_time()
s = generate_world(WorldConfig(seed=1, n_students=1_000_000, shares=Shares(not_in_registry=0.15)), out)
print("wall", round(time.perf_counter() - t, 1), "cpu", round(time.process_time() - c, 1),
      "peak_mib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
print("students", s.n_students, "registry persons", s.counts["kemensos/anggota_keluarga.jsonl"])
shutil.rmtree(out, ignore_errors=True)
