"""The EMIS 4.0 and Dapodik gateways: institutions, students, edits with ETag / If-Match, Request Data PKH,
KIP SK, the sync screens, spreadsheets and attendance files, and the hub's feed. One method per route
(``operation`` names it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Generic, TypeVar

import httpx
from pydantic import BaseModel

from jembatan_client._base import MEDIA_TYPES, BaseClient, FileFormat, if_match_header, operation, parse, query, segment
from jembatan_client.models import (
    DataGanda,
    FeedEnd,
    FeedReadAnswer,
    HubResultBatch,
    HubResultBatchResponse,
    ImportReport,
    KehadiranImportReport,
    KesejahteraanPd,
    KipTidakCocok,
    Madrasah,
    MadrasahSinkron,
    PermintaanPkh,
    Perubahan,
    PerubahanKeluar,
    PerubahanMasuk,
    Pesantren,
    PesertaDidik,
    PesertaDidikEdit,
    PesertaDidikFeed,
    PkhAnswer,
    PkhManualInput,
    PkhRequest,
    RiwayatNilai,
    Sekolah,
    Sinkronisasi,
    Siswa,
    SiswaFeed,
    SkKipBatch,
    SkKipResponse,
    SpreadsheetImportReport,
    ValidasiPesertaDidik,
)

R = TypeVar("R")
VERKOM = "text/csv"


@dataclass(frozen=True)
class Versioned(Generic[R]):
    """A record with its ``ETag``: pass ``etag`` back to the edit so a concurrent change is refused (412)."""

    record: R
    etag: str | None


def _versioned(model: type[R], response: httpx.Response) -> Versioned[R]:
    return Versioned(parse(model, response), response.headers.get("etag"))


def _json(body: BaseModel | dict[str, Any]) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude_unset=True) if isinstance(body, BaseModel) else body


class _Gateway(BaseClient):
    @operation("hub_post_results")
    def post_results(self, batch: HubResultBatch | dict[str, Any]) -> HubResultBatchResponse:
        """The hub's result batch (the hub's credential). Idempotent by contract (a repeated batch changes
        nothing), so it is retried."""
        return self.send_model("POST", "/api/v1/hub/results", HubResultBatchResponse, batch, retry=True)


class EmisClient(_Gateway):
    # madrasah and pesantren
    @operation("madrasah_list_madrasah")
    def iter_madrasah(self, limit: int | None = None) -> Iterator[Madrasah]:
        return self.iterate("/api/v1/madrasah", Madrasah, query(limit=limit))

    @operation("madrasah_get_madrasah")
    def get_madrasah(self, nsm: str) -> Madrasah:
        return self.get_model(f"/api/v1/madrasah/{segment(nsm)}", Madrasah)

    @operation("pesantren_list_pesantren")
    def iter_pesantren(self, limit: int | None = None) -> Iterator[Pesantren]:
        return self.iterate("/api/v1/pesantren", Pesantren, query(limit=limit))

    @operation("pesantren_get_pesantren")
    def get_pesantren(self, nspp: str) -> Pesantren:
        return self.get_model(f"/api/v1/pesantren/{segment(nspp)}", Pesantren)

    # students
    @operation("siswa_list_siswa")
    def iter_siswa(self, nsm: str | None = None, limit: int = 500) -> Iterator[Siswa]:
        return self.iterate("/api/v1/siswa", Siswa, {"nsm": nsm, "limit": limit})

    @operation("siswa_get_siswa")
    def get_siswa(self, siswa_id: str) -> Versioned[Siswa]:
        return _versioned(Siswa, self.request("GET", f"/api/v1/siswa/{segment(siswa_id)}"))

    @operation("siswa_put_manual")
    def set_manual_pkh(self, siswa_id: str, data: PkhManualInput | dict[str, Any],
                       if_match: str | None = None) -> Versioned[Siswa]:
        """Replace the PKH data entered by hand (a PUT: retried). ``if_match``: the ETag you read."""
        r = self.request("PUT", f"/api/v1/siswa/{segment(siswa_id)}/pkh-manual", json=_json(data),
                         headers=if_match_header(if_match))
        return _versioned(Siswa, r)

    @operation("siswa_delete_manual")
    def clear_manual_pkh(self, siswa_id: str, if_match: str | None = None) -> Versioned[Siswa]:
        r = self.request("DELETE", f"/api/v1/siswa/{segment(siswa_id)}/pkh-manual", headers=if_match_header(if_match))
        return _versioned(Siswa, r)

    # Request Data PKH
    @operation("pkh_requests_request_siswa")
    def request_pkh(self, siswa_id: str, *, idempotency_key: str | bool = True) -> PkhRequest:
        return self.send_model("POST", f"/api/v1/siswa/{segment(siswa_id)}/pkh-request", PkhRequest,
                               idempotency_key=idempotency_key)

    @operation("pkh_requests_request_madrasah")
    def request_pkh_madrasah(self, nsm: str, *, idempotency_key: str | bool = True) -> PkhRequest:
        return self.send_model("POST", f"/api/v1/madrasah/{segment(nsm)}/pkh-request", PkhRequest,
                               idempotency_key=idempotency_key)

    @operation("pkh_requests_get_request")
    def get_pkh_request(self, request_id: str) -> PkhRequest:
        return self.get_model(f"/api/v1/pkh-requests/{segment(request_id)}", PkhRequest)

    @operation("pkh_requests_get_results")
    def iter_pkh_results(self, request_id: str, limit: int | None = None) -> Iterator[PkhAnswer]:
        return self.iterate(f"/api/v1/pkh-requests/{segment(request_id)}/results", PkhAnswer, query(limit=limit))

    # data ganda (one person active in several institutions)
    @operation("data_ganda_list_all")
    def iter_data_ganda(self, limit: int | None = None) -> Iterator[DataGanda]:
        return self.iterate("/api/v1/data-ganda", DataGanda, query(limit=limit))

    @operation("data_ganda_list_madrasah")
    def iter_data_ganda_madrasah(self, nsm: str, limit: int | None = None) -> Iterator[DataGanda]:
        return self.iterate(f"/api/v1/madrasah/{segment(nsm)}/data-ganda", DataGanda, query(limit=limit))

    # the sync screen
    @operation("sinkron_get_sinkron")
    def get_sinkron(self, nsm: str) -> MadrasahSinkron:
        return self.get_model(f"/api/v1/madrasah/{segment(nsm)}/sinkron", MadrasahSinkron)

    @operation("sinkron_get_perubahan")
    def iter_perubahan(self, nsm: str, sync_run_id: str | None = None,
                       limit: int | None = None) -> Iterator[Perubahan]:
        return self.iterate(f"/api/v1/madrasah/{segment(nsm)}/sinkron/perubahan", Perubahan,
                            query(sync_run_id=sync_run_id, limit=limit))

    # spreadsheets and attendance files
    @operation("import_export_import_siswa")
    def import_siswa(self, nsm: str, data: bytes | BinaryIO, format: FileFormat = "csv", *,
                     dry_run: bool = False) -> ImportReport:
        """All rows or none: a bad file raises ``InvalidInput`` naming each ``rows[<n>].<column>``."""
        return self.send_file(f"/api/v1/madrasah/{segment(nsm)}/siswa/import", ImportReport, data, MEDIA_TYPES[format],
                              {"format": format, "dry_run": dry_run})

    @operation("import_export_export_siswa")
    def export_siswa(self, nsm: str, format: FileFormat = "csv", *, into: BinaryIO | None = None) -> bytes | None:
        return self.download(f"/api/v1/madrasah/{segment(nsm)}/siswa/export", {"format": format}, into)

    @operation("kehadiran_import_verkom")
    def import_kehadiran_verkom(self, nsm: str, data: bytes | BinaryIO, tahun: int, tahap: int, *,
                                dry_run: bool = False) -> KehadiranImportReport:
        return self.send_file(f"/api/v1/madrasah/{segment(nsm)}/kehadiran/verkom/import", KehadiranImportReport, data,
                              VERKOM, {"tahun": tahun, "tahap": tahap, "dry_run": dry_run})

    @operation("kehadiran_export_verkom")
    def export_kehadiran_verkom(self, nsm: str, tahun: int, tahap: int, *,
                                into: BinaryIO | None = None) -> bytes | None:
        return self.download(f"/api/v1/madrasah/{segment(nsm)}/kehadiran/verkom/export",
                             {"tahun": tahun, "tahap": tahap}, into)

    @operation("kehadiran_import_table")
    def import_kehadiran(self, nsm: str, data: bytes | BinaryIO, tahun: int, tahap: int,
                         format: FileFormat = "csv", *, dry_run: bool = False) -> KehadiranImportReport:
        return self.send_file(f"/api/v1/madrasah/{segment(nsm)}/kehadiran/import", KehadiranImportReport, data,
                              MEDIA_TYPES[format], {"tahun": tahun, "tahap": tahap, "format": format,
                                                    "dry_run": dry_run})

    @operation("kehadiran_export_table")
    def export_kehadiran(self, nsm: str, tahun: int, tahap: int, format: FileFormat = "csv", *,
                         into: BinaryIO | None = None) -> bytes | None:
        return self.download(f"/api/v1/madrasah/{segment(nsm)}/kehadiran/export",
                             {"tahun": tahun, "tahap": tahap, "format": format}, into)

    # the hub's change feed
    @operation("hub_hub_feed")
    def hub_feed(self, *, since: str | None = None, cursor: str | None = None,
                 limit: int | None = None, id_after: str | None = None, id_upto: str | None = None) -> SiswaFeed:
        """One page of the hub's change feed (the hub's credential). A page, not an iterator: the caller keeps
        the page's ``resume_cursor`` to pass as ``since`` next time. ``id_after`` / ``id_upto``: a range of ids."""
        return self.get_model("/api/v1/hub/siswa", SiswaFeed, params=query(
            since=since, cursor=cursor, limit=limit, id_after=id_after, id_upto=id_upto))

    @operation("hub_feed_end")
    def hub_feed_end(self) -> FeedEnd:
        """Where the hub's change feed ends now, and how many students it holds."""
        return self.get_model("/api/v1/hub/feed-end", FeedEnd)


class DapodikClient(_Gateway):
    # schools
    @operation("sekolah_list_sekolah")
    def iter_sekolah(self, limit: int | None = None) -> Iterator[Sekolah]:
        return self.iterate("/api/v1/sekolah", Sekolah, query(limit=limit))

    @operation("sekolah_get_sekolah")
    def get_sekolah(self, npsn: str) -> Sekolah:
        return self.get_model(f"/api/v1/sekolah/{segment(npsn)}", Sekolah)

    @operation("sinkronisasi_sinkronisasi")
    def get_sinkronisasi(self, npsn: str) -> Sinkronisasi:
        return self.get_model(f"/api/v1/sekolah/{segment(npsn)}/sinkronisasi", Sinkronisasi)

    @operation("sinkronisasi_keluar")
    def iter_perubahan_keluar(self, npsn: str, limit: int | None = None) -> Iterator[PerubahanKeluar]:
        return self.iterate(f"/api/v1/sekolah/{segment(npsn)}/sinkronisasi/keluar", PerubahanKeluar, query(limit=limit))

    @operation("sinkronisasi_masuk")
    def iter_perubahan_masuk(self, npsn: str, sync_run_id: str | None = None,
                             limit: int | None = None) -> Iterator[PerubahanMasuk]:
        return self.iterate(f"/api/v1/sekolah/{segment(npsn)}/sinkronisasi/masuk", PerubahanMasuk,
                            query(sync_run_id=sync_run_id, limit=limit))

    @operation("validasi_validasi_sekolah")
    def iter_validasi(self, npsn: str, status_validasi: int | None = None,
                      limit: int | None = None) -> Iterator[ValidasiPesertaDidik]:
        return self.iterate(f"/api/v1/sekolah/{segment(npsn)}/validasi", ValidasiPesertaDidik,
                            query(status_validasi=status_validasi, limit=limit))

    # students
    @operation("peserta_didik_list_peserta_didik")
    def iter_peserta_didik(self, npsn: str | None = None, limit: int = 500) -> Iterator[PesertaDidik]:
        return self.iterate("/api/v1/peserta-didik", PesertaDidik, {"npsn": npsn, "limit": limit})

    @operation("peserta_didik_get_peserta_didik")
    def get_peserta_didik(self, peserta_didik_id: str) -> Versioned[PesertaDidik]:
        return _versioned(PesertaDidik, self.request("GET", f"/api/v1/peserta-didik/{segment(peserta_didik_id)}"))

    @operation("peserta_didik_edit_peserta_didik")
    def edit_peserta_didik(self, peserta_didik_id: str, fields: PesertaDidikEdit | dict[str, Any],
                           if_match: str | None = None) -> Versioned[PesertaDidik]:
        """PATCH the given fields (not retried: a PATCH is not idempotent in general). ``if_match``: the ETag you
        read; ``PreconditionFailed`` when someone else edited the record since."""
        r = self.request("PATCH", f"/api/v1/peserta-didik/{segment(peserta_didik_id)}", json=_json(fields),
                         headers=if_match_header(if_match))
        return _versioned(PesertaDidik, r)

    @operation("peserta_didik_riwayat")
    def riwayat(self, peserta_didik_id: str) -> list[RiwayatNilai]:
        return self.get_model(f"/api/v1/peserta-didik/{segment(peserta_didik_id)}/riwayat", list[RiwayatNilai])

    @operation("validasi_validasi_peserta_didik")
    def get_validasi(self, peserta_didik_id: str) -> ValidasiPesertaDidik:
        return self.get_model(f"/api/v1/peserta-didik/{segment(peserta_didik_id)}/validasi", ValidasiPesertaDidik)

    @operation("kesejahteraan_kesejahteraan")
    def kesejahteraan(self, peserta_didik_id: str) -> list[KesejahteraanPd]:
        return self.get_model(f"/api/v1/peserta-didik/{segment(peserta_didik_id)}/kesejahteraan", list[KesejahteraanPd])

    @operation("pkh_requests_request_pkh")
    def request_pkh(self, peserta_didik_id: str, *, idempotency_key: str | bool = True) -> PermintaanPkh:
        return self.send_model("POST", f"/api/v1/peserta-didik/{segment(peserta_didik_id)}/pkh-request", PermintaanPkh,
                               idempotency_key=idempotency_key)

    # KIP
    @operation("kip_post_sk")
    def apply_kip_sk(self, sk: SkKipBatch | dict[str, Any], *, idempotency_key: str | bool = True) -> SkKipResponse:
        return self.send_model("POST", "/api/v1/kip/sk", SkKipResponse, sk, idempotency_key=idempotency_key)

    @operation("kip_unmatched")
    def iter_kip_unmatched(self, *, npsn: str | None = None, nomor_sk: str | None = None,
                           include_resolved: bool | None = None, limit: int | None = None) -> Iterator[KipTidakCocok]:
        return self.iterate("/api/v1/kip/unmatched", KipTidakCocok,
                            query(npsn=npsn, nomor_sk=nomor_sk, include_resolved=include_resolved, limit=limit))

    # spreadsheets and attendance files
    @operation("spreadsheet_import_students")
    def import_peserta_didik(self, npsn: str, data: bytes | BinaryIO,
                             format: FileFormat = "csv") -> SpreadsheetImportReport:
        """All rows or none: a bad file raises ``InvalidInput`` naming each ``rows[<row>].<column>``."""
        return self.send_file(f"/api/v1/sekolah/{segment(npsn)}/peserta-didik/import", SpreadsheetImportReport, data,
                              MEDIA_TYPES[format], {"format": format})

    @operation("spreadsheet_export_students")
    def export_peserta_didik(self, npsn: str, format: FileFormat = "csv", *,
                             into: BinaryIO | None = None) -> bytes | None:
        return self.download(f"/api/v1/sekolah/{segment(npsn)}/peserta-didik/export", {"format": format}, into)

    @operation("kehadiran_import_verkom")
    def import_kehadiran_verkom(self, npsn: str, data: bytes | BinaryIO, tahun: int,
                                tahap: int) -> KehadiranImportReport:
        return self.send_file(f"/api/v1/sekolah/{segment(npsn)}/kehadiran/verkom/import", KehadiranImportReport, data,
                              VERKOM, {"tahun": tahun, "tahap": tahap})

    @operation("kehadiran_export_verkom")
    def export_kehadiran_verkom(self, npsn: str, tahun: int, tahap: int, *,
                                into: BinaryIO | None = None) -> bytes | None:
        return self.download(f"/api/v1/sekolah/{segment(npsn)}/kehadiran/verkom/export",
                             {"tahun": tahun, "tahap": tahap}, into)

    @operation("kehadiran_import_table")
    def import_kehadiran(self, npsn: str, data: bytes | BinaryIO, tahun: int, tahap: int,
                         format: FileFormat = "csv") -> KehadiranImportReport:
        return self.send_file(f"/api/v1/sekolah/{segment(npsn)}/kehadiran/import", KehadiranImportReport, data,
                              MEDIA_TYPES[format], {"tahun": tahun, "tahap": tahap, "format": format})

    @operation("kehadiran_export_table")
    def export_kehadiran(self, npsn: str, tahun: int, tahap: int, format: FileFormat = "csv", *,
                         into: BinaryIO | None = None) -> bytes | None:
        return self.download(f"/api/v1/sekolah/{segment(npsn)}/kehadiran/export",
                             {"tahun": tahun, "tahap": tahap, "format": format}, into)

    # the hub's change feed
    @operation("hub_hub_feed")
    def hub_feed(self, *, since: str | None = None, cursor: str | None = None, limit: int | None = None,
                 npsn: str | None = None, removed: bool | None = None, id_after: str | None = None,
                 id_upto: str | None = None) -> PesertaDidikFeed:
        """One page of the hub's change feed (the hub's credential). A page, not an iterator: the caller keeps
        the page's ``resume_cursor`` to pass as ``since`` next time. ``id_after`` / ``id_upto``: a range of ids."""
        return self.get_model("/api/v1/hub/peserta-didik", PesertaDidikFeed,
                              params=query(since=since, cursor=cursor, limit=limit, npsn=npsn, removed=removed,
                                           id_after=id_after, id_upto=id_upto))

    @operation("hub_feed_end")
    def hub_feed_end(self) -> FeedEnd:
        """Where the hub's change feed ends now, and how many students it holds."""
        return self.get_model("/api/v1/hub/feed-end", FeedEnd)

    @operation("hub_feed_read")
    def hub_feed_read(self, resume_cursor: str) -> FeedReadAnswer:
        """The hub holds the whole feed up to ``resume_cursor`` (``hub_feed_end()``'s, read before reading the feed as
        ranges, whose pages move no school's read position): each school's read position moves up to it. Idempotent
        (a position never moves back), so it is retried."""
        return self.send_model("POST", "/api/v1/hub/feed-read", FeedReadAnswer, {"resume_cursor": resume_cursor},
                               retry=True)

    @operation("hub_hub_one")
    def hub_one(self, peserta_didik_id: str) -> PesertaDidik:
        return self.get_model(f"/api/v1/hub/peserta-didik/{segment(peserta_didik_id)}", PesertaDidik)
