"""Place names of the grid (streets, communities, cell codes) to a position: exact, then contained in
the address, then fuzzy; Chinese, pinyin (with or without spaces) and English names alike (pure).

A citizen's ``address_string`` such as ``文化路第2社区 东门``, ``wenhualu di2 shequ`` or
``Wenhualu Community 2`` becomes the community's position; an unclear one gets the closest names
instead (:class:`Unresolved`)."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from gis.grid import Grid

FUZZY_OK = 0.84  # the best name at least this similar ...
FUZZY_MARGIN = 0.04  # ... and this much ahead of the next place is taken
CANDIDATE_MIN = 0.35
_SUFFIXES_ZH = ("街道", "镇", "社区")
_SUFFIXES_EN = (" street", " town", " subdistrict")
_HAN = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Place:
    level: str  # street, community or cell
    code: str
    name_zh: str
    name_en: str
    lon: float
    lat: float

    @property
    def label(self) -> str:
        return f"{self.name_zh} / {self.name_en}" if self.name_zh != self.name_en else self.name_en


@dataclass(frozen=True)
class Unresolved(LookupError):
    address: str
    candidates: tuple[Place, ...]

    def __str__(self) -> str:
        names = "; ".join(p.label for p in self.candidates)
        if not names:
            return f"the address {self.address!r} names no street, community or cell of the district"
        return f"the address {self.address!r} is not clear; did you mean: {names}"


def _pinyin(text: str) -> str:
    try:
        from pypinyin import lazy_pinyin
    except ImportError:  # the names still match in Chinese and English
        return text
    return "".join(lazy_pinyin(text))


def norm(text: str) -> str:
    """Lower case, full-width folded, no spaces or punctuation (Chinese characters kept)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalnum())


def keys_for(zh: str, en: str) -> set[str]:
    """Every spelling a person may type for a place: Chinese, English, pinyin, each with and
    without its 街道/社区/Street suffix."""
    out = {norm(zh), norm(en), norm(_pinyin(zh))}
    for suf in _SUFFIXES_ZH:
        if zh.endswith(suf) and len(zh) > len(suf):
            stem = zh.removesuffix(suf)
            out |= {norm(stem), norm(_pinyin(stem))}
    low = en.lower()
    for suf in _SUFFIXES_EN:
        if low.endswith(suf) and len(low) > len(suf):
            out.add(norm(low.removesuffix(suf)))
    return {k for k in out if k}


class Gazetteer:
    def __init__(self, grid: Grid) -> None:
        self.places: list[Place] = []
        self.keys: list[tuple[str, int]] = []  # (key, place index)
        for unit in (*grid.streets, *grid.communities):
            p = unit.geometry.representative_point()
            self._add(Place(unit.level, unit.code, unit.name_zh, unit.name_en, p.x, p.y))
        for cell in grid.cells:
            p = cell.geometry.representative_point()
            place = Place(
                "cell", cell.code, f"{cell.community_zh} {cell.code}", f"cell {cell.code}", p.x, p.y
            )
            self.places.append(place)
            self.keys.append((cell.code, len(self.places) - 1))

    def _add(self, place: Place) -> None:
        self.places.append(place)
        idx = len(self.places) - 1
        self.keys += [(k, idx) for k in keys_for(place.name_zh, place.name_en)]
        self.keys.append((place.code, idx))

    def resolve(self, address: str, limit: int = 5) -> Place:
        """The place ``address`` names, or :class:`Unresolved` with up to ``limit`` candidates."""
        q = norm(address)
        if not q:
            raise Unresolved(address, ())
        queries = {q, norm(_pinyin(address))} if _HAN.search(address) else {q}
        exact = {i for k, i in self.keys if k in queries}
        if len(exact) == 1:
            return self.places[exact.pop()]
        if exact:
            raise Unresolved(address, tuple(self.places[i] for i in sorted(exact))[:limit])
        scores: dict[int, float] = {}
        for k, i in self.keys:
            r = max(difflib.SequenceMatcher(None, qq, k).ratio() for qq in queries)
            if r > scores.get(i, 0.0):
                scores[i] = r
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        if (
            ranked
            and ranked[0][1] >= FUZZY_OK
            and (len(ranked) == 1 or ranked[0][1] - ranked[1][1] >= FUZZY_MARGIN)
        ):
            return self.places[ranked[0][0]]
        # else a name inside the address ("文化路第2社区东门"): the longest, most specific one
        inside = sorted(
            ((len(k), i) for k, i in self.keys if len(k) >= 3 and any(k in qq for qq in queries)),
            reverse=True,
        )
        if inside:
            best_len = inside[0][0]
            best = {i for n, i in inside if n == best_len}
            if len(best) == 1:
                return self.places[best.pop()]
        raise Unresolved(address, tuple(self.places[i] for i, r in ranked[:limit] if r >= CANDIDATE_MIN))

    def by_code(self, code: str) -> Place | None:
        return next((p for p in self.places if p.code == code), None)


@lru_cache(maxsize=4)
def gazetteer(grid: Grid) -> Gazetteer:
    """One gazetteer per grid (built on first use)."""
    return Gazetteer(grid)
