"""Kemensos SIKS-NG / DTSEN stand-in: registry families, members, PKH, KIP issuances."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from shared.contracts.common import Digits16, JenisKelamin, Page, StoredInt, Strict


class HubunganKeluarga(StrEnum):
    KEPALA_KELUARGA = "KEPALA_KELUARGA"
    ISTRI = "ISTRI"
    SUAMI = "SUAMI"
    ANAK = "ANAK"
    MENANTU = "MENANTU"
    CUCU = "CUCU"
    ORANG_TUA = "ORANG_TUA"
    FAMILI_LAIN = "FAMILI_LAIN"


class StatusPkh(StrEnum):
    AKTIF = "AKTIF"
    TIDAK_AKTIF = "TIDAK_AKTIF"
    GRADUASI = "GRADUASI"


class KomponenPkh(StrEnum):
    IBU_HAMIL = "IBU_HAMIL"
    ANAK_USIA_DINI = "ANAK_USIA_DINI"
    SD = "SD"
    SMP = "SMP"
    SMA = "SMA"
    LANSIA = "LANSIA"
    DISABILITAS_BERAT = "DISABILITAS_BERAT"


class Jenjang(StrEnum):
    SD = "SD"
    SMP = "SMP"
    SMA = "SMA"
    SMK = "SMK"


# ---- world file rows (what `kemensos-mock load` reads) ---------------------------------------


class KeluargaRecord(Strict):
    """keluarga.jsonl: one DTSEN family (Kartu Keluarga)."""

    no_kk: Digits16
    kode_wilayah: str = Field(..., pattern=r"^\d{10}$", description="Kemendagri desa/kelurahan code, 10 digits")
    alamat: str = Field("", max_length=200)
    desil: int | None = Field(None, ge=1, le=10)
    dtsen_triwulan: str = Field(..., pattern=r"^\d{4}-Q[1-4]$", examples=["2026-Q3"])
    no_kks: str | None = Field(None, pattern=r"^\d{16}$", description="Kartu Keluarga Sejahtera number")


class AnggotaKeluargaRecord(Strict):
    """anggota_keluarga.jsonl: one member of a family."""

    nik: Digits16
    no_kk: Digits16
    nama: str = Field(..., min_length=1, max_length=100)
    jenis_kelamin: JenisKelamin
    tempat_lahir: str = Field("", max_length=100)
    tanggal_lahir: date
    nama_ibu_kandung: str = Field("", max_length=100)
    hubungan_keluarga: HubunganKeluarga


MAX_PKH_PENERIMA = 4
# Per-family caps of PKH components (DOMAIN.md §4.2): at most 2 pregnancies, 2 young children, 1 elderly
# person, 1 person with a severe disability; at most 4 beneficiaries in all.
PKH_KOMPONEN_CAP: dict[KomponenPkh, int] = {KomponenPkh.IBU_HAMIL: 2, KomponenPkh.ANAK_USIA_DINI: 2,
                                             KomponenPkh.LANSIA: 1, KomponenPkh.DISABILITAS_BERAT: 1}


class PenerimaPkh(Strict):
    """One beneficiary of a PKH membership: the member and the component they receive for."""

    nik: Digits16 | None = Field(None, description="The member's NIK (null for a child without one yet)")
    komponen: KomponenPkh


class AlasanGantiKk(StrEnum):
    """Why a family's KK number changed."""

    PECAH_KK = "PECAH_KK"  # split off from another family
    PINDAH_DOMISILI = "PINDAH_DOMISILI"  # moved to another region
    KEPALA_KELUARGA_BARU = "KEPALA_KELUARGA_BARU"  # death of the head, divorce
    LAINNYA = "LAINNYA"


class Program(StrEnum):
    """Social-assistance programmes a family's status is reported for (cekbansos shows the same three)."""

    PKH = "PKH"
    BPNT = "BPNT"  # Bantuan Pangan Non Tunai / Program Sembako
    PBI_JK = "PBI_JK"  # Penerima Bantuan Iuran Jaminan Kesehatan


class StatusBansos(StrEnum):
    AKTIF = "AKTIF"
    TIDAK_AKTIF = "TIDAK_AKTIF"


class PkhRecord(Strict):
    """pkh.jsonl: a family's PKH membership (KPM) for a period.

    `komponen` lists the components; `penerima` (optional) the beneficiaries, at most 4, within the
    per-component caps. When `penerima` is given, `komponen` may be left empty (it is derived) or must
    list exactly the beneficiaries' components."""

    no_kk: Digits16
    status: StatusPkh
    komponen: list[KomponenPkh] = Field(default_factory=list, max_length=MAX_PKH_PENERIMA)
    penerima: list[PenerimaPkh] = Field(default_factory=list, max_length=MAX_PKH_PENERIMA,
                                        description="Beneficiaries with their component (at most 4)")
    tahun: int = Field(..., ge=2007, le=2100)
    tahap: int = Field(..., ge=1, le=4, description="Stage I-IV (Jan-Mar ... Oct-Dec)")

    @model_validator(mode="after")
    def _caps(self) -> PkhRecord:
        counted = [p.komponen for p in self.penerima] or self.komponen
        for komponen, cap in PKH_KOMPONEN_CAP.items():
            if counted.count(komponen) > cap:
                raise PydanticCustomError("pkh_component_cap", "at most {cap} beneficiaries of {komponen} per family",
                                          {"cap": cap, "komponen": komponen.value})
        if self.penerima:
            if self.komponen and sorted(self.komponen) != sorted(counted):
                raise PydanticCustomError("pkh_komponen_mismatch",
                                          "komponen must list the components of penerima")
            niks = [p.nik for p in self.penerima if p.nik]
            if len(niks) != len(set(niks)):
                raise PydanticCustomError("pkh_duplicate_beneficiary", "a member is listed twice in penerima")
            self.komponen = list(counted)
        return self


class BansosRecord(Strict):
    """bansos.jsonl: a family's BPNT/Sembako or PBI-JK membership for a period (PKH is in pkh.jsonl)."""

    no_kk: Digits16
    program: Program = Field(..., description="BPNT or PBI_JK")
    status: StatusBansos
    tahun: int = Field(..., ge=2007, le=2100)
    tahap: int = Field(..., ge=1, le=4, description="Quarter I-IV of the year")

    @model_validator(mode="after")
    def _not_pkh(self) -> BansosRecord:
        if self.program is Program.PKH:
            raise PydanticCustomError("program_not_bansos", "PKH memberships go to pkh.jsonl / PUT /admin/pkh")
        return self


class KkHistoryRecord(Strict):
    """kk_history.jsonl: a KK number a registry family held before its current one (optional file)."""

    no_kk: Digits16 = Field(..., description="The family's current KK number (keluarga.jsonl)")
    no_kk_lama: Digits16 = Field(..., description="The number it held before")
    diganti_pada: date = Field(..., description="When the new KK was issued")
    alasan: AlasanGantiKk


class KipRecord(Strict):
    """kip.jsonl: one KIP card issued to a child (NIK often missing or wrong)."""

    no_kip: str = Field(..., pattern=r"^[A-Z0-9]{6}$", description="6-character KIP code")
    nama: str = Field(..., min_length=1, max_length=100)
    tanggal_lahir: date
    nama_ibu_kandung: str = Field("", max_length=100)
    kode_wilayah: str = Field(..., pattern=r"^\d{10}$")
    jenjang: Jenjang
    nik: str | None = Field(None, max_length=32, description="As recorded on the issuance; may be wrong")
    tahun: int = Field(..., ge=2014, le=2100)


# ---- API read models -------------------------------------------------------------------------


class Pkh(BaseModel):
    status: StatusPkh
    komponen: list[KomponenPkh]
    periode: str = Field(..., examples=["2026 tahap IV"])
    tahun: int
    tahap: int
    penerima: list[PenerimaPkh] = Field(default_factory=list, description="Beneficiaries, when recorded")
    nominal_tahap: int | None = Field(None, description="Rupiah for this stage by the reference amounts in force "
                                      "(a quarter of the yearly amount per beneficiary); null without reference")


class StatusProgram(BaseModel):
    """A family's status in one programme for one period, as cekbansos shows it (status + periode)."""

    program: Program
    status: str = Field(..., description="AKTIF / TIDAK_AKTIF (PKH also GRADUASI)")
    periode: str = Field(..., examples=["2026 tahap II"])
    tahun: int
    tahap: int


class Anggota(BaseModel):
    nik: str
    nama: str
    jenis_kelamin: JenisKelamin
    tempat_lahir: str
    tanggal_lahir: date
    nama_ibu_kandung: str
    hubungan_keluarga: HubunganKeluarga


class Keluarga(BaseModel):
    no_kk: str
    kode_wilayah: str
    desil: int | None
    dtsen_triwulan: str
    no_kks: str | None
    version: int = Field(..., description="Registry change sequence of this family's last change")
    updated_at: datetime
    pkh: Pkh | None = Field(None, description="Latest PKH membership; null when the family never was a KPM")
    program: list[StatusProgram] = Field(default_factory=list, description=(
        "Latest status in each other programme the family was ever in (BPNT, PBI_JK), with its period; PKH "
        "is `pkh`"))
    asal_no_kk: str | None = Field(None, description="KK number of the family this one split off from (pecah KK)")


class NikLookupRequest(Strict):
    niks: list[Digits16] = Field(..., min_length=1, max_length=1000,
                                 description="Up to 1,000 NIKs (16 digits each)")


class NikLookupResult(BaseModel):
    nik: str
    found: bool
    person: Anggota | None = None
    family: Keluarga | None = None


class NikLookupResponse(BaseModel):
    observed_seq: int = Field(..., description="Registry change sequence this answer reflects")
    dtsen_triwulan: str
    retrieved_at: datetime
    results: list[NikLookupResult]


class KipIssuance(BaseModel):
    no_kip: str
    nama: str
    tanggal_lahir: date
    nama_ibu_kandung: str
    kode_wilayah: str
    jenjang: Jenjang
    nik: str | None
    tahun: int
    version: int
    updated_at: datetime


class KipPage(Page[KipIssuance]):
    observed_seq: int
    resume_cursor: str | None = Field(None, description=(
        "The position after this page's last issuance (or the position asked from, when the page is empty): keep "
        "the last page's and pass it back as `cursor` to read only the issuances put since (a changed issuance "
        "moves to the end of the listing). None: nothing listed yet"))


# ---- family read -----------------------------------------------------------------------------


class RiwayatKk(BaseModel):
    no_kk_lama: str
    diganti_pada: datetime
    alasan: AlasanGantiKk | None


class KeluargaDetail(Keluarga):
    """A family as `POST /api/v1/keluarga/search` answers it: `Keluarga` plus the address, the members,
    the PKH history and the family's past KK numbers."""

    alamat: str
    anggota: list[Anggota] = Field(default_factory=list)
    pkh_riwayat: list[Pkh] = Field(default_factory=list, description="Every PKH period, newest first")
    no_kk_lama: list[str] = Field(default_factory=list, description="KK numbers this family held before, "
                                  "oldest first")
    riwayat_kk: list[RiwayatKk] = Field(default_factory=list, description="Why and when each number changed")
    program_riwayat: list[StatusProgram] = Field(default_factory=list, description=(
        "Every BPNT and PBI_JK period, newest first (PKH: `pkh_riwayat`)"))


# ---- reference data --------------------------------------------------------------------------


class NominalPkh(BaseModel):
    """Yearly PKH amounts per component, in force from `berlaku_mulai` to `berlaku_sampai` (inclusive;
    null: still in force as far as the source knows)."""

    berlaku_mulai: date
    berlaku_sampai: date | None
    per_tahun: dict[KomponenPkh, int] = Field(..., description="Rupiah per beneficiary per year")
    sumber: str


class ReferensiPkh(BaseModel):
    komponen_cap: dict[KomponenPkh, int] = Field(..., description="Beneficiaries per component per family, "
                                                 "at most")
    max_penerima: int
    tahap: dict[int, str] = Field(..., description="Stage -> months")
    nominal: list[NominalPkh]


# ---- change feed -----------------------------------------------------------------------------


class ChangeKind(StrEnum):
    KELUARGA = "keluarga"
    PKH = "pkh"
    KELUARGA_DIHAPUS = "keluarga_dihapus"


class _Change(BaseModel):
    kind: ChangeKind
    no_kk: str = Field(..., description="The family's KK number (its current one, for kind=keluarga)")
    version: int = Field(..., description="Registry sequence of this record's last change; unique "
                         "registry-wide; the feed's order within one `updated_at`")
    updated_at: datetime


class KeluargaChange(_Change):
    """A family changed (its data, its members, its KK number) or was added: its whole current state.

    `anggota` is the complete member list; `no_kk_lama` lists the KK numbers it held before. A replica
    applies it by replacing the family's members with `anggota`, taking those NIKs away from any other
    family it holds (a NIK is in one family at a time; the other family's own change follows later in the
    feed), and dropping the families it holds under a `no_kk_lama` number. When a member moves between
    families (a split, a move), the family losing the member takes the lower version."""

    kind: Literal[ChangeKind.KELUARGA] = ChangeKind.KELUARGA
    keluarga: Keluarga = Field(..., description="The family with its latest PKH membership")
    anggota: list[Anggota] = Field(default_factory=list, description="Every current member")
    no_kk_lama: list[str] = Field(default_factory=list, description="KK numbers held before, oldest first")


class PkhChange(_Change):
    """A family's PKH membership of one period was set. `latest` says whether that period is now the
    family's latest one (then it is what `Keluarga.pkh` shows)."""

    kind: Literal[ChangeKind.PKH] = ChangeKind.PKH
    pkh: Pkh
    latest: bool = Field(..., description="This period is the family's latest PKH membership")


class KeluargaDihapusChange(_Change):
    """A family left the registry (a replica drops it and its members). A family that comes back later
    appears again as `kind=keluarga` with a later version."""

    kind: Literal[ChangeKind.KELUARGA_DIHAPUS] = ChangeKind.KELUARGA_DIHAPUS


RegistryChange = Annotated[KeluargaChange | PkhChange | KeluargaDihapusChange, Field(discriminator="kind")]


class ChangePage(Page[RegistryChange]):
    """One page of the change feed. Unlike other pages, `next_cursor` is set on the last page too: it points
    after the last change seen, so a reader keeps it and resumes from there later. `has_more` says whether
    to ask again now.

    Every item is the record's *current* state; a record changed again since moves to the feed's end. A
    reader that follows the cursor therefore sees every record's latest state, at least once. Pages may be
    delivered again (network retries, injected faults): apply items idempotently, by `version`."""

    has_more: bool = Field(..., description="More changes are waiting: ask again now with `next_cursor`")
    observed_seq: int = Field(..., description="Registry change sequence this page reflects")


# ---- identity search (fallback matching without a usable NIK) ----------------------------------


class IdentityField(StrEnum):
    """Fields of an identity query a candidate may agree on."""

    NAMA = "nama"
    TANGGAL_LAHIR = "tanggal_lahir"
    TAHUN_LAHIR = "tahun_lahir"
    NAMA_IBU_KANDUNG = "nama_ibu_kandung"
    JENIS_KELAMIN = "jenis_kelamin"
    KODE_WILAYAH = "kode_wilayah"


class IdentityQuery(Strict):
    """Who to look for: a name, a birth date (or only the year), a region prefix, and whatever else is known.

    Candidates are people whose family lives under `kode_wilayah` and who were born in the given year
    (the block); within it they are ranked by name, birth date, mother's name and sex."""

    ref: str | None = Field(None, max_length=64, description="Caller's own key, echoed in the result")
    nama: str = Field(..., min_length=1, max_length=100, examples=["SITI RAHAYU"])
    tanggal_lahir: date | None = Field(None, description="Birth date; or give `tahun_lahir` only")
    tahun_lahir: int | None = Field(None, ge=1900, le=2100, description="Birth year when the date is unknown")
    nama_ibu_kandung: str | None = Field(None, max_length=100)
    jenis_kelamin: JenisKelamin | None = None
    kode_wilayah: str = Field(..., pattern=r"^\d{2,6}$", examples=["320101"],
                              description="Region prefix of the family's address: province (2 digits), "
                                          "kab/kota (4) or kecamatan (6)")

    @model_validator(mode="after")
    def _birth_given(self) -> IdentityQuery:
        if self.tanggal_lahir is None and self.tahun_lahir is None:
            raise PydanticCustomError("birth_required", "give tanggal_lahir or tahun_lahir")
        if self.tanggal_lahir is not None and self.tahun_lahir is not None \
                and self.tanggal_lahir.year != self.tahun_lahir:
            raise PydanticCustomError("birth_inconsistent", "tahun_lahir differs from the year of tanggal_lahir")
        return self

    @property
    def birth_year(self) -> int:
        return self.tanggal_lahir.year if self.tanggal_lahir is not None else int(self.tahun_lahir or 0)


class IdentitySearchRequest(Strict):
    queries: list[IdentityQuery] = Field(..., min_length=1, max_length=1000, description="Up to 1,000 queries")
    max_candidates: int = Field(5, ge=1, le=5, description="Candidates per query, at most 5")
    min_score: float = Field(0.6, ge=0.5, le=1.0, description="Candidates scoring lower are left out")


class IdentityCandidate(BaseModel):
    score: float = Field(..., ge=0, le=1, description="Weighted agreement over the fields the query gave")
    agreed: list[IdentityField] = Field(..., description="Fields that agree (names: similarity >= 0.85)")
    person: Anggota
    family: Keluarga


class IdentitySearchResult(BaseModel):
    ref: str | None = None
    candidates: list[IdentityCandidate] = Field(default_factory=list, max_length=5,
                                                description="Best first; empty when nobody is close enough")
    block_size: int = Field(..., ge=0, description="People in the query's block (region prefix + birth year); "
                            "past the service's cap the query is not ranked and `detail` says why")
    detail: str | None = Field(None, description="Why the query was not ranked (a block too large)")


class IdentitySearchResponse(BaseModel):
    observed_seq: int
    dtsen_triwulan: str
    retrieved_at: datetime
    results: list[IdentitySearchResult] = Field(..., description="One per query, in request order")


# ---- education verification received from the hub (PKH education commitment) ------------------
#
# One verification per child (NIK, in the body) and PKH period (year + tahap I-IV): enrolled / active, the
# school, and the month-by-month attendance of the VERKOM form (effective days, alpa, izin, sakit, %),
# judged by the 85% rule. Facts are ordered by (observed_at, version); the registry keeps every state.

PERIODE_PATTERN = r"^\d{4}-T[1-4]$"
KEHADIRAN_MINIMUM = 85.0  # PKH: at least 85% of the effective school days of each month
TAHAP_BULAN: dict[int, tuple[int, int, int]] = {1: (1, 2, 3), 2: (4, 5, 6), 3: (7, 8, 9), 4: (10, 11, 12)}


def bulan_periode(periode: str) -> tuple[int, int, int]:
    """The three months (1..12) of a PKH period such as ``2026-T2`` (April, May, June)."""
    return TAHAP_BULAN[int(periode[-1])]


class SumberPendidikan(StrEnum):
    EMIS = "EMIS"
    DAPODIK = "DAPODIK"


def persen_hadir(hari_efektif: int, absen: int) -> float:
    """Attendance % of a month: days present over effective days, 2 decimals (VERKOM's `%`)."""
    return round((hari_efektif - absen) * 100 / hari_efektif, 2)


class KehadiranBulan(Strict):
    """One month of a child's attendance, as the VERKOM form has it (Alpa / Izin / Sakit / Jml / %).

    `persen_hadir` and `memenuhi_85` are computed by the contract from the counts: a sender may leave them
    out, and one that sends them must send the computed values (else `attendance_mismatch`).
    """

    bulan: int = Field(..., ge=1, le=12, description="Month 1..12 of the period's year; within the period")
    hari_efektif: int = Field(..., ge=1, le=31, description="Effective school days of the month")
    alpa: int = Field(..., ge=0, le=31, description="Days absent without leave")
    izin: int = Field(..., ge=0, le=31, description="Days absent with leave")
    sakit: int = Field(..., ge=0, le=31, description="Days absent sick")
    persen_hadir: float | None = Field(None, ge=0, le=100,
                                       description="Computed: (hari_efektif - alpa - izin - sakit) / hari_efektif")
    memenuhi_85: bool | None = Field(None, description="Computed: persen_hadir >= 85 (the PKH education rule)")

    @model_validator(mode="after")
    def _computed(self) -> KehadiranBulan:
        absen = self.alpa + self.izin + self.sakit
        if absen > self.hari_efektif:
            raise PydanticCustomError("absences_exceed_effective_days",
                                      "alpa + izin + sakit ({absen}) exceed the effective days ({hari})",
                                      {"absen": absen, "hari": self.hari_efektif})
        persen = persen_hadir(self.hari_efektif, absen)
        meets = persen >= KEHADIRAN_MINIMUM
        if (self.persen_hadir is not None and abs(self.persen_hadir - persen) > 0.01) or \
                (self.memenuhi_85 is not None and self.memenuhi_85 is not meets):
            raise PydanticCustomError("attendance_mismatch",
                                      "persen_hadir / memenuhi_85 disagree with the counts ({persen}%)",
                                      {"persen": persen})
        self.persen_hadir, self.memenuhi_85 = persen, meets
        return self


class ProvenansiHub(Strict):
    """Where the hub took the facts from: its provenance record, the gateway record and its version, and
    the registry sequence the hub had observed."""

    provenance_id: str = Field(..., min_length=1, max_length=64, description="The hub's provenance record id")
    source_system: SumberPendidikan = Field(..., description="The education system the facts were read from")
    source_record: str = Field(..., min_length=1, max_length=64, description="The record id in that system")
    source_version: StoredInt = Field(..., description="The version of that record the hub read")
    observed_seq: StoredInt = Field(..., description="The registry change sequence the hub had observed")


class VerifikasiPendidikan(Strict):
    """Whether a child is enrolled and attending school in a PKH period, with the monthly attendance.

    `periode` is a PKH stage (`2026-T1` .. `2026-T4`: Jan-Mar .. Oct-Dec). An enrolled child names the
    school: `npsn` (Dapodik, 8 characters) and/or `nsm` (EMIS madrasah, 12 digits). `kehadiran` holds at
    most one entry per month of the period. Facts are ordered by (`observed_at`, `version`).
    """

    nik_anak: Digits16 = Field(..., description="The child's NIK (16 digits)")
    periode: str = Field(..., pattern=PERIODE_PATTERN, examples=["2026-T3"])
    enrolled: bool = Field(..., description="Registered at a school or madrasah in the period")
    active: bool = Field(..., description="Actually attending (not dropped out, not inactive)")
    npsn: str | None = Field(None, pattern=r"^[0-9A-Z]{8}$", description="NPSN of the school")
    nsm: str | None = Field(None, pattern=r"^\d{12}$", description="NSM of the madrasah")
    sumber: SumberPendidikan | None = Field(None, description="The education system the school is in")
    kehadiran: list[KehadiranBulan] = Field(default_factory=list, max_length=3,
                                            description="Attendance per month of the period (VERKOM)")
    keterangan: str | None = Field(None, max_length=200, description="Remark (VERKOM `Ket`)")
    provenance: ProvenansiHub
    observed_at: AwareDatetime = Field(..., description="When the hub observed these facts (ISO 8601, "
                                                         "timezone-aware)")
    version: StoredInt = Field(0, description="The hub's version of these facts; orders equal observed_at")

    @field_validator("observed_at", mode="before")
    @classmethod
    def _a_date_time_not_a_number(cls, value: object) -> object:
        if isinstance(value, int | float):  # pydantic would read a number as seconds since 1970
            raise PydanticCustomError("datetime_type", "observed_at must be an ISO 8601 date-time, not a number")
        return value

    @field_validator("kehadiran")
    @classmethod
    def _months_in_period(cls, value: list[KehadiranBulan], info: ValidationInfo) -> list[KehadiranBulan]:
        periode = info.data.get("periode")
        if periode is None:  # the period itself is malformed: that error is reported
            return value
        allowed = bulan_periode(periode)
        seen: set[int] = set()
        for index, month in enumerate(value):
            if month.bulan not in allowed:
                raise PydanticCustomError("month_outside_period",
                                          "kehadiran[{index}].bulan {bulan} is outside {periode} (months {allowed})",
                                          {"index": index, "bulan": month.bulan, "periode": periode,
                                           "allowed": ", ".join(map(str, allowed))})
            if month.bulan in seen:
                raise PydanticCustomError("duplicate_month", "kehadiran[{index}].bulan {bulan} is given twice",
                                          {"index": index, "bulan": month.bulan})
            seen.add(month.bulan)
        return sorted(value, key=lambda m: m.bulan)

    @model_validator(mode="after")
    def _consistent(self) -> VerifikasiPendidikan:
        if self.active and not self.enrolled:
            raise PydanticCustomError("active_without_enrolment", "a child who is not enrolled cannot be active")
        if self.enrolled and self.npsn is None and self.nsm is None:
            raise PydanticCustomError("school_required", "an enrolled child needs the school's npsn or nsm")
        return self


class VerifikasiPendidikanBatch(Strict):
    items: list[VerifikasiPendidikan] = Field(..., min_length=1, max_length=1000,
                                              description="Up to 1,000 items, applied in order")


class StatusVerifikasi(StrEnum):
    APPLIED = "APPLIED"  # new facts for this child and period (the first, or newer and different): stored
    UNCHANGED = "UNCHANGED"  # the same facts as the stored ones (a repeated item): nothing stored
    STALE = "STALE"  # observed before the stored facts: nothing stored
    NOT_FOUND = "NOT_FOUND"  # the NIK is no member of the registry: not stored


class VerifikasiPendidikanItemStatus(BaseModel):
    nik_anak: str
    periode: str
    status: StatusVerifikasi


class VerifikasiPendidikanBatchResponse(BaseModel):
    results: list[VerifikasiPendidikanItemStatus] = Field(..., description="One per item, in request order")

    def count(self, status: StatusVerifikasi) -> int:
        return sum(1 for r in self.results if r.status is status)


class KehadiranTercatat(BaseModel):
    bulan: int
    hari_efektif: int
    alpa: int
    izin: int
    sakit: int
    persen_hadir: float
    memenuhi_85: bool


class ProvenansiTercatat(BaseModel):
    provenance_id: str | None
    source_system: SumberPendidikan | None
    source_record: str | None
    source_version: int | None
    observed_seq: int | None


class VerifikasiPendidikanTercatat(BaseModel):
    """A verification as the registry holds it (rows received before attendance have no months and no
    provenance)."""

    periode: str
    enrolled: bool
    active: bool
    npsn: str | None
    nsm: str | None
    sumber: SumberPendidikan | None
    kehadiran: list[KehadiranTercatat]
    keterangan: str | None
    provenance: ProvenansiTercatat
    observed_at: datetime
    version: int
    received_at: datetime
    client: str = Field(..., description="The API client that sent it")


class KeluargaSearch(Strict):
    """`POST /api/v1/keluarga/search`: one family, the KK number in the body (never in a URL)."""

    no_kk: Digits16 = Field(..., description="The family's KK number, current or held before")


class VerifikasiPendidikanSearch(Strict):
    """`POST /api/v1/education-verification/search`: one child, the NIK in the body (never in a URL)."""

    nik_anak: Digits16 = Field(..., description="The child's NIK (16 digits)")


class VerifikasiPendidikanAnak(BaseModel):
    """The current verification per period (newest period first) and every state received, newest first."""

    nik_anak: str
    current: list[VerifikasiPendidikanTercatat]
    history: list[VerifikasiPendidikanTercatat]


class KomitmenPendidikan(StrEnum):
    MET = "MET"  # every education child of the family verified: enrolled, active, each month >= 85%
    NOT_MET = "NOT_MET"  # a child not enrolled, not active or under 85% in a month: the component is at risk
    NO_VERIFICATION = "NO_VERIFICATION"  # a child (or month) with nothing verified, none failing
    NOT_APPLICABLE = "NOT_APPLICABLE"  # no PKH education component in the period
    NOT_FOUND = "NOT_FOUND"  # no family with this KK number


class AlasanKomitmen(StrEnum):
    NOT_ENROLLED = "NOT_ENROLLED"
    NOT_ACTIVE = "NOT_ACTIVE"
    ATTENDANCE_BELOW_85 = "ATTENDANCE_BELOW_85"
    NO_ATTENDANCE = "NO_ATTENDANCE"  # enrolled and active, but no month reported
    NO_VERIFICATION = "NO_VERIFICATION"


class KomitmenAnak(BaseModel):
    nik_anak: str
    komponen: KomponenPkh | None = Field(None, description="The PKH component the child is counted in, if named")
    status: KomitmenPendidikan
    reasons: list[AlasanKomitmen]
    bulan_di_bawah_85: list[int] = Field(..., description="Months of the period under 85%")
    observed_at: datetime | None


class KomitmenKeluarga(BaseModel):
    no_kk: str
    status: KomitmenPendidikan
    anak: list[KomitmenAnak]


class KomitmenPendidikanRequest(Strict):
    """`POST /api/v1/education-verification/family-commitment`: families by KK number, in the body."""

    periode: str = Field(..., pattern=PERIODE_PATTERN, examples=["2026-T2"])
    no_kk: list[Digits16] = Field(..., min_length=1, max_length=1000, description="Up to 1,000 KK numbers")


class KomitmenPendidikanResponse(BaseModel):
    periode: str
    results: list[KomitmenKeluarga] = Field(..., description="One per KK number, in request order")
