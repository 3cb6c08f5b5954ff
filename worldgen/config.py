"""Configuration of a synthetic world: seed, size, reference date, shares and error rates.

Everything that changes the output is in :class:`WorldConfig`; the generator reads no clock and no
environment, so one config always yields byte-identical files. ``docs/world.md`` explains each value.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

REFERENCE_DATE = date(2026, 7, 15)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _rate(default: float, description: str) -> float:
    return Field(default, ge=0.0, le=1.0, description=description)


class ErrorRates(_Frozen):
    """Probability of each education-side error, drawn independently per student record.

    A rate is the probability among the records the error can apply to (its *eligible* records,
    see ``docs/world.md``); for most errors that is every record. Every applied error is listed
    in the record's ground-truth ``errors``.
    """

    child_nik_missing: float = _rate(0.05, "Child's NIK field left empty.")
    mother_nik_missing: float = _rate(0.08, "Mother's NIK field left empty (records with a mother's NIK).")
    father_nik_missing: float = _rate(0.12, "Father's NIK field left empty (records with a father's NIK).")
    kk_as_nik: float = _rate(0.02, "Child's NIK field holds the record's KK number (same 16-digit format).")
    placeholder_nik: float = _rate(
        0.01, "Child, mother and father NIK fields all hold one dummy value such as 1234567890123456.")
    nik_swapped_digits: float = _rate(
        0.02, "Two adjacent digits of the child's or a parent's NIK swapped.")
    nik_typo: float = _rate(0.02, "One digit of the child's or a parent's NIK changed.")
    wrong_sex_digit: float = _rate(
        0.005, "Day field of a NIK moved by 40 (male <-> female encoding); the child's NIK first.")
    name_variant: float = _rate(
        0.10, "Spelling variant or typo of the child's name or the mother's name.")
    birth_date_off_by_one: float = _rate(0.02, "Child's birth date one day early or late.")
    birth_date_day_month_swapped: float = _rate(
        0.01, "Day and month of the child's birth date swapped (only when day <= 12 and day != month).")
    stale_kk: float = _rate(
        0.35, "KK number from before the family's KK was reissued (split, move); the registry holds the new one "
        "and lists the old one in kk_history.jsonl. Rate among records of families with an older KK.")
    duplicate_record: float = _rate(0.005, "The record is a second record of a student in the same system.")
    # field errors (issue 14): 0 by default, so that a world generated before them is generated the same; the
    # matching benchmark turns them on at the rates of ``FIELD_ERROR_RATES``
    name_parts_reordered: float = _rate(0.0, "The child's name written in another order of its words.")
    birth_year_typo: float = _rate(
        0.0, "One digit of the birth year mistyped or its last two digits swapped (more than a year off).")
    birth_date_missing: float = _rate(0.0, "The child's birth date left empty (the files only: the hub's "
                                      "contracts require one).")
    school_in_other_kabupaten: float = _rate(
        0.0, "The record is held by an institution of the same system and kind in another kabupaten.")


FIELD_ERROR_RATES = {"name_parts_reordered": 0.03, "birth_year_typo": 0.02, "birth_date_missing": 0.02,
                     "school_in_other_kabupaten": 0.05}


class Shares(_Frozen):
    """Shares that shape the world (not errors)."""

    not_in_registry: float = _rate(0.25, "Families absent from the Kemensos registry (true negatives).")
    madrasah: float = _rate(0.20, "Enrolled children in a madrasah (EMIS) rather than a school (Dapodik).")
    transfer: float = _rate(0.01, "Enrolled children holding an older record in the other system.")
    enrolment: float = _rate(0.95, "Children of school age (7-18) enrolled somewhere.")
    grade_behind: float = _rate(0.10, "Enrolled children one grade below their age's grade.")
    moved_adult: float = _rate(0.10, "Adults whose NIK was first issued in another kecamatan.")
    moved_child: float = _rate(0.02, "Children whose NIK was first issued in another kecamatan.")
    pkh_active: float = _rate(
        0.45, "Registry families in desil 1-4 with school-age children whose PKH status is AKTIF.")
    pkh_active_other: float = _rate(
        0.25, "Registry families in desil 1-4 with other PKH components only (0-6, 70+) that are AKTIF.")
    pkh_inactive: float = _rate(0.05, "Desil 1-4 families not AKTIF but listed as TIDAK_AKTIF.")
    pkh_graduated: float = _rate(0.04, "Desil 1-6 families not AKTIF but listed as GRADUASI.")
    kks: float = _rate(0.60, "Desil 1-4 registry families holding a KKS card number.")
    bpnt: float = _rate(0.55, "Desil 1-4 registry families in BPNT / Program Sembako (AKTIF).")
    pbi_jk: float = _rate(0.80, "Desil 1-5 registry families whose health insurance is paid by the state (PBI-JK).")
    kip: float = _rate(0.40, "School-age children of desil 1-4 registry families in Dapodik issued a KIP.")
    kip_nik_missing: float = _rate(0.25, "KIP issuances without a NIK.")
    kip_nik_wrong: float = _rate(0.15, "KIP issuances whose NIK has a one-digit typo (rest: correct).")
    kip_name_variant: float = _rate(0.05, "KIP issuances with a spelling variant of the child's name.")
    kip_mother_variant: float = _rate(0.05, "KIP issuances with a spelling variant of the mother's name.")
    wali: float = _rate(0.05, "Student records with a guardian (wali) filled in.")
    old_kps: float = _rate(0.02, "Dapodik records of desil 1-4 registry families carrying an old KPS number.")
    dapodik_kks: float = _rate(0.25, "Dapodik records of KKS-holding families that carry the KKS number.")
    nisn_missing: float = _rate(0.03, "Student records (above RA) without a NISN.")
    kk_history: float = _rate(
        0.12, "Families whose KK number was reissued (pecah KK, move) after their children were enrolled; "
        "the old number is in kemensos/kk_history.jsonl.")
    twins: float = _rate(0.015, "Births that are a twin of the previous child (same mother, same birth date).")
    father_son_same_name: float = _rate(0.003, "Sons on their father's KK who carry their father's name.")
    homonym: float = _rate(
        0.004, "School-age children given the name and birth date of a child of another mother in the same "
        "kecamatan (counted per child of a planted pair).")
    name_case_emis: float = _rate(0.55, "Madrasah whose operator types names in mixed case (Title Case).")
    name_case_dapodik: float = _rate(0.20, "Schools whose operator types names in mixed case (Title Case).")
    dapodik_father_title_dropped: float = _rate(
        0.80, "Dapodik records whose father's name is typed without titles (Dapodik asks for none).")
    registry_only: float = Field(
        0.0, ge=0.0, lt=1.0, description="Families drawn into the registry whose children are enrolled nowhere "
        "(no student record): a registry several times the size of the student population, as the real one is "
        "(~1,000,000 registry persons per 200,000 students at 0.42). Drawn from a generator of its own, so 0 "
        "(the default) leaves every other draw, and so every file, unchanged.")

    @model_validator(mode="after")
    def _kip_nik_sum(self) -> Shares:
        if self.kip_nik_missing + self.kip_nik_wrong > 1.0:
            raise ValueError("kip_nik_missing + kip_nik_wrong must not exceed 1")
        return self


class WorldConfig(_Frozen):
    seed: int = Field(0, description="Seed of the single random.Random threaded through the generator.")
    n_families: int = Field(5000, ge=1, le=2_000_000,
                            description="Families generated, registry families and true negatives together "
                            "(not used when n_students is set).")
    n_students: int | None = Field(
        None, ge=1, le=2_000_000, description="Student records wanted (EMIS + Dapodik, transfers and duplicates "
        "included): as many families are generated as it takes and the world has exactly this many records.")
    reference_date: date = Field(REFERENCE_DATE, description="'Today' inside the world; never the real clock.")
    families_per_kabupaten: int = Field(
        200, ge=1, description="Cluster size: the world samples about n_families / this many kabupaten "
        "(with probability proportional to population), so schools get realistic sizes.")
    students_per_institution: float = Field(
        22.0, gt=0, description="Students per madrasah / school: each (kabupaten, jenjang) group of n "
        "students gets max(1, floor(n / this)) institutions.")
    shares: Shares = Field(default_factory=Shares)
    error_rates: ErrorRates = Field(default_factory=ErrorRates)

    @property
    def tahun(self) -> int:
        return self.reference_date.year

    @property
    def tahap(self) -> int:
        """PKH stage I-IV of the reference date (Jan-Mar ... Oct-Dec)."""
        return (self.reference_date.month - 1) // 3 + 1

    @property
    def triwulan(self) -> str:
        return f"{self.reference_date.year}-Q{self.tahap}"
