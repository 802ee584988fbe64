"""The rule table: pre-filters never drop a flagged parcel, and verdicts equal the per-parcel logic."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from landplan.analysis.rules import apply_rules, rule_table
from landplan.analysis.transfer import assess, decide, reason_counts, reason_counts_of
from landplan.core.policy import parse_policy
from landplan.core.reasons import Reason

KINDS = ["red_line", "urban_boundary", "basic_farmland", "scenic_area"]
NETS = ["road", "water", "power", "sewer", "gas"]
# the two newest templates stated here, so the test holds for profiles with or without them
NEWEST_TEMPLATES = (
    "[messages.GEOMETRY_INVALID]\n"
    'zh = "地块图形无效"\n'
    'en = "the parcel geometry is invalid"\n'
    "[messages.NETWORK_NOT_PROVIDED]\n"
    'zh = "{label_zh}数据未提供"\n'
    'en = "{label_en} data not provided"\n'
)
POLICY = parse_policy('extends = "national"\n' + NEWEST_TEMPLATES)


def random_frame(
    rng: np.random.Generator, n: int, *, dem: bool = True, not_provided: bool = True
) -> pd.DataFrame:
    """Columns as ``parcel_table`` makes them, with values around every threshold."""
    gross = rng.choice([0.0, 5.0, 500.0, 10_000.0], n) * rng.uniform(0.5, 1.5, n)
    cols = {"area_m2": gross, "geometry_empty": rng.random(n) < 0.05}
    cols["geometry_invalid"] = cols["geometry_empty"] & (rng.random(n) < 0.5)
    total = np.zeros(n)
    for k in KINDS:
        v = rng.choice([0.0, 1e-9, 0.01, 0.02, 5.0, 10.0, 10.5, 300.0], n) * (rng.random(n) < 0.4)
        cols[f"excluded_{k}_m2"] = np.minimum(v, gross)
        total += cols[f"excluded_{k}_m2"]
    cols["net_available_m2"] = np.clip(gross - total, 0, None) * (rng.random(n) < 0.9)
    for k in NETS:
        d = rng.choice(
            [0.0, 30.0, 200.0, 200.0001, 1500.0, np.nan], n, p=[0.5, 0.3, 0.14, 0.02, 0.02, 0.02]
        )
        d = d * np.where(rng.random(n) < 0.1, rng.uniform(0.9, 1.1, n), 1.0)
        cols[f"dist_{k}_m"] = d
        cols[f"dist_planned_{k}_m"] = np.where(rng.random(n) < 0.5, np.nan, rng.uniform(0, 3000, n))
        status = np.where(np.isnan(d), "absent", "connectable")
        if k == "gas" and not_provided:
            status = np.full(n, "not_provided", dtype=object)
            cols[f"dist_{k}_m"] = np.full(n, np.nan)
        cols[f"net_{k}_status"] = status
    if dem:
        cols["steep_share"] = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 0.6, n))
        cols["slope_mean_deg"] = rng.uniform(0, 30, n)
    return pd.DataFrame(cols)


# ------------------------------------------------------------------ the previous per-parcel logic


def _old_reason(policy, template, *, code, severity, value, threshold, unit, basis, **fields):
    msg = policy.messages[template]
    ctx = {"value": value if value is not None else float("nan"), "threshold": threshold, **fields}
    return Reason(
        code, severity, value, threshold, unit, basis, msg.zh.format(**ctx), msg.en.format(**ctx)
    )


def old_parcel_reasons(i, t, kinds, nets, policy):
    """The implementation before the rule table (parcel by parcel), kept here as the oracle."""
    if bool(t["geometry_empty"][i]):
        code = "GEOMETRY_INVALID" if bool(t["geometry_invalid"][i]) else "GEOMETRY_EMPTY"
        msg = policy.messages[code]
        return [Reason(code, "block", None, None, "", "数据质量 / data quality", msg.zh, msg.en)]
    out = []
    gross = float(t["area_m2"][i])
    tol = policy.tolerances.sliver_m2
    for kind in kinds:
        rule = policy.rule_for(kind)
        value = float(t[f"excluded_{kind}_m2"][i])
        if value <= policy.tolerances.ignore_below_m2:
            continue
        fields = {
            "label_zh": rule.label_zh,
            "label_en": rule.label_en,
            "value_mu": value * 3.0 / 2000.0,
            "share_pct": 100.0 * value / gross if gross > 0 else 0.0,
        }
        common = {"code": rule.code, "value": value, "threshold": tol, "unit": "m2"}
        common["basis"] = rule.basis
        if rule.action == "warn":
            out.append(_old_reason(policy, "WARN_OVERLAP", severity="warn", **common, **fields))
        elif value <= tol:
            out.append(_old_reason(policy, "OVERLAP_SLIVER", severity="warn", **common, **fields))
        elif rule.action == "require_inside":
            out.append(_old_reason(policy, "OUTSIDE", severity="block", **common, **fields))
        else:
            out.append(_old_reason(policy, "OVERLAP", severity="block", **common, **fields))
    net = float(t["net_available_m2"][i])
    floor = policy.tolerances.min_net_available_m2
    if net < floor:
        out.append(
            _old_reason(
                policy,
                "NO_AVAILABLE_LAND",
                code="NO_AVAILABLE_LAND",
                severity="block",
                value=net,
                threshold=floor,
                unit="m2",
                basis="扣除三区三线等限制后无可用土地",
            )
        )
    for kind in nets:
        rule = policy.networks.get(kind)
        if rule is None or rule.requirement == "ignore":
            continue
        dist = float(t[f"dist_{kind}_m"][i])
        if not math.isnan(dist) and dist <= rule.connectable_m:
            continue
        label = {"label_zh": rule.label_zh, "label_en": rule.label_en}
        if t[f"net_{kind}_status"][i] == "not_provided":
            out.append(
                _old_reason(
                    policy,
                    "NETWORK_NOT_PROVIDED",
                    code=f"NETWORK_DATA_NOT_PROVIDED:{kind}",
                    severity=rule.requirement,
                    value=None,
                    threshold=rule.connectable_m,
                    unit="m",
                    basis=rule.basis,
                    **label,
                )
            )
            continue
        planned = float(t[f"dist_planned_{kind}_m"][i])
        if math.isnan(planned):
            pz, pe = "；亦无规划线路", "; none is planned either"
        else:
            pz = f"；规划{rule.label_zh}距 {planned:.0f} m"
            pe = f"; a planned {rule.label_en} runs {planned:.0f} m away"
        out.append(
            _old_reason(
                policy,
                "NETWORK_ABSENT" if math.isnan(dist) else "NETWORK_MISSING",
                code=f"NETWORK_MISSING:{kind}",
                severity=rule.requirement,
                value=None if math.isnan(dist) else dist,
                threshold=rule.connectable_m,
                unit="m",
                basis=rule.basis,
                planned_zh=pz,
                planned_en=pe,
                **label,
            )
        )
    terrain = policy.terrain
    if "steep_share" in t and terrain.requirement != "ignore":
        share = float(t["steep_share"][i])
        if not math.isnan(share) and share > terrain.max_steep_share:
            out.append(
                _old_reason(
                    policy,
                    "SLOPE_TOO_STEEP",
                    code="SLOPE_TOO_STEEP",
                    severity=terrain.requirement,
                    value=share,
                    threshold=terrain.max_steep_share,
                    unit="share",
                    basis=terrain.basis,
                    value_pct=100 * share,
                    threshold_pct=100 * terrain.max_steep_share,
                    limit_deg=terrain.max_slope_deg,
                    mean_deg=float(t["slope_mean_deg"][i]),
                )
            )
    return out


def old_decide(frame, policy, kinds, nets):
    t = {c: frame[c].to_numpy() for c in frame.columns}
    rows = []
    for i in range(len(frame)):
        rs = old_parcel_reasons(i, t, kinds, nets, policy)
        blocked = any(r.severity == "block" for r in rs)
        rows.append(
            {
                "transferable": not blocked,
                "verdict": "blocked"
                if blocked
                else ("transferable_with_warnings" if rs else "transferable"),
                "reasons": json.dumps([r.to_dict() for r in rs], ensure_ascii=False),
                "reason_codes": ";".join(r.code for r in rs),
                "reasons_zh": "；".join(r.message_zh for r in rs),
                "reasons_en": "; ".join(r.message_en for r in rs),
            }
        )
    return pd.DataFrame(rows, index=frame.index)


# ------------------------------------------------------------------ tests


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300), st.booleans())
def test_no_pre_filter_drops_a_row_its_builder_flags(seed, n, dem):
    cols = {
        c: v.to_numpy() for c, v in random_frame(np.random.default_rng(seed), n, dem=dem).items()
    }
    rules = rule_table(POLICY, constraint_kinds=KINDS, network_kinds=NETS)
    every = np.arange(n)
    for rule in rules:
        built = rule.build(cols, every)  # the exact test, on every row
        flagged = built.hit
        assert (
            len(built.reasons()) == n
            and sum(r is not None for r in built.reasons()) == flagged.sum()
        )
        kept = np.asarray(rule.may_apply(cols), dtype=bool)
        assert not (flagged & ~kept).any(), f"{rule.name} pre-filter drops rows it flags"


def test_every_rule_is_in_the_table_once():
    names = [r.name for r in rule_table(POLICY, constraint_kinds=KINDS, network_kinds=NETS)]
    assert len(names) == len(set(names))
    assert names[0] == "geometry" and names[-1] == "slope"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_verdicts_equal_the_per_parcel_logic(seed):
    frame = random_frame(np.random.default_rng(seed), 2000, dem=seed != 1, not_provided=seed == 2)
    got = decide(frame, POLICY, constraint_kinds=KINDS, network_kinds=NETS)
    want = old_decide(frame, POLICY, KINDS, NETS)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    every = {"transferable", "transferable_with_warnings", "blocked"}
    assert set(got["verdict"]) == (every if seed != 2 else every - {"transferable"})


def test_reason_objects_give_the_same_counts_as_the_json():
    frame = random_frame(np.random.default_rng(5), 1500)
    v = assess(frame, POLICY, constraint_kinds=KINDS, network_kinds=NETS)
    mu = frame["area_m2"].to_numpy() * 0.0015
    from_objects = reason_counts_of(v.flagged, mu)
    from_json = reason_counts(v.frame["reasons"].tolist(), mu.tolist())
    pd.testing.assert_frame_equal(from_objects, from_json, check_dtype=False)
    long = v.reason_table()
    assert len(long) == sum(len(json.loads(t)) for t in v.frame["reasons"])
    assert isinstance(v.flagged.reasons[0], Reason)


def test_empty_table():
    frame = random_frame(np.random.default_rng(1), 3).iloc[:0]
    v = apply_rules(
        {c: frame[c].to_numpy() for c in frame},
        rule_table(POLICY, constraint_kinds=KINDS, network_kinds=NETS),
    )
    assert v.n == 0 and len(v.reasons) == 0
    assert decide(frame, POLICY, constraint_kinds=KINDS, network_kinds=NETS).empty


# labels and templates a profile may hold: characters JSON escapes, a conversion, an exponent
# spec, literal braces and a nested spec (filled one by one), so that the column-wise messages
# and the Arrow-joined JSON meet the per-parcel oracle off the common path too
AWKWARD = parse_policy(
    'extends = "national"\n'
    "[constraints.red_line]\n"
    'label_zh = "红线\\"A\\"\\\\B\\n"\n'
    'label_en = "red\\tline"\n'
    "[messages.OVERLAP]\n"
    'zh = "与{label_zh!r}重叠 {value:+.3e} m²{{注}}"\n'
    'en = "overlaps {label_en} by {value:{threshold}} m²"\n'
    "[messages.NO_AVAILABLE_LAND]\n"
    'zh = "仅 {value} m²"\n'
    'en = "only {value!s:>12} m²"\n' + NEWEST_TEMPLATES
)


def test_awkward_templates_and_labels_equal_the_per_parcel_logic():
    frame = random_frame(np.random.default_rng(7), 1500)
    net = frame["net_available_m2"].to_numpy().copy()
    net[::7] = -0.0  # json.dumps writes -0.0; distinct from 0.0 wherever numbers are shared
    frame["net_available_m2"] = net
    got = decide(frame, AWKWARD, constraint_kinds=KINDS, network_kinds=NETS)
    want = old_decide(frame, AWKWARD, KINDS, NETS)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    texts = " ".join(got["reasons"])
    assert '\\"A\\"' in texts and "\\\\B\\n" in texts and "red\\tline" in texts
    assert '"value": -0.0' in texts and "{注}" in texts
    for text in got["reasons"]:
        for r in json.loads(text):  # the JSON parses back to the messages
            assert isinstance(r["message_zh"], str)
