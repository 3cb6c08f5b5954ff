"""The madrasah table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlmodel import Field

from services.emis_gateway.base import EmisTable, UTCDateTime

MADRASAH = "MADRASAH"
PESANTREN = "PESANTREN"


class MadrasahRow(EmisTable, table=True):
    """A madrasah, or (``jenis_lembaga`` PESANTREN) a pesantren: the institutions students belong to."""

    __tablename__ = "madrasah"
    __table_args__ = (Index("ix_madrasah_updated_at_nsm", "updated_at", "nsm"),)

    # The institution's statistic number: the NSM of a madrasah, the NSPP of a pesantren (both 12 digits,
    # one numbering; students point here through siswa.nsm).
    nsm: str = Field(sa_type=String(12), primary_key=True)
    jenis_lembaga: str = Field(default=MADRASAH, sa_type=String(10), sa_column_kwargs={"server_default": MADRASAH})
    npsn: str = Field(sa_type=String(8), index=True, description="'' for a pesantren without one")
    nama: str = Field(sa_type=String(150))
    jenjang: str = Field(sa_type=String(3))
    status: str = Field(sa_type=String(10))
    kode_wilayah: str = Field(sa_type=String(10))
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
