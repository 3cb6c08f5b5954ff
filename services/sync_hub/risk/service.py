"""The rules of the families-at-risk report (pure: frames in, rows out; ``repository`` reads and writes them).

Which families: PKH families (``replica_keluarga.pkh_status`` AKTIF, what makes a linked student a
``PKH_RECIPIENT``). Which children: members whose relation is a child's (``ANAK``, ``CUCU``). A child is of school
age when 7 to 18 years old on the first day of the period (``school_age_bounds``). A family is listed for:

* ``NO_SCHOOL_RECORD`` — a school-age child no school record is linked to (``student_status.child_nik``) and no
  unlinked record stands for (below): the family and its PKH companion have to enrol the child or tell the school
  the child's NIK;
* a school record active in the period that does not link the child although evidence attributes it to the
  family (``ATTRIBUTION``: the hub's own link to the family, the record's KK number or former KK number, a
  parent's NIK that is a member's, a review case naming the family; the record's own NIK alone is not enough: a
  mistyped NIK can hit an unrelated person of the same kecamatan and birth date). Its reason comes from its
  outcome (``REASON_OF_OUTCOME``) or from Dapodik holding it back (``HELD_BACK``); the school named fixes it, a
  hub reviewer decides ``IN_REVIEW``. It stands for the member it pins (``_pin``), who is then not
  ``NO_SCHOOL_RECORD`` (unless only a review case attributes it: the candidate may be a homonym); a record
  pinned to a child linked through another record is not listed (its verification is made from that one);
* ``ATTENDANCE_BELOW_85`` — the child's verification of the period has a month under 85 %: school and family;
* ``LEFT_SCHOOL`` / ``GRADUATED`` — the verification says the child no longer attends (``keluar_reason``
  ``LULUS``: graduated): the education component ends; listed with ``error`` false, not as an error.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from services.sync_hub.matching.compare import birth_dates_agree, name_similarity
from services.sync_hub.matching.deterministic import CHILD_NAME_OK
from services.sync_hub.verification.service import GRADUATED, Period
from shared.names import normalise_series

CHILD_RELATIONS = ("ANAK", "CUCU")
SCHOOL_AGE = (7, 18)

# reasons, and who can fix each
NO_SCHOOL_RECORD = "NO_SCHOOL_RECORD"
NIK_INVALID, NIK_MISMATCH, NO_NIK = "NIK_INVALID", "NIK_MISMATCH", "NO_NIK"
NIK_NOT_REGISTERED, NIK_UNCONFIRMED, CHILD_UNIDENTIFIED = "NIK_NOT_REGISTERED", "NIK_UNCONFIRMED", "CHILD_UNIDENTIFIED"
HELD_BACK, IN_REVIEW = "HELD_BACK", "IN_REVIEW"
ATTENDANCE_BELOW_85, LEFT_SCHOOL = "ATTENDANCE_BELOW_85", "LEFT_SCHOOL"
GRADUATED_REASON = "GRADUATED"

SCHOOL, REVIEWER, FAMILY, SCHOOL_AND_FAMILY, COMPANION = (
    "SCHOOL", "HUB_REVIEWER", "FAMILY_AND_COMPANION", "SCHOOL_AND_FAMILY", "PKH_COMPANION")
ACTOR = {NO_SCHOOL_RECORD: FAMILY, NIK_INVALID: SCHOOL, NIK_MISMATCH: SCHOOL, NO_NIK: SCHOOL,
         NIK_NOT_REGISTERED: SCHOOL, NIK_UNCONFIRMED: SCHOOL, CHILD_UNIDENTIFIED: SCHOOL, HELD_BACK: SCHOOL,
         IN_REVIEW: REVIEWER,
         ATTENDANCE_BELOW_85: SCHOOL_AND_FAMILY, LEFT_SCHOOL: COMPANION, GRADUATED_REASON: COMPANION}
REASONS = tuple(ACTOR)
NOT_ERRORS = frozenset({LEFT_SCHOOL, GRADUATED_REASON})  # the component ends: not an error
LINK_REASONS = frozenset({NIK_INVALID, NIK_MISMATCH, NO_NIK, NIK_NOT_REGISTERED, NIK_UNCONFIRMED, CHILD_UNIDENTIFIED,
                          HELD_BACK, IN_REVIEW})

# an unlinked record's outcome -> the reason (PKH_RECIPIENT: linked to the family, but no member is the child)
REASON_OF_OUTCOME = {"NIK_INVALID": NIK_INVALID, "NIK_MISMATCH": NIK_MISMATCH, "NO_NIK": NO_NIK,
                     "NOT_REGISTERED": NIK_NOT_REGISTERED, "IN_REVIEW": IN_REVIEW,
                     "LINKED_BY_FALLBACK": NIK_UNCONFIRMED, "PKH_RECIPIENT": CHILD_UNIDENTIFIED}
UNLINKED_OUTCOMES = tuple(REASON_OF_OUTCOME)

# what attributed an unlinked record to a family, strongest first: a record keeps the families of its strongest
ATTRIBUTION = ("linked", "fallback", "no_kk", "no_kk_lama", "nik_ibu", "nik_ayah", "nik_wali", "review")

ROW_SCHEMA = {"no_kk": pl.String, "family_region": pl.String, "region": pl.String, "child_nik": pl.String,
              "reason": pl.String, "system": pl.String, "student_id": pl.String, "school": pl.String,
              "npsn": pl.String, "months_below": pl.List(pl.Int64), "evidence": pl.String, "detail": pl.String}

MEMBERS_SCHEMA = {"nik": pl.String, "no_kk": pl.String, "nama_norm": pl.String, "dob": pl.Date,
                  "hubungan": pl.String, "family_region": pl.String}
VERIFIED_SCHEMA = {"nik": pl.String, "no_kk": pl.String, "family_region": pl.String, "enrolled": pl.Boolean,
                   "active": pl.Boolean, "months_below": pl.List(pl.Int64), "system": pl.String,
                   "student_id": pl.String, "school": pl.String, "npsn": pl.String, "region": pl.String,
                   "keluar_on": pl.Date, "keluar_reason": pl.String}
UNLINKED_SCHEMA = {"system": pl.String, "student_id": pl.String, "outcome": pl.String, "detail": pl.String,
                   "nik": pl.String, "nama": pl.String, "dob": pl.Date, "school": pl.String, "npsn": pl.String,
                   "region": pl.String, "aktif": pl.Boolean, "keluar_on": pl.Date, "held_back": pl.Boolean}
ATTRIBUTION_SCHEMA = {"system": pl.String, "student_id": pl.String, "no_kk": pl.String, "family_region": pl.String,
                      "evidence": pl.String}


def school_age_bounds(period: Period) -> tuple[date, date]:
    """(born after, born on or before): a child is of school age in ``period`` when 7 to 18 years old on its first
    day. The evaluator of the demo (``jembatan.risk_truth``) uses the same rule."""
    start = period.start  # the first of a month: no 29 February to fall on
    return date(start.year - SCHOOL_AGE[1] - 1, start.month, start.day), date(start.year - SCHOOL_AGE[0], start.month,
                                                                               start.day)


def build(period: Period, members: pl.DataFrame, linked: pl.Series, verified: pl.DataFrame,
          unlinked: pl.DataFrame, attributions: pl.DataFrame) -> pl.DataFrame:
    """The report's rows (``ROW_SCHEMA``, plus ``family_seq``) from:

    * ``members``: the child-relation members of PKH families (``MEMBERS_SCHEMA``);
    * ``linked``: the registry NIKs some school record is linked to as the child;
    * ``verified``: the period's education verifications of children linked now, with their PKH family
      (``VERIFIED_SCHEMA``);
    * ``unlinked``: school records that do not link a child (``UNLINKED_OUTCOMES``; ``UNLINKED_SCHEMA``);
    * ``attributions``: which PKH family each unlinked record is attributed to, and by what (``ATTRIBUTION``).
    """
    after, by = school_age_bounds(period)
    members = members.with_columns(
        (pl.col("hubungan").is_in(CHILD_RELATIONS) & (pl.col("dob") > after) & (pl.col("dob") <= by))
        .alias("school_age"), pl.col("nik").is_in(linked.implode()).alias("linked"))
    parts = [_from_verification(verified)]
    records = _records(period, unlinked, attributions, members)
    parts.append(records.select(list(ROW_SCHEMA)))
    # a record only a review case attributes may be another family's child (a homonym): it does not stand for a
    # member until a reviewer links it
    pinned = records.filter(pl.col("evidence") != "review")["child_nik"].drop_nulls()
    missing = members.filter(pl.col("school_age") & ~pl.col("linked") & ~pl.col("nik").is_in(pinned.implode()))
    parts.append(missing.select(
        "no_kk", "family_region", pl.col("family_region").alias("region"), pl.col("nik").alias("child_nik"),
        pl.lit(NO_SCHOOL_RECORD).alias("reason"), *_nulls("system", "student_id", "school", "npsn"),
        pl.lit([], dtype=pl.List(pl.Int64)).alias("months_below"), pl.lit(None, pl.String).alias("evidence"),
        pl.lit("school-age child: no school record in EMIS or Dapodik is linked to the child").alias("detail")))
    rows = pl.concat([p.select(list(ROW_SCHEMA)).cast(ROW_SCHEMA) for p in parts], how="vertical")  # type: ignore[arg-type]
    rows = rows.unique(subset=["no_kk", "reason", "child_nik", "system", "student_id"], keep="first",
                       maintain_order=True)
    start = period.start
    ages = members.select(pl.col("nik").alias("child_nik"), (
        start.year - pl.col("dob").dt.year()
        - ((pl.col("dob").dt.month().cast(pl.Int32) * 100 + pl.col("dob").dt.day().cast(pl.Int32))
           > start.month * 100 + start.day).cast(pl.Int32)
    ).cast(pl.Int64).alias("age")).unique(subset=["child_nik"])
    rows = rows.join(ages, on="child_nik", how="left")
    seq = (rows.select("family_region", "no_kk").unique().sort("family_region", "no_kk")
           .with_row_index("family_seq", offset=1).with_columns(pl.col("family_seq").cast(pl.Int64)))
    return (rows.join(seq, on=["family_region", "no_kk"])
            .with_columns(pl.col("reason").replace_strict(ACTOR, return_dtype=pl.String).alias("actor"),
                          (~pl.col("reason").is_in(list(NOT_ERRORS))).alias("error"))
            .sort("family_seq", "reason", "child_nik", "student_id", nulls_last=True))


def _nulls(*names: str) -> list[pl.Expr]:
    return [pl.lit(None, pl.String).alias(n) for n in names]


def _from_verification(verified: pl.DataFrame) -> pl.DataFrame:
    """Attendance under 85 % in a month of the period (still active), or the component ends (no longer active)."""
    v = verified.with_columns(
        pl.when(~pl.col("active") & (pl.col("keluar_reason") == GRADUATED)).then(pl.lit(GRADUATED_REASON))
        .when(~pl.col("active")).then(pl.lit(LEFT_SCHOOL))
        .when(pl.col("months_below").list.len() > 0).then(pl.lit(ATTENDANCE_BELOW_85))
        .otherwise(pl.lit(None, pl.String)).alias("reason"))
    v = v.filter(pl.col("reason").is_not_null())
    left = pl.concat_str(pl.lit("left "), pl.col("keluar_on").dt.to_string("%Y-%m-%d").fill_null("(date not given)"),
                         pl.lit(" ("), pl.col("keluar_reason").fill_null("reason not given").str.to_lowercase()
                         .str.replace_all("_", " "), pl.lit("): the education component ends; not an error"))
    graduated = pl.concat_str(pl.lit("graduated "), pl.col("keluar_on").dt.to_string("%Y-%m-%d").fill_null(""),
                              pl.lit(": the education component ends; not an error"))
    below = pl.concat_str(pl.lit("attendance under 85% in month(s) "),
                          pl.col("months_below").cast(pl.List(pl.String)).list.join(", "))
    return v.select(
        "no_kk", "family_region", "region", pl.col("nik").alias("child_nik"), "reason", "system", "student_id",
        "school", "npsn", pl.when(pl.col("reason") == ATTENDANCE_BELOW_85).then(pl.col("months_below"))
        .otherwise(pl.lit([], dtype=pl.List(pl.Int64))).alias("months_below"),
        pl.lit(None, pl.String).alias("evidence"),
        pl.when(pl.col("reason") == GRADUATED_REASON).then(graduated)
        .when(pl.col("reason") == LEFT_SCHOOL).then(left).otherwise(below).alias("detail"))


def _records(period: Period, unlinked: pl.DataFrame, attributions: pl.DataFrame, members: pl.DataFrame
             ) -> pl.DataFrame:
    """The unlinked records active in the period, each under the PKH families its strongest evidence names, the
    member it stands for pinned where one can be (``child_nik``); those pinned to a linked child dropped."""
    active = unlinked.filter(pl.when(pl.col("keluar_on").is_not_null()).then(pl.col("keluar_on") >= period.start)
                             .otherwise(pl.col("aktif")))
    rank = {e: i for i, e in enumerate(ATTRIBUTION)}
    att = (attributions.join(active.select("system", "student_id"), on=["system", "student_id"], how="semi")
           .with_columns(pl.col("evidence").replace_strict(rank, return_dtype=pl.Int64).alias("_rank"))
           .sort("_rank").unique(subset=["system", "student_id", "no_kk"], keep="first"))
    att = att.filter(pl.col("_rank") == pl.col("_rank").min().over("system", "student_id"))
    recs = active.join(att.select("system", "student_id", "no_kk", "family_region", "evidence"),
                       on=["system", "student_id"])
    recs = recs.with_columns(normalise_series(recs["nama"]).alias("nama_norm"))
    recs = recs.with_row_index("_r").join(_pin(recs.with_row_index("_r"), members), on="_r", how="left")
    linked = members.filter(pl.col("linked"))["nik"]
    recs = recs.filter(pl.col("child_nik").is_null() | ~pl.col("child_nik").is_in(linked.implode()))
    reason = (pl.when(pl.col("held_back")).then(pl.lit(HELD_BACK))
              .otherwise(pl.col("outcome").replace_strict(REASON_OF_OUTCOME, default=None, return_dtype=pl.String)))
    what = {HELD_BACK: "held back by Dapodik validation (an INVALID finding): the school fixes the record",
            IN_REVIEW: "waiting in the hub's review queue: a reviewer decides",
            NIK_UNCONFIRMED: "linked by name, birth date and mother only: the school confirms the child's NIK",
            CHILD_UNIDENTIFIED: "linked to the family, but no member has the record's name and birth date"}
    return recs.with_columns(reason.alias("reason")).filter(pl.col("reason").is_not_null()).with_columns(
        pl.concat_str(pl.col("reason").replace_strict(what, default="the record does not link the child")
                      .alias("_what"), pl.lit("; outcome "), pl.col("outcome"),
                      pl.when(pl.col("detail").is_not_null()).then(pl.concat_str(pl.lit(": "), pl.col("detail")))
                      .otherwise(pl.lit("")), pl.lit("; attributed by "), pl.col("evidence"))
        .str.slice(0, 300).alias("detail"),
        pl.lit([], dtype=pl.List(pl.Int64)).alias("months_below"))


def _pin(recs: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """``_r`` -> ``child_nik``: the member of its family a record stands for, where one can be named: the member
    with the record's NIK; else the one whose name (>= ``CHILD_NAME_OK``) and birth date agree (the closest name);
    else the one born on the record's birth date, when alone; else, when the family has one school-age child no
    record is linked to or pinned to, that child."""
    kids = members.filter(pl.col("hubungan").is_in(CHILD_RELATIONS))
    pairs = recs.select("_r", "no_kk", "nik", "nama_norm", "dob").join(
        kids.select("no_kk", pl.col("nik").alias("m_nik"), pl.col("nama_norm").alias("m_nama"),
                    pl.col("dob").alias("m_dob"), "school_age", "linked"), on="no_kk")
    if pairs.is_empty():
        return pl.DataFrame(schema={"_r": pl.UInt32, "child_nik": pl.String})
    pairs = pairs.with_columns(pl.Series("sim", name_similarity(pairs["nama_norm"], pairs["m_nama"])),
                               birth_dates_agree(pl.col("dob"), pl.col("m_dob")).alias("dob_ok"))
    by_nik = pairs.filter(pl.col("nik") == pl.col("m_nik")).select("_r", pl.col("m_nik").alias("child_nik"))
    by_name = (pairs.filter((pl.col("sim") >= CHILD_NAME_OK) & pl.col("dob_ok")).sort("sim", descending=True)
               .unique(subset=["_r"], keep="first").select("_r", pl.col("m_nik").alias("child_nik")))
    by_dob = (pairs.filter(pl.col("dob") == pl.col("m_dob")).filter(pl.len().over("_r") == 1)
              .select("_r", pl.col("m_nik").alias("child_nik")))
    pinned = pl.concat([by_nik, by_name, by_dob]).unique(subset=["_r"], keep="first", maintain_order=True)
    rest = recs.join(pinned, on="_r", how="anti").select("_r", "no_kk")
    taken = pinned["child_nik"]
    free = (kids.filter(pl.col("school_age") & ~pl.col("linked") & ~pl.col("nik").is_in(taken.implode()))
            .filter(pl.len().over("no_kk") == 1).select("no_kk", pl.col("nik").alias("child_nik")))
    lone = rest.join(free, on="no_kk").select("_r", "child_nik")
    return pl.concat([pinned, lone]).unique(subset=["_r"], keep="first", maintain_order=True)


def counts(rows: pl.DataFrame) -> dict[str, object]:
    """What the run and the summary say: families at risk (an error row), families whose component only ends,
    rows per reason, and per province of the family the same."""
    def one(df: pl.DataFrame) -> dict[str, object]:
        fam = df.group_by("no_kk").agg(pl.col("error").any().alias("err"))
        return {"families": int(fam["err"].sum()), "families_component_ends": int((~fam["err"]).sum()),
                "by_reason": {r: int(n) for r, n in df.group_by("reason").len().sort("reason").iter_rows()}}
    out = one(rows)
    out["by_province"] = {str(p[0]): one(g) for p, g in rows.with_columns(
        pl.col("family_region").str.slice(0, 2).alias("_p")).sort("_p").group_by(["_p"], maintain_order=True)}
    return out
