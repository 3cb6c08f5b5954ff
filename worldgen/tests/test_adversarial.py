"""Adversarial cases a matcher must not link to the wrong person: present, real and tagged."""

from __future__ import annotations

from collections import defaultdict

from worldgen.names import title_free
from worldgen.tests.conftest import World
from worldgen.truth import Adversarial, GroundTruth

A = Adversarial


def _tagged(w: World, tag: Adversarial) -> list[GroundTruth]:
    return [t for t in w.truth if tag in t.adversarial]


def test_every_tag_occurs_and_is_counted(default_world: World) -> None:
    w = default_world
    for tag in Adversarial:
        tagged = _tagged(w, tag)
        assert tagged, f"no record tagged {tag}"
        assert w.manifest["adversarial"][tag.value] == len(tagged)
    for t in w.truth:
        assert t.true_nik not in t.confusable_niks
        assert t.confusable_niks == sorted(set(t.confusable_niks))
        assert bool(t.confusable_niks) == bool(t.adversarial)


def test_twins_share_mother_and_birth_date_but_not_name(default_world: World) -> None:
    w = default_world
    checked = 0
    for t in _tagged(w, A.TWIN):
        child = w.members.get(t.true_nik)
        if child is None:  # family outside the registry: check through the truth of the co-twin
            continue
        twins = [w.members[n] for n in t.confusable_niks if n in w.members
                 and w.members[n]["tanggal_lahir"] == child["tanggal_lahir"]
                 and w.members[n]["no_kk"] == child["no_kk"]]
        assert len(twins) == 1, t
        twin = twins[0]
        assert twin["nama_ibu_kandung"] == child["nama_ibu_kandung"] and twin["nama"] != child["nama"]
        if twin["jenis_kelamin"] == child["jenis_kelamin"]:
            # registered together: same prefix and date, serials one apart
            assert twin["nik"][:12] == child["nik"][:12] and abs(int(twin["nik"]) - int(child["nik"])) == 1
        checked += 1
    assert checked > 10


def test_father_and_son_with_one_name(default_world: World) -> None:
    w = default_world
    tagged = _tagged(w, A.FATHER_SON_SAME_NAME)
    for t in tagged:
        assert t.true_nik_ayah in t.confusable_niks
        if t.in_registry:
            son, father = w.members[t.true_nik], w.members[t.true_nik_ayah]
            assert son["jenis_kelamin"] == father["jenis_kelamin"] == "L"
            assert son["nama"] == title_free(father["nama"])
            assert son["tanggal_lahir"] != father["tanggal_lahir"]
        record = w.by_id[t.student_id]
        if "name_variant" not in t.errors:
            assert title_free(record["nama"].upper()) == title_free(record["nama_ayah"].upper())


def test_homonyms_have_another_mother_in_the_same_kecamatan(default_world: World) -> None:
    w = default_world
    children = {t.true_nik: t for t in w.truth}
    pairs = 0
    for t in _tagged(w, A.HOMONYM):
        assert t.confusable_niks
        if not t.in_registry:
            continue
        me = w.members[t.true_nik]
        matches = [w.members[n] for n in t.confusable_niks if n in w.members
                   and w.members[n]["nama"] == me["nama"] and w.members[n]["tanggal_lahir"] == me["tanggal_lahir"]]
        for other in matches:
            pairs += 1
            assert other["no_kk"] != me["no_kk"] and other["jenis_kelamin"] == me["jenis_kelamin"]
            kode = w.families[me["no_kk"]]["kode_wilayah"][:6]
            assert w.families[other["no_kk"]]["kode_wilayah"][:6] == kode
            if other["nik"] in children:
                assert A.HOMONYM in children[other["nik"]].adversarial
    assert pairs > 0


def test_siblings_share_the_parents_niks(default_world: World) -> None:
    w = default_world
    by_family: dict[str, set[str]] = defaultdict(set)
    for t in w.truth:
        by_family[t.true_no_kk or t.true_nik_ibu or t.true_nik].add(t.true_nik)
    for t in w.truth:
        siblings = by_family[t.true_no_kk or t.true_nik_ibu or t.true_nik] - {t.true_nik}
        if t.true_no_kk is None:
            continue
        assert (A.SIBLING_SHARED_PARENT in t.adversarial) == bool(siblings)
        assert siblings <= set(t.confusable_niks)
        for nik in siblings:
            sibling = w.members[nik]
            assert sibling["no_kk"] == t.true_no_kk
