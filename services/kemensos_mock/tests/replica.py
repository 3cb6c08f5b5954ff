"""A minimal replica that follows the change feed the way the contract says a consumer should."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.contracts.kemensos import ChangePage, KeluargaChange, KeluargaDihapusChange, PkhChange


@dataclass
class Replica:
    families: dict[str, dict[str, Any]] = field(default_factory=dict)  # no_kk -> state
    versions: dict[str, int] = field(default_factory=dict)  # no_kk -> version of the applied family item
    seen: set[tuple[str, int]] = field(default_factory=set)  # (kind, version) of every item received
    cursor: str | None = None

    def apply(self, page: ChangePage) -> None:
        for item in page.items:
            self.seen.add((item.kind.value, item.version))
            if isinstance(item, KeluargaChange):
                self._family(item)
            elif isinstance(item, PkhChange):
                if item.latest and item.no_kk in self.families:
                    self.families[item.no_kk]["pkh"] = item.pkh.model_dump(mode="json")
            elif isinstance(item, KeluargaDihapusChange) and self.versions.get(item.no_kk, 0) < item.version:
                self.families.pop(item.no_kk, None)
                self.versions[item.no_kk] = item.version
        self.cursor = page.next_cursor

    def _family(self, item: KeluargaChange) -> None:
        if self.versions.get(item.no_kk, 0) >= item.version:
            return  # a page delivered again
        for old in item.no_kk_lama:
            self.families.pop(old, None)
        niks = {m.nik for m in item.anggota}
        for state in self.families.values():
            state["anggota"] = {n: m for n, m in state["anggota"].items() if n not in niks}
        family = item.keluarga.model_dump(mode="json", exclude={"version", "updated_at"})
        family["anggota"] = {m.nik: m.model_dump(mode="json") for m in item.anggota}
        self.families[item.no_kk] = family
        self.versions[item.no_kk] = item.version

    def nik_owners(self) -> dict[str, list[str]]:
        owners: dict[str, list[str]] = {}
        for no_kk, state in self.families.items():
            for nik in state["anggota"]:
                owners.setdefault(nik, []).append(no_kk)
        return owners
