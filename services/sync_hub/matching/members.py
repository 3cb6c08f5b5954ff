"""Which member of a linked family a student is: whom an education verification is about.

A student linked by its own NIK or by the KK number is a member already (the check that verified the key
named it). A student linked by a parent's NIK, or by a reviewer, names only the family: its child is the one
member whose name agrees (>= ``deterministic.CHILD_NAME_OK``) and whose birth date agrees
(``compare.birth_dates_agree``). When two members pass (twins with near names), the one with the equal birth
date and the closest name is taken if it is alone in that; otherwise the child is left unnamed.
"""

from __future__ import annotations

import polars as pl

from services.sync_hub.matching.compare import birth_dates_agree, name_similarity
from services.sync_hub.matching.deterministic import CHILD_NAME_OK


def find_children(stu: pl.DataFrame, wanted: dict[int, str], persons: pl.DataFrame) -> dict[int, str]:
    """``wanted``: student position (``sid`` of ``stu``, a ``frames.students_frame``) -> the KK number of the
    family it is linked to; ``persons``: the registry's persons (``frames.Registry.persons``). Returns the NIK of
    each student's child member, where one is found."""
    if not wanted or persons.is_empty():
        return {}
    want = pl.DataFrame({"sid": list(wanted), "no_kk": list(wanted.values())},
                        schema={"sid": pl.Int64, "no_kk": pl.String})
    pairs = (want.join(stu.select("sid", "nama", "dob"), on="sid")
             .join(persons.select("no_kk", pl.col("nik").alias("p_nik"), pl.col("nama").alias("p_nama"),
                                  pl.col("dob").alias("p_dob")), on="no_kk"))
    if pairs.is_empty():
        return {}
    pairs = pairs.with_columns(pl.Series("sim", name_similarity(pairs["nama"], pairs["p_nama"])),
                               birth_dates_agree(pl.col("dob"), pl.col("p_dob")).alias("dob_ok"),
                               (pl.col("dob") == pl.col("p_dob")).fill_null(False).alias("dob_eq"))
    ok = pairs.filter((pl.col("sim") >= CHILD_NAME_OK) & pl.col("dob_ok"))
    out: dict[int, str] = {}
    for (sid,), group in ok.group_by(["sid"], maintain_order=True):
        if group.height == 1:
            out[int(sid)] = group["p_nik"][0]
            continue
        best = group.sort(["dob_eq", "sim"], descending=True)
        top, second = best.row(0, named=True), best.row(1, named=True)
        if (top["dob_eq"], top["sim"]) != (second["dob_eq"], second["sim"]):
            out[int(sid)] = top["p_nik"]
    return out
