"""Indonesian person names (DOMAIN.md §7) and the spelling variants education systems hold.

Names are UPPERCASE ASCII, as on a Kartu Keluarga, and use only ``[A-Z ',.-]`` so every name also
passes Dapodik's character rule ``[A-Za-z ',.-]``. The registry holds the canonical spelling produced
by :func:`person_name`; :func:`variant` derives the spellings an operator may type instead
(Muhammad/M./Moch., Siti/St., oe/dj/tj spellings, dropped bin/binti, apostrophes, titles, typos).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from enum import StrEnum
from functools import lru_cache

_ALLOWED = re.compile(r"^[A-Za-z ',.-]+$")


class Style(StrEnum):
    """Naming tradition of a family."""

    JAWA = "jawa"
    SUNDA = "sunda"
    MELAYU = "melayu"  # Aceh, Riau, Jambi, Kalimantan coasts: bin/binti common
    UMUM = "umum"  # general Muslim naming (Sulawesi, NTB, cities)
    BATAK = "batak"  # Christian Batak: given name + marga
    MANDAILING = "mandailing"  # Muslim Batak: Islamic given name + marga
    BALI = "bali"  # I/Ni + birth-order name + given name
    TIMUR = "timur"  # Christian naming of NTT, Sulawesi Utara, Maluku, Papua + family name


MUSLIM_STYLES = frozenset({Style.JAWA, Style.SUNDA, Style.MELAYU, Style.UMUM, Style.MANDAILING})


def _w(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# ---- pools -------------------------------------------------------------------------------------

ISLAM_M = _w("""AHMAD RIZKI FAUZI HIDAYAT ARIF RAHMAN YUSUF HASAN HUSEIN ALI UMAR USMAN ISMAIL IBRAHIM
 ILHAM RAHMAT FAJAR MAULANA IMAM SHOLEH MAHMUD HAMZAH RIDWAN ANWAR SYAIFUL ABDULLAH ZAKARIA ZAINUDIN
 LUKMAN HAKIM NURDIN SAMSUL MUKHLIS KHOIRUL MA'RUF JA'FAR SYAFI'I NU'MAN MU'MIN FIRMANSYAH SAPUTRA
 HABIBI NASRULLAH ARIFIN HIDAYATULLAH""")
ISLAM_F = _w("""AMINAH FATIMAH AISYAH KHADIJAH MARYAM HALIMAH JAMILAH ZUBAIDAH KHOTIMAH SYARIFAH HASANAH
 RAHMAWATI NURHAYATI HIDAYAH SHOLIHAH MUSLIMAH NI'MAH ROFI'AH SA'ADAH MU'AWANAH ZULAIKHA SALMAH
 MASITOH KHOIRIYAH ROHMAH MAISAROH UMMI LAILA""")
JAWA_M = _w("""SLAMET JOKO BAMBANG BUDI AGUS SUTRISNO SUPARMAN SUGIARTO PURNOMO WAHYUDI SANTOSO SETIAWAN
 KURNIAWAN SUSANTO HARTONO SUPRIYADI PRASETYO NUGROHO WIBOWO HERU TEGUH SUKARNO PAIJO SUMARNO
 SUYANTO MULYONO TUKIMAN SUPARNO SURATMAN WAGIMAN SUPRIYANTO HARYANTO SUHARTO SUBAGYO SUWARNO
 DARMADI TRIYONO SISWANTO""")
JAWA_F = _w("""SUPARMI SUMIATI SULASTRI SUTINI SUKINAH NINGSIH ASTUTI YULIANI RAHAYU LESTARI HANDAYANI
 WAHYUNI SUMIYATI TUMINAH PARTINI SUPRAPTI WIDAYANTI PURWANTI SETYOWATI MULYANI UTAMI PUJIASTUTI
 SRIYATUN KASIYEM PAINEM WARSINI SUGIYEM TRI RATNA WINARSIH""")
SUNDA_M = _w("""ASEP UJANG DEDE CECEP DADANG YAYAN AJAT OMAN ENCEP ADE IWAN DEDI HERMAN JAJANG KOSASIH
 SUHERMAN SOBARI MAMAN ENDANG AEP DEDEN UDIN ACENG""")
SUNDA_F = _w("""EUIS NENG IMAS CUCU EEN ENTIN ENOK NENENG YAYAH IIS TITIN AI KOKOM YETI NENI LILIS ROSMIATI
 ENCUM OOM ELIS TATI""")
MELAYU_M = _w("""ZULKIFLI SYAHRUL KHAIRUL ZAINAL AZHAR FIRDAUS JUFRI MUKHTAR NASRUDDIN SAIFUL ZULFAHMI
 HAMDAN MAHYUDDIN BAHTIAR AMRI SYAFRIZAL YUSRIZAL ZUBIR""")
MELAYU_F = _w("""NURUL ZURAIDA MARLIANA ROSMINI SALMIAH ZAHARA NURSIAH YUSNIDAR RAHMAH ZAINAB MARIANI
 JULIANA SAFRIDA NURAINI ASMAH""")
MODERN_M = _w("""ADITYA RIZKY FAJAR BAYU DIMAS RAFI ALIF FARHAN ZAIDAN ARKAN RAFFA DAFFA RAKA ARYA GILANG
 REZA ANDIKA DANI FIKRI HAFIZ NAUFAL ATHAYA ABIDZAR KENZO ALFARIZI RAMADHAN SATRIA YOGA PUTRA""")
MODERN_F = _w("""AZZAHRA NAYLA KEISHA ALYA SALSABILA NAURA ZAHRA AULIA PUTRI CANTIKA AYU ANISA NABILA FITRI
 KHANZA SYIFA AQILLA NAFISA INTAN RIZKIA AMELIA DIVA NAJWA ADINDA NURHALIZA ANINDYA""")
BATAK_M = _w("""ROBERT DANIEL JOHANNES SAMUEL MARTIN HOTMAN POLTAK TIGOR BONAR RUDOLF JONNI PARLINDUNGAN
 MANGATAS TOGAR BENNY ANDREAS""")
BATAK_F = _w("""MARIA RUTH ROSMAULI NURMAIDA LAMRIA DUMARIA TIOMINAR HOTMAIDA MASTA DELIMA RUMINTA SERIDA
 LISBETH MELATI""")
MARGA = _w("""SIMANJUNTAK SINAGA SITUMORANG HUTAPEA PANJAITAN PARDEDE MANURUNG SIMATUPANG TAMBUNAN
 SITOMPUL SIHOMBING NAINGGOLAN SIMAMORA SILALAHI TAMPUBOLON HUTAGALUNG""")
MARGA_MUSLIM = _w("NASUTION LUBIS HARAHAP SIREGAR HASIBUAN DALIMUNTHE RANGKUTI BATUBARA PULUNGAN DAULAY")
BALI_ORDER = (("WAYAN", "PUTU", "GEDE"), ("MADE", "KADEK", "NENGAH"), ("NYOMAN", "KOMANG"), ("KETUT",))
BALI_M = _w("""SUDARSANA ARTAWAN WIRAWAN SUARDANA ADNYANA MERTA SUKADANA PUTRA ARYA DARMAWAN WIDIANA
 SUDIARTA PARWATA ASTAWA""")
BALI_F = _w("""SUKARNI ARIANI SUASTINI WIDIASTUTI ARI AYU SRIASIH ASTITI PARWATI SUCIPTAWATI DEWI
 SUARTINI PUSPA""")
TIMUR_M = _w("""YOHANES PAULUS PETRUS MARKUS YOSEF MIKAEL FRANSISKUS STEFANUS AGUSTINUS YULIUS YAKOBUS
 MATIUS ALFONSUS SEMUEL""")
TIMUR_F = _w("""MARIA YOHANA THERESIA MAGDALENA AGUSTINA KRISTINA YULIANA FRANSISKA ELISABETH MARGARETHA
 SELFINA DORKAS MARTHA""")
FAMILY_TIMUR = {
    "71": _w("WOWOR RONDONUWU SUMAMPOUW PANGEMANAN LUMENTA KAUNANG TUMBELAKA WALANGITAN"),
    "53": _w("TEFA NENOBAIS BRIA KASE LAKE NDUN FANGGIDAE SERAN"),
    "81": _w("SIAHAYA TUHUMURY PATTINAMA LATUPEIRISSA LEIWAKABESSY MATULESSY"),
    "9": _w("WENDA YIKWA KOGOYA WONDA TABUNI RUMBEWAS KARUBABA MANDOWEN"),
}
# Old (pre-1972 EYD) spellings some older people keep.
JAWA_OLD_M = _w("SOEDJONO DJOKO SOEPARMAN TJAHJO SOEHARTO SOEKIRMAN TJIPTO SOEWARNO DJUMADI SOEGENG")
JAWA_OLD_F = _w("DJUMINAH SOETINAH SOEPARMI TJITRO SOEMIATI DJAMILAH SOELASTRI")
JAWA_ORDER_M = ("EKO", "DWI", "TRI", "CATUR", "PANCA")
JAWA_ORDER_F = ("EKA", "DWI", "TRI", "CATUR", "PANCA")
PREFIX_TITLES = ("H.", "DRS.", "IR.")
SUFFIX_TITLES = ("S.PD.", "S.PD.I.", "S.AG.", "S.E.", "A.MD.")

MUHAMMAD_VARIANTS = ("MUHAMMAD", "MUHAMAD", "MOCHAMMAD", "MOCHAMAD", "MOCH.", "MOH.", "MOHAMMAD",
                     "MOHAMAD", "M.", "MUH.", "MHD.", "MUCHAMMAD")
AHMAD_VARIANTS = ("AHMAD", "ACHMAD", "AKHMAD")
_OLD_TO_NEW = (("OE", "U"), ("DJ", "J"), ("TJ", "C"), ("NJ", "NY"), ("SJ", "SY"), ("CH", "KH"))
_NEW_TO_OLD = (("U", "OE"), ("J", "DJ"), ("C", "TJ"), ("NY", "NJ"), ("SY", "SJ"), ("KH", "CH"), ("Y", "J"))
_SPELLING_FAMILIES = (
    ("RIZKI", "RIZKY", "RISKI", "RISKY", "RIZQI"), ("PUTRI", "PUTRY"), ("NURHALIZA", "NURHALIZAH"),
    ("AULIA", "AULYA"), ("ANISA", "ANNISA", "ANNISAA"), ("FITRI", "FITRY"), ("ZAHRA", "ZAHROH"),
    ("SYIFA", "SYIFAH"), ("AISYAH", "AISAH", "AISYA"), ("NABILA", "NABILLA"), ("DEWI", "DEWY"),
)


def _pick(rng: random.Random, items: tuple[str, ...]) -> str:
    return items[int(rng.random() * len(items))]


def _p(r: Callable[[], float], items: tuple[str, ...]) -> str:
    return items[int(r() * len(items))]


def style_shares(province: str) -> tuple[tuple[Style, float], ...]:
    """Naming traditions of families living in ``province`` (2-digit code) with their shares."""
    if province == "51":
        return ((Style.BALI, 0.85), (Style.JAWA, 0.15))
    if province == "12":
        return ((Style.BATAK, 0.30), (Style.MANDAILING, 0.20), (Style.MELAYU, 0.50))
    if province in ("53", "71") or province[0] == "9":
        return ((Style.TIMUR, 0.70), (Style.UMUM, 0.30))
    if province == "81":
        return ((Style.TIMUR, 0.45), (Style.UMUM, 0.55))
    if province in ("33", "34", "35"):
        return ((Style.JAWA, 0.92), (Style.UMUM, 0.08))
    if province in ("32", "36"):
        return ((Style.SUNDA, 0.70), (Style.JAWA, 0.15), (Style.UMUM, 0.15))
    if province in ("31", "18"):
        return ((Style.JAWA, 0.40), (Style.SUNDA, 0.15), (Style.UMUM, 0.45))
    if province in ("11", "13", "14", "15", "16", "19", "21", "61", "62", "63", "64", "65"):
        return ((Style.MELAYU, 0.60), (Style.JAWA, 0.20), (Style.UMUM, 0.20))
    return ((Style.UMUM, 0.85), (Style.JAWA, 0.15))


def style_for(rng: random.Random, province: str) -> Style:
    """Naming tradition of a family living in ``province`` (2-digit code)."""
    r = rng.random()
    total = 0.0
    shares = style_shares(province)
    for style, share in shares:
        total += share
        if r < total:
            return style
    return shares[-1][0]


def family_name_pool(province: str) -> tuple[str, ...]:
    return FAMILY_TIMUR.get(province) or FAMILY_TIMUR.get(province[0]) or FAMILY_TIMUR["53"]


def person_name(
    rng: random.Random,
    style: Style,
    female: bool,
    born_year: int,
    *,
    order: int = 0,
    clan: str = "",
    father_given: str = "",
    adult_male_titles: bool = False,
) -> str:
    """A canonical (registry) name.

    ``order`` is the birth order among siblings (0 = first), used by Balinese and Javanese names;
    ``clan`` the marga / family name a Batak or eastern child inherits; ``father_given`` lets Malay
    children carry ``BIN``/``BINTI`` + the father's name; ``adult_male_titles`` allows H./S.Pd. etc.
    """
    old = born_year < 1975
    young = born_year >= 2003
    r = rng.random
    tokens: list[str]
    if style is Style.BALI:
        order_name = _pick(rng, BALI_ORDER[order % 4])
        given = _pick(rng, BALI_F if female else BALI_M)
        tokens = ["NI" if female else "I", order_name, given]
        if female and r() < 0.3:
            tokens.insert(2, "AYU" if given != "AYU" else "LUH")
    elif style in (Style.BATAK, Style.TIMUR):
        pool_m, pool_f = (BATAK_M, BATAK_F) if style is Style.BATAK else (TIMUR_M, TIMUR_F)
        tokens = [_pick(rng, pool_f if female else pool_m)]
        if r() < (0.6 if young else 0.25):
            second = _pick(rng, MODERN_F if female else MODERN_M)
            if second != tokens[0]:
                tokens.append(second)
        if clan:
            if female and style is Style.BATAK and not young and r() < 0.6:
                tokens.append("BR")
            tokens.append(clan)
    else:
        tokens = _muslim_tokens(rng, style, female, old, young, order)
        if style is Style.MANDAILING and clan:
            tokens.append(clan)
        elif father_given and young:
            p_bin = 0.30 if style is Style.MELAYU else 0.04
            if r() < p_bin:
                tokens += ["BINTI" if female else "BIN", father_given]
    name = " ".join(tokens)
    if adult_male_titles and not female:
        t = r()
        if t < 0.025 and style in MUSLIM_STYLES:
            name = f"H. {name}"
        elif t < 0.035 and born_year < 1975:
            name = f"{_pick(rng, PREFIX_TITLES[1:])} {name}"
        elif t < 0.05:
            name = f"{name}, {_pick(rng, SUFFIX_TITLES)}"
    return name


def _muslim_tokens(rng: random.Random, style: Style, female: bool, old: bool, young: bool,
                   order: int) -> list[str]:
    r = rng.random
    if style is Style.JAWA:
        pool = (JAWA_F if female else JAWA_M) if not young else (MODERN_F if female else MODERN_M)
        if old and r() < 0.5:  # older Javanese: mononyms, often in the old spelling
            if r() < 0.35:
                return [_p(r, JAWA_OLD_F if female else JAWA_OLD_M)]
            return [_p(r, JAWA_F if female else JAWA_M)]
    elif style is Style.SUNDA:
        pool = (SUNDA_F if female else SUNDA_M) if not young or r() < 0.3 else (MODERN_F if female else MODERN_M)
        if old and r() < 0.35:
            return [_p(r, SUNDA_F if female else SUNDA_M)]
    elif style is Style.MELAYU:
        pool = MELAYU_F if female else MELAYU_M
        if young and r() < 0.5:
            pool = MODERN_F if female else MODERN_M
    else:
        pool = (MODERN_F if female else MODERN_M) if young and r() < 0.6 else (ISLAM_F if female else ISLAM_M)
    tokens: list[str] = []
    p = r()
    if female:
        if p < (0.25 if old else 0.14):
            tokens.append("SITI")
        elif p < (0.32 if old else 0.22):
            tokens.append("NUR")
        elif style is Style.JAWA and p < (0.45 if old else 0.30):
            tokens.append("SRI")
    else:
        if p < (0.28 if young else 0.18):
            tokens.append("MUHAMMAD")
        elif p < (0.36 if young else 0.26):
            tokens.append("AHMAD")
        elif p < (0.39 if young else 0.29):
            tokens.append("ABDUL")
    if style is Style.JAWA and young and r() < 0.15:
        tokens.append((JAWA_ORDER_F if female else JAWA_ORDER_M)[min(order, 4)])
    first = _pick(rng, pool)
    if first not in tokens:
        tokens.append(first)
    if r() < (0.55 if young else 0.30) or len(tokens) == 0:
        second = _p(r, ISLAM_F if female else ISLAM_M) if r() < 0.5 else _pick(rng, pool)
        if second not in tokens:
            tokens.append(second)
    if tokens == ["MUHAMMAD"] or tokens == ["AHMAD"] or tokens == ["ABDUL"] or tokens == ["SITI"]:
        tokens.append(_p(r, ISLAM_F if female else ISLAM_M))
    return tokens


@lru_cache(maxsize=1 << 18)
def given_token(name: str) -> str:
    """The father's name as used after BIN/BINTI: his first real given name, without titles."""
    skip = {"H.", "DRS.", "IR.", "ABDUL", "I", "NI", *MUHAMMAD_VARIANTS, *AHMAD_VARIANTS}
    for tok in name.split():
        tok = tok.rstrip(",")
        if tok not in skip and "." not in tok:
            return tok
    return name.split()[-1].rstrip(",")


@lru_cache(maxsize=1 << 18)
def title_free(name: str) -> str:
    """Drop academic/religious titles (H., Drs., S.Pd. ...) from a canonical name."""
    out = name.split(", ")[0]
    for t in PREFIX_TITLES:
        if out.startswith(t + " "):
            out = out[len(t) + 1:]
    return out


def is_dapodik_safe(name: str) -> bool:
    return bool(_ALLOWED.match(name))


# ---- variants ----------------------------------------------------------------------------------

_LETTERS = "ABCDEFGHIJKLMNOPRSTUWY"


def _typo(rng: random.Random, name: str) -> str:
    tokens = name.split(" ")
    candidates = [i for i, t in enumerate(tokens) if len(t) >= 2 and t.replace("'", "").isalpha()]
    if not candidates:
        return name + "H" if not name.endswith("H") else name + "A"
    i = candidates[int(rng.random() * len(candidates))]
    tok = tokens[i]
    j = 1 + int(rng.random() * (len(tok) - 1))  # keep the first letter: typos rarely hit it
    k = rng.random()
    if k < 0.3:
        new = tok[:j] + tok[j + 1:]
    elif k < 0.6:
        c = _pick(rng, tuple(ch for ch in _LETTERS if ch != tok[j]))
        new = tok[:j] + c + tok[j + 1:]
    elif k < 0.8 and j < len(tok) - 1 and tok[j] != tok[j + 1]:
        new = tok[:j] + tok[j + 1] + tok[j] + tok[j + 2:]
    else:
        new = tok[:j] + _pick(rng, tuple(_LETTERS)) + tok[j:]
    tokens[i] = new
    out = " ".join(tokens)
    return out if out != name else _typo_fallback(name)


def _typo_fallback(name: str) -> str:
    return name[:-1] + ("A" if name[-1] != "A" else "E")


def _replace_token(tokens: list[str], i: int, new: str) -> str:
    return " ".join([*tokens[:i], new, *tokens[i + 1:]])


def _variants(rng: random.Random, name: str, female: bool) -> list[str]:
    """Candidate variants of ``name`` (one per applicable rule), in a fixed order."""
    tokens = name.split(" ")
    out: list[str] = []
    for i, tok in enumerate(tokens):
        if tok in MUHAMMAD_VARIANTS:
            out.append(_replace_token(tokens, i, _pick(rng, tuple(v for v in MUHAMMAD_VARIANTS if v != tok))))
            break
        if tok in AHMAD_VARIANTS:
            out.append(_replace_token(tokens, i, _pick(rng, tuple(v for v in AHMAD_VARIANTS if v != tok))))
            break
    if "SITI" in tokens:
        out.append(_replace_token(tokens, tokens.index("SITI"), "ST."))
    elif "ST." in tokens:
        out.append(_replace_token(tokens, tokens.index("ST."), "SITI"))
    # spelling reform (EYD 1972) in either direction, on one token
    for i, tok in enumerate(tokens):
        if "." in tok:
            continue
        for old, new in _OLD_TO_NEW:
            if old in tok:
                out.append(_replace_token(tokens, i, tok.replace(old, new, 1)))
                break
        else:
            continue
        break
    else:
        for i, tok in enumerate(tokens):
            if len(tok) < 4 or "." in tok or tok in ("BIN", "BINTI"):
                continue
            for new, old in _NEW_TO_OLD:
                pos = tok.find(new, 1)
                if pos > 0:
                    out.append(_replace_token(tokens, i, tok[:pos] + old + tok[pos + len(new):]))
                    break
            else:
                continue
            break
    for i, tok in enumerate(tokens):
        for fam in _SPELLING_FAMILIES:
            if tok in fam:
                out.append(_replace_token(tokens, i, _pick(rng, tuple(v for v in fam if v != tok))))
                break
    if "'" in name:
        out.append(name.replace("'", "", 1) if rng.random() < 0.7 else name.replace("'", " ", 1))
    for sep in (" BIN ", " BINTI "):
        if sep in name:
            out.append(name.split(sep)[0])
    if name.startswith(("H. ", "HJ. ")):
        out.append(name.split(" ", 1)[1])
    elif female and len(tokens) >= 2 and rng.random() < 0.3:
        out.append(f"HJ. {name}")
    if len(tokens) >= 3 and tokens[1].isalpha() and tokens[1] not in ("BIN", "BINTI", "BR"):
        out.append(_replace_token(tokens, 1, tokens[1][0] + "."))
    if len(tokens) >= 3 and tokens[-2] not in ("BIN", "BINTI", "BR") and tokens[0] not in ("I", "NI"):
        out.append(" ".join(tokens[:-1]))
    return [v for v in out if v != name and v.strip() and len(v) <= 100]


def variant(rng: random.Random, name: str, *, female: bool = False) -> str:
    """A different spelling of ``name``: a rule-based variant (60%) or a typo; never ``name`` itself.

    ``female`` allows the ``HJ.`` title to be added (operators write it on mothers' names).
    """
    candidates = _variants(rng, name, female)
    use_rule = bool(candidates) and rng.random() < 0.6
    out = candidates[int(rng.random() * len(candidates))] if use_rule else _typo(rng, name)
    assert out != name
    return out


# ---- vectorised names for large worlds --------------------------------------------------------
#
# Calling person_name() once per person costs ~10 µs, too slow for millions of people. Instead,
# canonical names are drawn from pools: for each (style, sex, era, birth-order bucket) a pool of
# person_name() outputs without the family-dependent parts, generated once from a seeded
# random.Random; the family-dependent parts (marga / family name, BR, BIN/BINTI + father,
# titles) are added per person afterwards. A pool of P names drawn from the rule generator has
# nearly its frequency distribution (two people share a pool name with probability sum p_i^2 + 1/P).

STYLES = tuple(Style)
STYLE_INDEX = {s: i for i, s in enumerate(STYLES)}
ERA_YEARS = (1960, 1990, 2012)  # old (< 1975: mononyms, old spelling), middle, young (>= 2003)
CLAN_STYLES = frozenset({Style.BATAK, Style.TIMUR, Style.MANDAILING})
BIN_STYLES = frozenset({Style.JAWA, Style.SUNDA, Style.MELAYU, Style.UMUM})
# Spellings of MUHAMMAD / AHMAD / SITI a Kartu Keluarga itself may carry (the registry's canonical form).
REGISTRY_MUHAMMAD = ("MUHAMAD", "MOCHAMMAD", "MOCHAMAD", "MOCH.", "MOH.", "M.", "MUH.", "MOHAMMAD")


def era_of(born_year: int) -> int:
    return 0 if born_year < 1975 else 2 if born_year >= 2003 else 1


def order_bucket(style: Style, era: int, order: int) -> int:
    if style is Style.BALI:
        return order % 4
    if style is Style.JAWA and era == 2:
        return min(order, 4)
    return 0


def registry_spelling(rng: random.Random, name: str) -> str:
    """The spelling a KK may hold: MUHAMMAD written MUHAMAD / MOCH. / M. (25%), AHMAD as ACHMAD (15%),
    SITI as ST. (3%)."""
    tokens = name.split(" ")
    if tokens[0] == "MUHAMMAD" and rng.random() < 0.25:
        tokens[0] = _pick(rng, REGISTRY_MUHAMMAD)
    elif tokens[0] == "AHMAD" and rng.random() < 0.15:
        tokens[0] = _pick(rng, ("ACHMAD", "AKHMAD"))
    elif tokens[0] == "SITI" and rng.random() < 0.03:
        tokens[0] = "ST."
    return " ".join(tokens)


class NamePools:
    """Pools of canonical base names, built lazily and deterministically from ``seed``."""

    def __init__(self, seed: int, size: int) -> None:
        self.seed = seed
        self.size = size
        self._pools: dict[int, list[str]] = {}

    @staticmethod
    def key(style: int, female: bool, era: int, bucket: int) -> int:
        return ((style * 2 + int(female)) * 3 + era) * 5 + bucket

    def pool(self, key: int) -> list[str]:
        pool = self._pools.get(key)
        if pool is None:
            rest, bucket = divmod(key, 5)
            rest, era = divmod(rest, 3)
            style_i, female = divmod(rest, 2)
            style = STYLES[style_i]
            rng = random.Random(f"worldgen-names:{self.seed}:{key}")  # str seeds are stable across runs
            pool = [registry_spelling(rng, person_name(rng, style, bool(female), ERA_YEARS[era], order=bucket))
                    for _ in range(self.size)]
            self._pools[key] = pool
        return pool


def given_of(names: list[str]) -> list[str]:
    return [given_token(n) for n in names]
