"""Where the samples of a py-spy recording went: the functions with the most samples of their own (self) and
those on the most stacks (inclusive), from py-spy's collapsed stacks (``py-spy record --format raw``).

    .venv/bin/python bench/spy_top.py FILE [FILE ...] [--top 30] [--match TEXT] [--idle]

Frames of a thread blocked in the kernel (``select``, a lock's ``wait``, a socket's ``read``) are dropped unless
``--idle``: py-spy samples idle threads too (``--idle`` off in the recording drops most of them already).
``--match TEXT`` keeps only the stacks through a frame containing TEXT, and reports shares of those.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# a thread blocked in the kernel (a socket, a lock, a pipe): py-spy's own idle detection lets some through
IDLE = re.compile(r"^(\w+\.)?(select|wait|acquire|poll|_recv|recv|sleep|accept|get|read)\b \((selectors|threading|"
                  r"psycopg/connection|psycopg/waiting|multiprocessing/connection|queue|socket|httpcore/_backends/sync|"
                  r"ssl|time)\.py")


def frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rstrip().rpartition(" ")
    parts = [f for f in stack.split(";") if f and not f.startswith("process ")]
    return parts, int(count)


def name(frame: str) -> str:
    """``func (path/to/module.py:12)`` → ``func (module.py)``: lines of one function counted together."""
    m = re.match(r"^(.*?) \((.*?):\d+\)$", frame)
    if not m:
        return frame
    path = m.group(2)
    for marker in ("site-packages/", "/work/main/", "/services/", "/shared/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group(1)} ({path})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--match")
    ap.add_argument("--idle", action="store_true")
    args = ap.parse_args()
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for f in args.files:
        for line in f.read_text().splitlines():
            if not line.strip():
                continue
            stack, n = frames(line)
            if not stack or (not args.idle and IDLE.match(stack[-1])):
                continue
            if args.match and not any(args.match in s for s in stack):
                continue
            total += n
            own[name(stack[-1])] += n
            for fr in {name(s) for s in stack}:
                incl[fr] += n
    print(f"{total} samples")
    for title, counter in (("self", own), ("inclusive", incl)):
        print(f"\n{title}:")
        for fr, n in counter.most_common(args.top):
            print(f"{100 * n / max(1, total):6.1f}%  {fr}")


if __name__ == "__main__":
    main()
