"""Query parameters of the KIP listing (unknown parameters are rejected, so a typo is a 422)."""

from __future__ import annotations

from pydantic import Field

from shared.contracts.common import Strict
from shared.contracts.kemensos import Jenjang


class KipQuery(Strict):
    cursor: str | None = Field(None, max_length=200, description="`next_cursor` of the previous page")
    limit: int = Field(500, ge=1, le=1000, description="Page size, 1..1000")
    kode_wilayah: str | None = Field(
        None, pattern=r"^\d{2,10}$",
        description="Kemendagri code prefix without dots: province (2 digits), kab/kota (4), "
                    "kecamatan (6) or desa/kelurahan (10)", examples=["32", "3201", "320101", "3201011001"])
    jenjang: Jenjang | None = Field(None, description="School level of the issuance")
    since_version: int | None = Field(
        None, ge=0, le=2**62, description="Only issuances with a `version` above this one (a range of the listing: "
        "a whole listing read in parallel)")
    until_version: int | None = Field(
        None, ge=0, le=2**62, description="Only issuances with a `version` up to this one (the end of a range); its "
        "last page's `resume_cursor` is after this version (or the registry's sequence, if lower)")
    no_kip_after: str | None = Field(
        None, pattern=r"^[A-Z0-9]{1,6}$", description="Only issuances whose `no_kip` sorts above this: a range of the "
        "listing, paged in `no_kip` order (a whole listing read as ranges at once); its pages resume nowhere "
        "(`resume_cursor` null): resume the whole listing from a position taken before the ranges")
    no_kip_upto: str | None = Field(
        None, pattern=r"^[A-Z0-9]{1,6}$", description="Only issuances whose `no_kip` sorts up to this (the end of a "
        "range)")
