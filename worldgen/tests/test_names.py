from __future__ import annotations

import random
from collections import Counter

from worldgen.names import Style, is_dapodik_safe, person_name, style_for, title_free


def _names(style: Style, n: int = 400, **kw: object) -> list[str]:
    rng = random.Random(style.value)
    return [person_name(rng, style, i % 2 == 0, 1960 + i % 60, order=i % 5, **kw) for i in range(n)]


def test_every_style_gives_dapodik_safe_names() -> None:
    for style in Style:
        for name in _names(style, clan="SIREGAR", father_given="ABDULLAH", adult_male_titles=True):
            assert name and len(name) <= 100 and is_dapodik_safe(name), (style, name)
            assert name == name.upper() and "  " not in name


def test_naming_traditions() -> None:
    bali = _names(Style.BALI)
    assert all(n.startswith(("I ", "NI ")) for n in bali)
    assert any(" KETUT " in n for n in bali) and any(" WAYAN " in n or " PUTU " in n for n in bali)
    batak = _names(Style.BATAK, clan="SIMANJUNTAK")
    assert all(n.endswith(" SIMANJUNTAK") for n in batak) and any(" BR " in n for n in batak)
    jawa = _names(Style.JAWA)
    assert sum(len(n.split()) == 1 for n in jawa) > 40  # mononyms
    assert any("OE" in n or "DJ" in n or "TJ" in n for n in jawa)  # pre-1972 spellings
    melayu = _names(Style.MELAYU, father_given="ABDULLAH")
    assert any(" BIN ABDULLAH" in n for n in melayu) and any(" BINTI ABDULLAH" in n for n in melayu)
    muslim = (Style.JAWA, Style.SUNDA, Style.UMUM, Style.MELAYU)
    tokens = Counter(t for s in muslim for n in _names(s) for t in n.split())
    assert tokens["MUHAMMAD"] > 20 and tokens["SITI"] > 20 and tokens["AHMAD"] > 5 and tokens["ABDUL"] > 5
    assert any("'" in t for t in tokens)
    titled = _names(Style.JAWA, 2000, adult_male_titles=True)
    assert any(n.startswith("H. ") for n in titled) and any(", S.PD." in n for n in titled)
    assert title_free("H. AHMAD SUJADI, S.PD.") == "AHMAD SUJADI"


def test_style_by_province() -> None:
    rng = random.Random(0)
    assert Counter(style_for(rng, "51") for _ in range(200)).most_common(1)[0][0] is Style.BALI
    assert Counter(style_for(rng, "33") for _ in range(200)).most_common(1)[0][0] is Style.JAWA
    assert Counter(style_for(rng, "32") for _ in range(200)).most_common(1)[0][0] is Style.SUNDA
    assert Style.BATAK in {style_for(rng, "12") for _ in range(200)}


def test_registry_and_school_spellings(default_world) -> None:  # type: ignore[no-untyped-def]
    """The registry holds KK spellings (MUHAMMAD, but also M. / MOCH. / MUHAMAD); madrasah and schools
    type names in upper or Title Case; Dapodik names keep to [A-Za-z ',.-]."""
    import re

    from worldgen.names import REGISTRY_MUHAMMAD

    w = default_world
    first = Counter(m["nama"].split()[0] for m in w.rows["kemensos/anggota_keluarga.jsonl"])
    assert first["MUHAMMAD"] > 0 and sum(first[v] for v in REGISTRY_MUHAMMAD) > 0
    registry = [m["nama"] for m in w.rows["kemensos/anggota_keluarga.jsonl"]]
    assert any(" BIN " in n for n in registry) and any(" BINTI " in n for n in registry)
    assert any("'" in n for n in registry) and any("OE" in n or "DJ" in n or "TJ" in n for n in registry)
    dapodik = re.compile(r"^[A-Za-z ',.-]*$")
    for file, share in (("emis/siswa.jsonl", w.config.shares.name_case_emis),
                        ("dapodik/peserta_didik.jsonl", w.config.shares.name_case_dapodik)):
        rows = w.rows[file]
        mixed = sum(r["nama"] != r["nama"].upper() for r in rows) / len(rows)
        assert abs(mixed - share) < 0.15, (file, mixed)
        if file.startswith("dapodik"):
            for r in rows:
                for f in ("nama", "nama_ayah", "nama_ibu_kandung", "nama_wali"):
                    assert dapodik.match(r[f]), r[f]
    titled_fathers = [r for r in w.rows["emis/siswa.jsonl"] if r["nama_ayah"].upper().startswith("H. ")]
    assert titled_fathers  # EMIS keeps titles; Dapodik mostly drops them
