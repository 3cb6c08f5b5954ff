"""Where a PostgreSQL database's CPU went, by statement: adds up the server log a run with
``BENCH_HUB_STATEMENT_STATS=1`` wrote (``bench_sync_e2e.py``: ``log_statement_stats`` and every statement's
duration on the hub's database).

    .venv/bin/python bench/pg_statement_cpu.py /var/log/postgresql/postgresql-15-main.log [--from-byte N] [--top 30]

Each statement's CPU is the user + system seconds of the usage blocks the backend logged for its messages (parse,
bind, execute: each block precedes the message's ``duration`` line), attributed to the statement's text with its
literals folded (numbers, quoted strings, ``$n``), so that one statement run with other values counts as one.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

LINE = re.compile(r"^\d{4}-\d\d-\d\d (\d\d:\d\d:\d\d)\.\d+ \w+ \[(\d+)\] (?:\S+@(\S+) )?(\w+):  (.*)$")
USAGE = re.compile(r"!\s+([\d.]+) s user, ([\d.]+) s system")


def fold(sql: str) -> str:
    sql = re.sub(r"'(?:[^']|'')*'", "'?'", sql)
    sql = re.sub(r"\$\d+", "$n", sql)
    sql = re.sub(r"\b\d+(\.\d+)?\b", "N", sql)
    sql = re.sub(r"(\$n, )+\$n", "$n...", sql)
    return re.sub(r"\s+", " ", sql).strip()


def entries(text: str, database: str | None, since: str, until: str) -> list[tuple[str, str, str]]:
    """(pid, level, message with its continuation lines) per log entry of ``database``, timed within the range."""
    out: list[tuple[str, str, list[str]]] = []
    keep = False
    for line in text.splitlines():
        m = LINE.match(line) if line[:2] == "20" else None
        if m:
            keep = (database is None or m.group(3) == database) and since <= m.group(1) <= until
            if keep:
                out.append((m.group(2), m.group(4), [m.group(5)]))
        elif out and keep:
            out[-1][2].append(line)
    return [(pid, level, "\n".join(msg)) for pid, level, msg in out]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log", type=Path)
    ap.add_argument("--from-byte", type=int, default=0)
    ap.add_argument("--database", help="only this database's entries (the log line's user@database)")
    ap.add_argument("--since", default="00:00:00", help="HH:MM:SS (the log's clock)")
    ap.add_argument("--until", default="99:99:99")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--width", type=int, default=160)
    args = ap.parse_args()
    with args.log.open("rb") as f:
        f.seek(args.from_byte)
        text = f.read().decode(errors="replace")
    pending: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for pid, level, msg in entries(text, args.database, args.since, args.until):
        if level == "LOG" and msg.startswith(("EXECUTE MESSAGE STATISTICS", "QUERY STATISTICS")):
            pending[pid + "#"] = 1
        elif level == "DETAIL" and "system usage stats" in msg:
            m = USAGE.search(msg)
            if m:
                pending[pid] += float(m.group(1)) + float(m.group(2))
        elif level == "STATEMENT" and pid in pending:
            key = fold(msg)
            cpu[key] += pending.pop(pid)
            calls[key] += int(pending.pop(pid + "#", 0))
    total = sum(cpu.values())
    print(f"{total:.2f} CPU-s in {sum(calls.values()):,} statements")
    for key, c in sorted(cpu.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{c:7.2f} s {100 * c / max(total, 1e-9):5.1f} %  {calls[key]:6d}x  {key[: args.width]}")


if __name__ == "__main__":
    main()
