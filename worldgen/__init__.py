"""Deterministic synthetic-world generator for Jembatan (see docs/world.md).

``generate_world(config, out_dir)`` writes the Kemensos, EMIS and Dapodik JSONL files of one world
plus its ground truth; ``python -m worldgen generate --seed 1 --families 5000 --out DIR`` does the
same from the command line.
"""

from worldgen.version import __version__

__all__ = ["__version__"]
