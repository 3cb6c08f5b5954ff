"""The hub's minimised replica of the Kemensos registry, kept current from the registry's change feed.

Only what matching and review need: per family its KK number (and former ones), region, KKS number,
version and latest PKH status; per member NIK, names, sex, birth date and relation. No address, no desil,
no PKH history. Names are stored as given and in their normal form (``shared.names``).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.sync_hub.db import HubTable


class ReplicaKeluargaRow(HubTable, table=True):
    __tablename__ = "replica_keluarga"

    no_kk: str = Field(primary_key=True, max_length=16)
    kode_wilayah: str = Field(max_length=10)
    no_kks: str | None = Field(default=None, max_length=16)
    version: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    pkh_status: str | None = Field(default=None, max_length=16)
    pkh_periode: str | None = Field(default=None, max_length=40)
    pkh_tahun: int | None = None
    pkh_tahap: int | None = None


# What ``replica.slice`` reads a matcher's slice by: the fallback's blocks (kabupaten, birth date range) and its
# nationwide pass (name or mother's name, with the birth date or the kabupaten), the initials with the birth date or
# the kabupaten; and the registry's sample (``replica.sample``). A first load builds these once at its end instead of
# keeping them up with every page (in ranges: ``replica.ranged``; in one stream: ``replica.service._refresh``): a page
# reads and deletes members by NIK and by KK number only, through the primary key and ``no_kk``'s index, which stay.
MATCHING_INDEXES = (
    sa.Index("ix_replica_anggota_kab_tanggal_lahir", "kab", "tanggal_lahir"),
    sa.Index("ix_replica_anggota_nama_norm_tanggal_lahir", "nama_norm", "tanggal_lahir"),
    sa.Index("ix_replica_anggota_ibu_norm_tanggal_lahir", "ibu_norm", "tanggal_lahir"),
    sa.Index("ix_replica_anggota_nama_norm_kab", "nama_norm", "kab"),
    sa.Index("ix_replica_anggota_ibu_norm_kab", "ibu_norm", "kab"),
    sa.Index("ix_replica_anggota_inisial_tanggal_lahir", "inisial", "tanggal_lahir"),
    sa.Index("ix_replica_anggota_kab_inisial", "kab", "inisial"),
    sa.Index("ix_replica_anggota_sample_key", "sample_key", "nik"),
)


class ReplicaAnggotaRow(HubTable, table=True):
    __tablename__ = "replica_anggota"
    __table_args__ = MATCHING_INDEXES

    nik: str = Field(primary_key=True, max_length=16)
    no_kk: str = Field(index=True, max_length=16)
    nama: str = Field(max_length=100)
    jenis_kelamin: str = Field(max_length=1)
    tanggal_lahir: date
    nama_ibu_kandung: str = Field(default="", max_length=100)
    hubungan_keluarga: str = Field(max_length=20)
    # normal forms (shared.names) computed once when the row is written, so loading the replica for the
    # matcher reads them instead of normalising every registry name on every run
    nama_norm: str = Field(default="", max_length=100)
    ibu_norm: str = Field(default="", max_length=100)
    # the family's kabupaten (its kode_wilayah's first 4 digits), denormalised from replica_keluarga so a
    # fallback block (kabupaten, birth year) is one index range; written with the member (a family's region
    # changes only with a family change, which rewrites its members)
    kab: str | None = Field(default=None, max_length=4)
    # the initials of nama_norm (``matching.fallback.initials``: first letters of its first and last words,
    # sorted), written with the member: the fallback's initials blocking rules read by it
    inisial: str | None = Field(default=None, max_length=2)
    # a 63-bit hash of the NIK (``replica.sample.sample_key``), written with the member: the fallback model's random
    # sample of the registry is the persons whose keys follow a point drawn from the seed (``sample.random_persons``),
    # the same rows whatever order the replica's pages were written in
    sample_key: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))


class ReplicaKkLamaRow(HubTable, table=True):
    __tablename__ = "replica_kk_lama"

    old_kk: str = Field(primary_key=True, max_length=16)
    no_kk: str = Field(index=True, max_length=16)


class ReplicaStateRow(HubTable, table=True):
    """One row (id = 1): where the replica is in the change feed."""

    __tablename__ = "replica_state"

    id: int = Field(primary_key=True)
    cursor: str | None = Field(default=None, max_length=200)
    observed_seq: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    synced_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    # shared.names.VERSION the stored normal forms were made with; another one empties the replica
    names_version: str | None = Field(default=None, max_length=32)
    # the registry version a ranged first load read up to (``replica.ranged``): the feed is followed from there on
    # (``since_version``) until a cursor of that part of the feed is stored; null: loaded in one stream
    floor_version: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))


class ReplicaTouchRow(HubTable, table=True):
    """The registry sequence at which each family was last written, replaced or dropped in the replica: a run's
    planner finds here the families changed since the run before, and from them the students concerned."""

    __tablename__ = "replica_touch"

    no_kk: str = Field(primary_key=True, max_length=16)
    seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))


class ReplicaKipRow(HubTable, table=True):
    """The registry's KIP issuances as last read (the whole card, for linking), with the keys a unit selects by:
    the card's region and NIK."""

    __tablename__ = "replica_kip"

    no_kip: str = Field(primary_key=True, max_length=32)
    kode_wilayah: str = Field(max_length=10, index=True)
    nik: str | None = Field(default=None, max_length=64, index=True)
    version: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    payload: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # when a plan stored this version: a plan stopped before it stored its KIP position reads the same cards again
    # and finds them held, so it marks the regions of the cards stored since its run started (null: before 0021)
    stored_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), index=True))


class ReplicaLoadRow(HubTable, table=True):
    """A first load of the replica read as ranges of the change feed at once (``replica.ranged``): the registry's
    versions up to ``head`` split into ``ranges`` ranges, each a job any worker can take. At most one is
    unfinished at a time; the follower goes on from ``head`` once every range is read."""

    __tablename__ = "replica_load"

    id: int | None = Field(default=None, primary_key=True)
    head: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    ranges: int
    started_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))


class ReplicaLoadRangeRow(HubTable, table=True):
    """One range of a ranged load: the versions in (``lo``, ``hi``], where its reading stands (``cursor``, stored
    with each page applied) and how many changes it applied."""

    __tablename__ = "replica_load_range"

    load_id: int = Field(foreign_key="replica_load.id", primary_key=True)
    idx: int = Field(primary_key=True)
    lo: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    hi: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    cursor: str | None = Field(default=None, max_length=200)
    changes: int = 0
    done_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))


class ReplicaPkhParkedRow(HubTable, table=True):
    """A PKH item a range read before the family it belongs to was in the replica (another range holds the
    family): applied, in version order, when the load finishes, if the family then held is older than it (read in
    one stream, the family would have come first)."""

    __tablename__ = "replica_pkh_parked"

    load_id: int = Field(foreign_key="replica_load.id", primary_key=True)
    version: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    no_kk: str = Field(max_length=16)
    payload: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
