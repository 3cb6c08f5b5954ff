"""Monthly attendance for the PKH period of the reference date, and the records that drop out during it.

The period is the PKH stage (*tahap*) of ``reference_date`` (2026-07-15: tahun 2026 tahap III, July to
September), the same period as ``pkh.jsonl``: the world is a snapshot in which that quarter's attendance
has been recorded, as the school reports it on the VERKOM form at the end of the quarter.

Every active student record (an EMIS record left behind by a transfer has none; a Dapodik one does not
exist as active either) gets, for each month of the period, the effective school days of its institution
and its days absent without notice (*alpa*), excused (*izin*) and sick (*sakit*):

* each (institution, month) has 18-24 effective days (uniform);
* records are *regular* (93 %): a propensity to be absent drawn from Gamma(2, 0.015) (mean 3 % of days,
  capped at 50 %), days absent Binomial(hari_efektif, propensity), plus, in 4 % of months, a sickness
  spell of 3-7 days (at most the days left);
* *chronically absent* (5 %): a propensity of 12-32 % (uniform), so most of their months fall below 85 %;
* *dropping out* (2 %): a regular propensity until they leave in the first, second or third month
  (uniform) on a school day drawn uniformly among that month's effective days; the days after it are
  *alpa*, and they have no attendance after that month. Their record is marked as left
  (``emis/siswa_keluar.jsonl``, ``dapodik/registrasi_keluar.jsonl``) with a date in that month;
* days absent are split by a Binomial chain: sakit ~ B(absent, 0.4), izin ~ B(absent - sakit, 0.5), alpa the
  rest (40 / 30 / 30 % on average).

It draws from a generator of its own (seeded from the world's seed), so adding it changed no other file.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

import numpy as np

from shared.kehadiran import THRESHOLD_PERCENT, months_of
from worldgen.arrays import IntArray, day_number
from worldgen.config import WorldConfig

HARI_EFEKTIF = (18, 24)
SHARE_CHRONIC = 0.05
SHARE_DROPOUT = 0.02
REGULAR_GAMMA = (2.0, 0.015)
CHRONIC_RANGE = (0.12, 0.32)
SPELL_RATE = 0.02
SPELL_DAYS = (3, 7)
SAKIT_SHARE = 0.4
_STREAM = 0xA77E


@dataclass
class Attendance:
    """One row per (record, month) with attendance, record-major, months in order."""

    months: list[tuple[int, int]]
    rec: IntArray  # index into the world's student records
    month: IntArray  # 0..2, index into ``months``
    hari_efektif: IntArray
    alpa: IntArray
    izin: IntArray
    sakit: IntArray
    left_month: IntArray  # per record: month index the record dropped out in, -1 when it did not
    left_day: IntArray  # per record: date of leaving as a day number (worldgen.arrays), -1 when it did not

    @property
    def meets(self) -> np.ndarray:
        present = self.hari_efektif - self.alpa - self.izin - self.sakit
        return 100 * present >= THRESHOLD_PERCENT * self.hari_efektif


def attendance(cfg: WorldConfig, active: np.ndarray, rec_inst: IntArray, n_inst: int) -> Attendance:
    """Attendance of the records flagged ``active`` (one institution index per record)."""
    rng = np.random.default_rng([cfg.seed % 2**64, _STREAM])
    months = months_of(cfg.tahun, cfg.tahap)
    n_months = len(months)
    n = len(active)
    he_inst = rng.integers(HARI_EFEKTIF[0], HARI_EFEKTIF[1] + 1, size=(n_inst, n_months))
    u_kind = rng.random(n)
    propensity = np.minimum(rng.gamma(REGULAR_GAMMA[0], REGULAR_GAMMA[1], n), 0.5)
    chronic = (u_kind >= SHARE_DROPOUT) & (u_kind < SHARE_DROPOUT + SHARE_CHRONIC)
    propensity = np.where(chronic, CHRONIC_RANGE[0] + rng.random(n) * (CHRONIC_RANGE[1] - CHRONIC_RANGE[0]),
                          propensity)
    dropout = (u_kind < SHARE_DROPOUT) & active
    left_month = np.where(dropout, rng.integers(0, n_months, n), -1)
    u_left_day = rng.random(n)
    he = he_inst[rec_inst]  # (n, months)
    # the school day of leaving (1-based) and the days the record could attend in each month
    left_school_day = 1 + (u_left_day[:, None] * he).astype(np.int64)
    col = np.arange(n_months)[None, :]
    lm = left_month[:, None]
    attend_days = np.where((lm < 0) | (col < lm), he, np.where(col == lm, left_school_day, 0))
    absent = rng.binomial(attend_days, propensity[:, None])
    spell = (rng.random((n, n_months)) < SPELL_RATE) * rng.integers(SPELL_DAYS[0], SPELL_DAYS[1] + 1, (n, n_months))
    absent = absent + np.minimum(spell, attend_days - absent)
    sakit = rng.binomial(absent, SAKIT_SHARE)
    izin = rng.binomial(absent - sakit, 0.5)
    alpa = absent - sakit - izin + np.where(col == lm, he - attend_days, 0)  # after leaving: alpa
    has_row = active[:, None] & ((lm < 0) | (col <= lm))
    r, m = np.nonzero(has_row)  # record-major, months in order
    # the calendar date of leaving: the same fraction of the month as the school day of its effective days
    first = np.array([day_number(date(y, mo, 1)) for y, mo in months], np.int64)
    length = np.array([calendar.monthrange(y, mo)[1] for y, mo in months], np.int64)
    safe = np.maximum(left_month, 0)
    frac = (left_school_day[np.arange(n), safe] - 1) / he[np.arange(n), safe]
    left_day = np.where(dropout, first[safe] + (frac * length[safe]).astype(np.int64), -1)
    return Attendance(months=months, rec=r.astype(np.int64), month=m.astype(np.int64),
                      hari_efektif=he[r, m], alpa=alpa[r, m], izin=izin[r, m], sakit=sakit[r, m],
                      left_month=left_month, left_day=left_day)
