"""User profiles that extend a shipped profile inherit what they do not state."""

import pytest

from landplan.core.errors import PolicyError
from landplan.core.policy import load_policy, parse_policy


def test_a_profile_states_only_what_differs(tmp_path):
    path = tmp_path / "county.toml"
    path.write_text(
        'extends = "national"\n'
        '[profile]\nname = "county"\n'
        "[tolerances]\nsliver_m2 = 2.5\n"
        "[networks.road]\nconnectable_m = 350\n",
        encoding="utf-8",
    )
    base, p = load_policy("national"), load_policy(path)
    assert p.profile.name == "county" and p.profile.version == base.profile.version
    assert p.tolerances.sliver_m2 == 2.5
    assert p.tolerances.min_net_available_m2 == base.tolerances.min_net_available_m2
    assert p.networks["road"].connectable_m == 350
    assert p.networks["road"].connected_m == base.networks["road"].connected_m  # merged key by key
    assert p.networks["road"].label_zh == base.networks["road"].label_zh
    assert p.messages == base.messages  # a template added to national reaches the profile


def test_a_new_template_in_the_base_reaches_profiles_that_extend_it(tmp_path):
    from importlib import resources

    text = resources.files("landplan.profiles").joinpath("national.toml").read_text("utf-8")
    text += '\n[messages.BRAND_NEW_CODE]\nzh = "新原因"\nen = "a new reason"\n'
    (tmp_path / "base.toml").write_text(text, encoding="utf-8")
    (tmp_path / "mine.toml").write_text(
        'extends = "base.toml"\n[tolerances]\nsliver_m2 = 3.0\n', encoding="utf-8"
    )
    p = load_policy(tmp_path / "mine.toml")
    assert p.messages["BRAND_NEW_CODE"].en == "a new reason"
    assert p.tolerances.sliver_m2 == 3.0


def test_lists_and_values_replace_the_inherited_ones():
    p = parse_policy('extends = "national"\n[profile]\nsources = ["mine"]\n')
    assert p.profile.sources == ["mine"]


def test_circular_and_unknown_bases_are_clear_errors(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n', encoding="utf-8")
    with pytest.raises(PolicyError, match="circle"):
        load_policy(tmp_path / "a.toml")
    with pytest.raises(PolicyError, match=r"not found.*national"):
        parse_policy('extends = "nationl"\n')
    with pytest.raises(PolicyError, match="extends must be"):
        parse_policy("extends = 3\n")


def test_a_bad_value_in_the_extension_names_the_key():
    with pytest.raises(PolicyError, match=r"tolerances\.sliver_m2"):
        parse_policy('extends = "national"\n[tolerances]\nsliver_m2 = -1\n')
