"""Deterministic linking, vectorised: every key a student record carries, each hit verified.

Keys: the child's NIK, the mother's, the father's, the guardian's, and the KK number (current or one the
family held before). A NIK that breaks a rule is not used (its rule is reported). A hit is never trusted
on its own: a mistyped digit is often another real person's valid NIK, so each hit is verified against
the identity it should belong to:

* child's NIK: the registry person's name agrees (>= 0.85) and the birth date agrees (equal, a day off,
  day/month swapped, a year off) or the mother's name agrees; or the birth date is equal and the
  mother's name agrees while the name is at least 0.70 (a heavy typo).
* a parent's NIK: the person's sex is the parent's and the name agrees with the record's parent name
  (>= 0.80); a guardian's: the name agrees.
* the KK number: the family has a member who passes the child's check, or a woman whose name agrees
  with the mother's name.

The first verified key in the order child, mother, KK, father, guardian decides the family. When the
child's and the mother's verified keys point at different families nobody guesses: the student goes to
review with both candidates. A hit whose identity disagrees is a mismatch, never a link.

How it runs (1M students against 3M registry persons in about a second of CPU): NIKs are joined as
unsigned 64-bit integers on a (NIK -> person) index of the registry, families are integer ids, the
columns a check compares are gathered by position (no wide joins carrying strings), names are compared
with rapidfuzz only where they are not equal after normalising, and the per-student assembly is two
group-bys; text (what disagreed, which rule, which key) is built only for the students that need it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from services.sync_hub.matching.compare import birth_dates_agree, name_similarity
from services.sync_hub.matching.frames import NIK_KEYS, Registry

CHILD_NAME_OK = 0.85
CHILD_NAME_WEAK = 0.70
PARENT_NAME_OK = 0.80
PRECEDENCE = ("nik", "nik_ibu", "no_kk", "nik_ayah", "nik_wali")
_CODE = {k: i for i, k in enumerate(PRECEDENCE)}  # a key's code is its precedence
_PARENT = {"nik_ibu": ("ibu", "P", "nama_ibu_kandung"), "nik_ayah": ("ayah", "L", "nama_ayah"),
           "nik_wali": ("wali", None, "nama_wali")}
_MISMATCH_ORDER = ("nik", "nik_ibu", "nik_ayah", "nik_wali", "no_kk")  # how the disagreements are listed

# a slice's cache entry (``Registry._cache``): (students frame, ``link`` of it over the slice's key rows, the
# NIKs of those rows by ``pid``), left by ``replica.slice.registry_for``, which runs the pass to know which students
# the fallback needs; ``link`` over the whole slice decides the same (its key rows are all the pass reads), only
# its ``pid`` count positions in the key rows
KEY_ROWS_LINK = "deterministic_link_over_key_rows"

RESULT_SCHEMA = {
    "sid": pl.Int64, "outcome": pl.String, "matched_by": pl.String, "no_kk": pl.String, "pid": pl.Int64,
    "other_no_kk": pl.String, "invalid": pl.String, "mismatch": pl.String, "notes": pl.String,
    "nik": pl.String, "nik_ibu": pl.String, "nik_ayah": pl.String, "nik_wali": pl.String,
}
HITS_SCHEMA = {"sid": pl.Int64, "key": pl.Int8, "pid": pl.Int64, "fid": pl.Int64, "ok": pl.Boolean,
               "disagreed": pl.String}


@dataclass(frozen=True)
class _Index:
    """The registry as the deterministic pass reads it, built once per registry (cached on it)."""

    kk: pl.Series  # family id -> KK number (every number a family or a person carries)
    by_nik: pl.DataFrame  # value (u64 NIK), pid
    fid: pl.Series  # pid -> family id
    by_kk: pl.DataFrame  # kk (current or former number, as u64), fid
    members: pl.DataFrame  # fid, pid
    pkh: pl.Series  # family id -> PKH status (null for a number without a family row)


INDEX = "deterministic_index"  # the key of ``_index``'s result in the registry's cache


def prepare(reg: Registry) -> None:
    """Build the registry's index (``_index``) on a background thread (``Registry.prepare``)."""
    reg.prepare(INDEX, _build_index)


def _index(reg: Registry) -> _Index:
    return reg.cached(INDEX, _build_index)


def _build_index(reg: Registry) -> _Index:
    p, f = reg.persons, reg.families
    kk = pl.concat([f["no_kk"], p["no_kk"]]).drop_nulls().unique(maintain_order=True).rename("kk")
    codes = pl.DataFrame({"kk": kk, "fid": pl.int_range(kk.len(), dtype=pl.Int64, eager=True)})
    fid = p.select("no_kk").join(codes.rename({"kk": "no_kk"}), on="no_kk", how="left", maintain_order="left")["fid"]
    by_nik = pl.DataFrame({"value": p["nik"].cast(pl.UInt64, strict=False), "pid": p["pid"]}).drop_nulls("value")
    current = f.select(pl.col("no_kk").alias("kk")).join(codes, on="kk")
    old = reg.kk_lama.select(pl.col("old_kk").alias("kk"), pl.col("no_kk")).join(
        codes.rename({"kk": "no_kk"}), on="no_kk").select("kk", "fid")
    by_kk = pl.concat([current, old]).select(pl.col("kk").cast(pl.UInt64, strict=False), "fid").drop_nulls().unique()
    pkh = codes.join(f.select(pl.col("no_kk").alias("kk"), "pkh_status"), on="kk", how="left",
                     maintain_order="left")["pkh_status"]
    return _Index(kk, by_nik, fid, by_kk, pl.DataFrame({"fid": fid, "pid": p["pid"]}).drop_nulls("fid"), pkh)


def _positions(stu: pl.DataFrame, sid: pl.Series) -> pl.Series:
    """Row positions in ``stu`` of the students ``sid`` (``sid`` is the position when ``stu`` is whole)."""
    ids = stu["sid"]
    if ids.len() == 0 or (ids[0] == 0 and ids[-1] == ids.len() - 1 and bool((ids.diff().drop_nulls() == 1).all())):
        return sid
    rows = stu.select("sid", pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"))
    return pl.DataFrame({"sid": sid}).join(rows, on="sid", how="left", maintain_order="left")["_row"]


def _child_ok(nama: pl.Series, dob: pl.Series, ibu: pl.Series, p_nama: pl.Series, p_dob: pl.Series,
              p_ibu: pl.Series) -> tuple[pl.Series, pl.Series, np.ndarray]:
    """The child's check over aligned columns: ``ok``, what disagreed when not, and the name similarity."""
    sim_name = name_similarity(nama, p_nama)
    sim_ibu = name_similarity(ibu, p_ibu)
    f = pl.DataFrame({"dob": dob, "p_dob": p_dob, "sim_name": sim_name, "sim_ibu": sim_ibu})
    f = f.select(
        (((pl.col("sim_name") >= CHILD_NAME_OK) & (birth_dates_agree(pl.col("dob"), pl.col("p_dob"))
                                                  | (pl.col("sim_ibu") >= CHILD_NAME_OK)))
         | ((pl.col("sim_name") >= CHILD_NAME_WEAK) & (pl.col("dob") == pl.col("p_dob")).fill_null(False)
            & (pl.col("sim_ibu") >= CHILD_NAME_OK))).alias("ok"),
        pl.when(pl.col("sim_name") < CHILD_NAME_OK).then(pl.lit("nama")).otherwise(pl.lit("tanggal_lahir"))
        .alias("disagreed"))
    return f["ok"], f["disagreed"], sim_name


def _nik_hits(stu: pl.DataFrame, reg: Registry) -> pl.DataFrame:
    """Every registry person a NIK key names (HITS_SCHEMA), verified; ``pid`` only for the child's key."""
    idx = _index(reg)
    keys = pl.concat([
        stu.select("sid", pl.lit(_CODE[k], dtype=pl.Int8).alias("key"),
                   pl.col(k).cast(pl.UInt64, strict=False).alias("value")).drop_nulls("value")
        for k in NIK_KEYS])
    hits = keys.join(idx.by_nik, on="value").drop("value")
    if hits.is_empty():
        return pl.DataFrame(schema=HITS_SCHEMA)
    pos = _positions(stu, hits["sid"])
    pid = hits["pid"]
    person = reg.persons.select("nama", "sex", "dob", "ibu")
    out = []
    child = hits["key"] == _CODE["nik"]
    if child.any():
        c = hits.filter(child)
        cp, cpos = c["pid"], pos.filter(child)
        ok, disagreed, _ = _child_ok(stu["nama"].gather(cpos), stu["dob"].gather(cpos), stu["ibu"].gather(cpos),
                                     person["nama"].gather(cp), person["dob"].gather(cp), person["ibu"].gather(cp))
        out.append(c.select("sid", "key", "pid", idx.fid.gather(cp).alias("fid"), ok.alias("ok"),
                            disagreed.alias("disagreed")))
    for key, (column, sex, label) in _PARENT.items():
        mask = hits["key"] == _CODE[key]
        if not mask.any():
            continue
        h, hp, hpos = hits.filter(mask), pid.filter(mask), pos.filter(mask)
        sim = name_similarity(stu[column].gather(hpos), person["nama"].gather(hp))
        p_sex = person["sex"].gather(hp)
        sex_ok = (p_sex == sex) if sex else pl.Series(np.ones(h.height, dtype=bool))
        ok = sex_ok.fill_null(False) & pl.Series(sim >= PARENT_NAME_OK)
        disagreed = pl.select(pl.when(sex_ok.fill_null(False)).then(pl.lit(label))
                              .otherwise(pl.lit(f"jenis_kelamin of {key}"))).to_series()
        out.append(h.select("sid", "key", pl.lit(None, dtype=pl.Int64).alias("pid"),  # a parent is not the child
                            idx.fid.gather(hp).alias("fid"), ok.alias("ok"), disagreed.alias("disagreed")))
    return pl.concat([o.select([pl.col(c).cast(t) for c, t in HITS_SCHEMA.items()]) for o in out])


def _kk_hits(stu: pl.DataFrame, reg: Registry) -> pl.DataFrame:
    """Students whose KK number names a registry family (current or old number), verified by its members."""
    idx = _index(reg)
    want = stu.select("sid", pl.col("no_kk").cast(pl.UInt64, strict=False).alias("kk")).drop_nulls("kk")
    fam = want.join(idx.by_kk, on="kk").select("sid", "fid").unique()
    if fam.is_empty():
        return pl.DataFrame(schema=HITS_SCHEMA)
    members = fam.join(idx.members, on="fid")
    pos, mp = _positions(stu, members["sid"]), members["pid"]
    person = reg.persons.select("nama", "sex", "dob", "ibu")
    ok, _, sim_name = _child_ok(stu["nama"].gather(pos), stu["dob"].gather(pos), stu["ibu"].gather(pos),
                                person["nama"].gather(mp), person["dob"].gather(mp), person["ibu"].gather(mp))
    mother_ok = (person["sex"].gather(mp) == "P").fill_null(False) & pl.Series(
        name_similarity(stu["ibu"].gather(pos), person["nama"].gather(mp)) >= CHILD_NAME_OK)
    # the child is named only by a member whose name and birth date both agree, and only when that member is
    # the only one: a sibling of the same name (or a parent whose name the child carries) passes the check
    # on the mother's name alone, and names the family, never the child
    dob_ok = pl.DataFrame({"a": stu["dob"].gather(pos), "b": person["dob"].gather(mp)}).select(
        birth_dates_agree(pl.col("a"), pl.col("b"))).to_series()
    members = members.with_columns(ok.alias("ok"), mother_ok.alias("mother_ok"), pl.Series("sim", sim_name),
                                   (ok & dob_ok).alias("person_ok"))
    per_family = members.sort("sim", descending=True).group_by("sid", "fid").agg(
        pl.when(pl.col("person_ok").sum() == 1).then(pl.col("pid").filter(pl.col("person_ok")).first())
        .alias("pid"),
        (pl.col("ok").any() | pl.col("mother_ok").any()).alias("ok"))
    return per_family.select(
        "sid", pl.lit(_CODE["no_kk"], dtype=pl.Int8).alias("key"), "pid", "fid", "ok",
        pl.lit("no member agrees").alias("disagreed")).select([pl.col(c).cast(t) for c, t in HITS_SCHEMA.items()])


def _by_precedence(n: int, pos: np.ndarray, key: np.ndarray, values: np.ndarray, keys: tuple[str, ...] = PRECEDENCE
                   ) -> np.ndarray:
    """Per student (position), ``values`` of its row with the first key of ``keys`` by precedence; -1 where
    none: the keys are written last to first, so the first key's value stays."""
    out = np.full(n, -1, dtype=np.int64)
    for k in reversed(keys):
        mask = key == _CODE[k]
        out[pos[mask]] = values[mask]
    return out


def _text_column(n: int, pos: pl.Series, text: pl.Series, name: str) -> pl.Series:
    empty = pl.repeat(None, n, dtype=pl.String, eager=True).rename(name)
    return empty.scatter(pos, text) if pos.len() else empty


def link(stu: pl.DataFrame, reg: Registry) -> pl.DataFrame:
    """One row per student (RESULT_SCHEMA): the deterministic outcome, the key that decided it, the family
    (``no_kk``), the child's registry person when known (``pid``), and what the decision rests on."""
    idx = _index(reg)
    n = stu.height
    nik_hits = _nik_hits(stu, reg)
    settled = nik_hits.filter(pl.col("ok") & (pl.col("key") <= _CODE["nik_ibu"]))["sid"]
    kk_hits = _kk_hits(stu.filter(~pl.col("sid").is_in(settled.implode())), reg)

    # verified keys, by position in ``stu``; the first key by precedence decides (written last, wins)
    verified = pl.concat([nik_hits.filter("ok"), kk_hits.filter("ok")]).select("sid", "key", "fid", "pid")
    verified = verified.with_columns(_positions(stu, verified["sid"]).alias("_pos"))
    pos, key, fid = (verified[c].to_numpy() for c in ("_pos", "key", "fid"))
    vpid = verified["pid"].fill_null(-1).to_numpy()
    decided = _by_precedence(n, pos, key, key.astype(np.int64))
    decided_fid = _by_precedence(n, pos, key, fid)
    fid_nik = _by_precedence(n, pos, key, fid, ("nik",))
    fid_ibu = _by_precedence(n, pos, key, fid, ("nik_ibu",))
    has_pid = vpid >= 0
    pid = _by_precedence(n, pos[has_pid], key[has_pid], vpid[has_pid], ("nik", "no_kk"))
    kk_pos = pos[key == _CODE["no_kk"]]  # one row per (student, family): two families for one KK number
    multi = np.bincount(kk_pos, minlength=n) > 1 if kk_pos.size else np.zeros(n, dtype=bool)
    conflict = ((fid_nik >= 0) & (fid_ibu >= 0) & (fid_nik != fid_ibu)) | multi

    # text, built only where there is any: what disagreed, which rule broke, which key found another family
    failed = pl.concat([nik_hits, kk_hits]).filter(~pl.col("ok"))
    order = pl.col("key").replace_strict({_CODE[k]: i for i, k in enumerate(_MISMATCH_ORDER)}, return_dtype=pl.Int8)
    names = {c: k for k, c in _CODE.items()}
    failed = failed.with_columns(order.alias("_order")).sort("sid", "_order").with_columns(pl.concat_str(
        pl.col("key").replace_strict(names, return_dtype=pl.String), pl.lit(": "), pl.col("disagreed"),
        pl.lit(" disagrees")).alias("text"))
    mismatch = failed.group_by("sid", maintain_order=True).agg(
        pl.col("text").unique(maintain_order=True).str.join("; "),
        (pl.col("key") != _CODE["no_kk"]).any().alias("found"))  # a NIK named somebody (only failed: no link)
    mismatch = mismatch.with_columns(_positions(stu, mismatch["sid"]).alias("_pos"))
    found = np.zeros(n, dtype=bool)
    found[mismatch.filter("found")["_pos"].to_numpy()] = True
    elsewhere = verified.filter(pl.col("fid") != pl.Series(decided_fid).gather(verified["_pos"])).sort("_pos", "key")
    notes = elsewhere.group_by("_pos", maintain_order=True).agg(
        (pl.col("key").replace_strict(names, return_dtype=pl.String) + " verified in another family").str.join("; "))
    rule_cols = [f"rule_{k}" for k in NIK_KEYS]
    rules = stu.select(*NIK_KEYS, *rule_cols).with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_pos"))
    any_invalid = pl.any_horizontal([pl.col(c).is_not_null() & (pl.col(c) != "empty") for c in rule_cols])
    invalid = rules.filter(any_invalid).select("_pos", pl.concat_str(
        [pl.when(pl.col(c).is_not_null() & (pl.col(c) != "empty")).then(pl.concat_str(pl.lit(f"{k}: "), pl.col(c)))
         for k, c in zip(NIK_KEYS, rule_cols, strict=True)], separator="; ", ignore_nulls=True).alias("invalid"))

    def fids(values: np.ndarray) -> pl.Series:
        return pl.Series(values).set(pl.Series(values < 0), None)  # type: ignore[arg-type]

    out = pl.DataFrame({
        "sid": stu["sid"], "_decided": fids(decided), "_fid": fids(decided_fid), "_conflict": conflict,
        "_other": fids(np.where(conflict & (fid_nik >= 0) & (fid_ibu >= 0) & (fid_nik != fid_ibu), fid_ibu, -1)),
        "pid": fids(pid), "_found": found,
        "mismatch": _text_column(n, mismatch["_pos"], mismatch["text"], "mismatch"),
        "notes": _text_column(n, notes["_pos"], notes["key"], "notes"),
        "invalid": _text_column(n, invalid["_pos"], invalid["invalid"], "invalid"),
    }).with_columns(*stu.select(*NIK_KEYS).get_columns(), rules.select(any_invalid.alias("_invalid")).to_series())
    out = out.with_columns(idx.pkh.gather(out["_fid"]).alias("_pkh"), idx.kk.gather(out["_fid"]).alias("no_kk"),
                           idx.kk.gather(out["_other"]).alias("other_no_kk"))
    outcome = (
        pl.when(pl.col("_conflict")).then(pl.lit("IN_REVIEW"))
        .when(pl.col("_decided").is_not_null()).then(
            pl.when(pl.col("_pkh") == "AKTIF").then(pl.lit("PKH_RECIPIENT")).otherwise(pl.lit("NOT_PKH_RECIPIENT")))
        .when(pl.col("mismatch").is_not_null() & pl.col("_found")).then(pl.lit("NIK_MISMATCH"))
        .when(pl.any_horizontal([pl.col(k).is_not_null() for k in NIK_KEYS])).then(pl.lit("NOT_REGISTERED"))
        .when(pl.col("_invalid")).then(pl.lit("NIK_INVALID"))
        .otherwise(pl.lit("NO_NIK")))
    out = out.with_columns(outcome.alias("outcome"), pl.when(pl.col("_conflict")).then(None).otherwise(
        pl.col("_decided").replace_strict(names, default=None, return_dtype=pl.String)).alias("matched_by"))
    out = out.select([pl.col(c).cast(t) for c, t in RESULT_SCHEMA.items()])
    return out if stu["sid"].is_sorted() else out.sort("sid")
