"""What the console's forms accept. Each bad field is named with its rule and a message a person can act on; a
form with a bad field changes nothing and reads nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from services.sync_hub.risk.schemas import RiskFilters
from shared.contracts.common import MatchKey, Outcome
from shared.contracts.hub import SourceSystem

UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


@dataclass(frozen=True)
class Problem:
    field: str
    rule: str
    message: str


class Form(BaseModel):
    """Empty strings (an untouched select or text box) are absent values; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @classmethod
    def parse(cls, data: dict[str, Any], ignore: tuple[str, ...] = ()) -> tuple[Any, list[Problem]]:
        clean = {k: v for k, v in data.items() if k not in ignore and v not in ("", None)}
        try:
            return cls.model_validate(clean), []
        except ValidationError as exc:
            return None, [problem(e) for e in exc.errors(include_input=False, include_url=False)]


MESSAGES = {
    "string_pattern_mismatch": "has the wrong form",
    "enum": "is not one of the choices offered",
    "extra_forbidden": "is not a filter this page knows",
    "string_too_short": "is too short",
    "string_too_long": "is too long",
    "int_parsing": "is not a whole number",
    "missing": "is required",
}
HINTS = {
    "province": "a province is 2 digits (for example 32)",
    "kabupaten": "a kabupaten is 4 digits (for example 3201)",
    "school": "a school is its NSM, sekolah_id or NPSN: letters, digits and '-' only",
    "run": "a run is named by its id (pick one from the Runs page)",
    "periode": "a PKH period looks like 2026-T3",
    "reason": "write why, in 3 to 300 characters",
    "nik": "a NIK is 16 digits",
    "nisn": "a NISN is 10 digits, leading zeros included (for example 0071234567)",
    "student_id": "a student id is up to 64 letters, digits, '-' or '_'",
    "cursor": "use the page's own Next link",
}


def problem(e: Any) -> Problem:
    field = ".".join(str(p) for p in e["loc"]) or "form"
    rule = str(e["type"])
    base = MESSAGES.get(rule, e.get("msg", "is not valid"))
    hint = HINTS.get(field)
    return Problem(field, rule, f"{field} {base}" + (f": {hint}" if hint else ""))


class OutcomeForm(Form):
    run: str | None = Field(None, pattern=UUID)
    system: SourceSystem | None = None
    province: str | None = Field(None, pattern=r"^\d{2}$")
    kabupaten: str | None = Field(None, pattern=r"^\d{4}$")
    school: str | None = Field(None, pattern=r"^[0-9A-Za-z-]{1,64}$")
    outcome: Outcome | None = None
    key: MatchKey | None = None
    after: str | None = Field(None, pattern=r"^(emis|dapodik):[0-9A-Za-z_.-]{1,64}$")


class ExportForm(OutcomeForm):
    format: str = Field("csv", pattern=r"^(csv|xlsx)$")


class StartRunForm(Form):
    csrf: str
    full: bool = False


class DecisionForm(Form):
    csrf: str
    verdict: str = Field(..., pattern=r"^(link|no_link)$")
    no_kk: str | None = Field(None, pattern=r"^\d{16}$")
    reason: str = Field(..., min_length=3, max_length=300)
    blind: bool = False


class ReversalForm(Form):
    csrf: str
    reason: str = Field(..., min_length=3, max_length=300)


class SearchForm(Form):
    """Search a student by id or school (GET: neither is personal data)."""

    system: SourceSystem | None = None
    student_id: str | None = Field(None, pattern=r"^[0-9A-Za-z_.-]{1,64}$")
    school: str | None = Field(None, pattern=r"^[0-9A-Za-z-]{1,64}$")


class NikSearchForm(Form):
    """Search a student by NIK (POST only: a NIK never goes into a URL)."""

    csrf: str
    nik: str = Field(..., pattern=r"^\d{16}$")


class NisnSearchForm(Form):
    """Search a student by NISN (POST, like a NIK: a NISN names one child, so it stays out of URLs, logs and
    traces)."""

    csrf: str
    nisn: str = Field(..., pattern=r"^\d{10}$")

    @field_validator("nisn", mode="before")
    @classmethod
    def _not_a_nik(cls, value: Any) -> Any:
        if isinstance(value, str) and re.fullmatch(r"\d{16}", value.strip()):
            raise PydanticCustomError("nik_not_nisn", "has 16 digits, like a NIK (search a NIK with the NIK form)")
        return value


class FamiliesForm(RiskFilters):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    cursor: str | None = Field(None, max_length=200)


class FamiliesExportForm(RiskFilters):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    format: str = Field("csv", pattern=r"^(csv|xlsx)$")


def parse_with(model: type[BaseModel], data: dict[str, Any]) -> tuple[Any, list[Problem]]:
    clean = {k: v for k, v in data.items() if v not in ("", None)}
    try:
        return model.model_validate(clean), []
    except ValidationError as exc:
        return None, [problem(e) for e in exc.errors(include_input=False, include_url=False)]

