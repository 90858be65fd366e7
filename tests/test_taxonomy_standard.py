"""The standard catalogue (cityops/standard.yaml) and its mapping of the product's codes."""

from __future__ import annotations

import pytest

from cityops.taxonomy import (
    case_type,
    standard_catalogue,
    standard_code,
    standard_types,
    type_for_iot,
    violation_types,
)


def test_every_product_code_maps_onto_one_standard_type():
    aliases = [a for st in standard_types().values() for a in st.aliases]
    assert len(aliases) == len(set(aliases)), "a product code listed under two standard types"
    assert set(aliases) <= set(violation_types()), "an alias that is no product code"
    for code, vt in violation_types().items():
        st = standard_types()[vt.standard]
        assert (vt.owner, vt.limit_h, vt.natural, vt.filing, vt.closing) == (
            st.owner, st.limit_h, st.natural, st.filing, st.closing), code  # fmt: skip
        assert standard_code(code) == st.code


def test_catalogue_is_complete_and_consistent():
    categories, owners, types = standard_catalogue()
    assert {c.kind for c in categories.values()} == {"event", "component"}
    for code, vt in types.items():
        assert code[0] == {"event": "E", "component": "C"}[vt.kind] and code[:3] == vt.category
        assert vt.zh and vt.en and vt.filing and vt.closing, code
        assert vt.owner in owners, code
        assert vt.limit_h and vt.limit_h > 0, code
        assert vt.natural == (vt.urgency == "urgent"), code  # urgent types count natural time
    assert case_type("E0102").zh == "暴露垃圾" and case_type("E0102").limit_h == 4
    assert not case_type("E0102").natural and case_type("exposed_rubbish").standard == "E0102"
    assert case_type("nonsense") is None and standard_code("nonsense") is None


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("water_leak", "E0402"),
        ("water_level", "E0405"),
        ("smoke", "E0407"),
        ("gas", "E0403"),
        ("sos_wristband", "E0492"),
        ("manhole_cover", "E0491"),
    ],  # the iot bridge's device kinds
)
def test_iot_kinds_map_onto_standard_types(kind, code):
    assert type_for_iot(kind).code == code
    assert type_for_iot("no-such-alarm") is None


def test_users_extend_the_catalogue_with_their_own_file(tmp_path, monkeypatch):
    from cityops import taxonomy

    extra = tmp_path / "local.yaml"
    extra.write_text(
        "types:\n  - {code: E0199, zh: 乱倒污水, en: Waste water poured out, owner: sanitation,"
        " limit: {hours: 3, time: working}, filing: 向道路倾倒污水, closing: 清理干净}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CITYOPS_TAXONOMY_EXTRA", str(extra))
    taxonomy.standard_catalogue.cache_clear()
    try:
        vt = taxonomy.case_type("E0199")
        assert (vt.kind, vt.category, vt.limit_h, vt.natural) == ("event", "E01", 3.0, False)
        extra.write_text("types:\n  - {code: E0102, zh: x, en: x, owner: sanitation}\n", encoding="utf-8")
        taxonomy.standard_catalogue.cache_clear()
        with pytest.raises(ValueError, match="E0102 defined twice"):
            taxonomy.standard_catalogue()
    finally:
        monkeypatch.delenv("CITYOPS_TAXONOMY_EXTRA")
        taxonomy.standard_catalogue.cache_clear()


def test_every_device_kind_of_the_iot_bridge_raises_a_standard_type():
    from iot.kinds import INCIDENT_TYPE, OFFLINE_TYPE

    for kind, product_code in INCIDENT_TYPE.items():
        assert type_for_iot(kind) is not None, kind
        assert violation_types()[product_code].standard == type_for_iot(kind).code
    assert violation_types()[OFFLINE_TYPE].standard == "E0691"
