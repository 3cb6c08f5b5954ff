"""The EMIS gateway's part of ``bench/bench_gateway_push.py`` (kept so the old command still works):

    .venv/bin/python bench/bench_gateway_push_emis.py [options of bench_gateway_push.py]

is ``bench_gateway_push.py --gateway emis [options]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_gateway_push

if __name__ == "__main__":
    sys.argv[1:1] = ["--gateway", "emis"]
    bench_gateway_push.main()
