"""Models of world files that no service contract covers yet."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from shared.contracts.common import Digits16, Strict


class KkHistoryRecord(Strict):
    """kemensos/kk_history.jsonl: a KK number a registry family held before its current one.

    The registry (keluarga.jsonl) holds the family under its NEW number; a school record made before
    the change may still carry the old one (error ``stale_kk``). kemensos_mock keeps such numbers in its
    ``keluarga_kk_lama`` table; its world loader does not read this file yet.
    """

    no_kk: Digits16 = Field(..., description="The family's current KK number (keluarga.jsonl)")
    no_kk_lama: Digits16 = Field(..., description="The number it held before")
    diganti_pada: date = Field(..., description="When the new KK was issued")
    alasan: Literal["PECAH_KK", "PINDAH_DOMISILI"] = Field(..., description="Family split or move")
