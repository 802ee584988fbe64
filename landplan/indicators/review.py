"""The land-efficiency loop (动态评估—退出—再配置): parcels to reclaim or reallocate, park ranking.

Findings, one row per parcel and source (``review.csv``):

* **idle land** (:func:`landplan.store.lifecycle_rules.detect_idle`, as of 31 December of the
  review year): ``IDLE_NOT_STARTED_2Y`` → ``reclaim`` (无偿收回, back into supply);
  ``IDLE_NOT_STARTED_1Y`` / ``IDLE_HALTED`` → ``idle_fee`` (征缴闲置费, 督促动工; not supply yet);
* **达产复核 shortfalls**: the latest ``output_check`` audit row of a parcel that failed, unless a
  later check passed (state ``output_verified``) → ``reallocate`` (按合同约定追责，整改不到位的
  收回再配置), with the failed indicators as reasons;
* **D-class firms** (the worst 亩均 class of :func:`landplan.indicators.mujun.evaluate`, firms
  with a ``parcel_id``) → ``reallocate`` (腾笼换鸟, 倒逼整治或退出).

Rows with ``reclaim`` or ``reallocate`` are *supply*: ``reclaim.csv`` (``parcel_id, area_mu,
available_year`` = review year + 1, ``source``) feeds ``landplan plan --reclaimed`` and
``landplan match --reclaimed``, flagged there.

Park ranking (``parks.csv``): per park (the firms' ``park`` column, else the 片区 of their parcel),
tax, revenue and value added per 亩 of the firms' land and the mean 亩均 score, ranked by tax per
亩 (then revenue per 亩).  The *leading industries* of a park are the fewest GB/T 4754 divisions
(first two digits of ``industry_code``) that together hold ≥ ``leading_share`` (70 %) of its
firms' revenue; the check passes with ≤ ``max_leading`` (3) of them (云南省工业园区"一园一主业、
主导产业不超过 3 个").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from landplan.indicators.tables import normalize_industry_code
from landplan.store.lifecycle_rules import detect_idle

MAX_LEADING = 3
LEADING_SHARE = 0.70
BASIS = {
    "idle": "《闲置土地处置办法》（国土资源部令第53号，2012）",
    "output": "出让合同 / 投资建设协议约定指标（达产复核）；云南省工业园区标准地行动方案（2026）动态评估—退出—再配置",
    "mujun": "亩均效益综合评价（D 类：倒逼整治、腾笼换鸟）",
    "leading": "云南省工业园区行动方案（2026）：园区主导产业不超过 3 个",
}
ACTION_ZH = {
    "reclaim": "收回",
    "reallocate": "再配置",
    "idle_fee": "征缴闲置费",
    "check_data": "补充数据",
}
SUPPLY_ACTIONS = ("reclaim", "reallocate")
COLUMNS = ["parcel_id", "source", "action", "action_zh", "code", "reason_zh", "reason_en",
           "basis", "area_mu", "zone", "firm_id", "supply", "available_year"]  # fmt: skip


@dataclass(frozen=True)
class Review:
    """``findings`` (review.csv), ``supply`` (reclaim.csv), ``parks`` (ranking), notes."""

    findings: pd.DataFrame
    supply: pd.DataFrame
    parks: pd.DataFrame
    notes: tuple[str, ...]


def output_shortfalls(audit: pd.DataFrame, entries: pd.DataFrame, /) -> pd.DataFrame:
    """Parcels whose latest 达产复核 failed: ``parcel_id, at, reasons_zh, reasons_en, codes``."""
    rows = []
    if audit is None or len(audit) == 0:
        return pd.DataFrame(columns=["parcel_id", "at", "reasons_zh", "reasons_en", "codes"])
    state = dict(zip(entries["parcel_id"].astype(str), entries["state"], strict=True))
    checks = {}
    for _, r in audit.iterrows():  # oldest first: the last one wins
        after = json.loads(r["after"] or "{}")
        check = after.get("check") if isinstance(after, dict) else None
        if isinstance(check, dict) and "passed" in check:
            checks[str(r["parcel_id"])] = (r["at"], check)
    for pid, (at, check) in sorted(checks.items()):
        if check["passed"] or state.get(pid) == "output_verified":
            continue
        reasons = check.get("reasons", [])
        rows.append({
            "parcel_id": pid, "at": at,
            "reasons_zh": "；".join(x["message_zh"] for x in reasons),
            "reasons_en": "; ".join(x["message_en"] for x in reasons),
            "codes": ";".join(x["code"] for x in reasons),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["parcel_id", "at", "reasons_zh", "reasons_en", "codes"])


def efficiency_review(
    parcels: pd.DataFrame,
    /,
    *,
    year: int,
    entries: pd.DataFrame | None = None,
    audit: pd.DataFrame | None = None,
    firms: pd.DataFrame | None = None,
    preset="huaian-2024",
    zone_field: str = "QY",
    area_field: str = "area_mu",
    max_leading: int = MAX_LEADING,
    leading_share: float = LEADING_SHARE,
) -> Review:
    """Review the parcels of a workspace for the year (see the module docstring)."""
    notes: list[str] = []
    ids = parcels["parcel_id"].astype(str)
    area = dict(zip(ids, pd.to_numeric(parcels.get(area_field, parcels.get("net_available_mu")),
                                       errors="coerce"), strict=True))  # fmt: skip
    zone = (
        dict(zip(ids, parcels[zone_field].astype(str), strict=True))
        if zone_field in parcels
        else {}
    )
    rows: list[dict] = []
    entries = entries if entries is not None else pd.DataFrame(columns=["parcel_id", "state"])
    if len(entries):
        idle = detect_idle(entries, as_of=date(year, 12, 31))
        for _, r in idle.iterrows():
            action = str(r["action"]).split(" ")[0]
            rows.append(_row(r["parcel_id"], "idle", action, r["rule"], r["reasons_zh"],
                             r["reasons_en"], BASIS["idle"]))  # fmt: skip
        short = output_shortfalls(audit, entries)
        for _, r in short.iterrows():
            rows.append(_row(r["parcel_id"], "output", "reallocate", r["codes"], r["reasons_zh"],
                             r["reasons_en"], BASIS["output"]))  # fmt: skip
    else:
        notes.append("the register is empty: no idle-land or 达产复核 findings")
    parks = pd.DataFrame()
    if firms is not None and len(firms):
        from landplan.indicators.mujun import evaluate

        res = evaluate(firms, preset=preset)
        worst = res.preset.classes.labels[-1]
        out = res.firms.set_index("firm_id")
        fin = firms.assign(firm_id=firms["firm_id"].astype(str)).set_index("firm_id")
        for fid in out.index[out["class"] == worst]:
            pid = str(fin.at[fid, "parcel_id"]) if "parcel_id" in fin.columns else ""
            if not pid or pid == "nan":
                notes.append(f"firm {fid} is class {worst} but has no parcel_id: not listed")
                continue
            s = out.at[fid, "score"]
            rows.append(_row(pid, "mujun", "reallocate", f"MUJUN_CLASS_{worst}",
                             f"亩均效益评价 {worst} 类（得分 {s:.2f}），倒逼整治或退出",
                             f"亩均 class {worst} (score {s:.2f}): improve or exit", BASIS["mujun"],
                             firm_id=str(fid)))  # fmt: skip
        parks = park_ranking(firms, res.firms, zone, max_leading=max_leading,
                             leading_share=leading_share)  # fmt: skip
    else:
        notes.append("no firms table: no 亩均 classes, park ranking or leading-industries check")
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("area_mu", "zone", "supply",
                                                                     "available_year")])  # fmt: skip
    df["area_mu"] = [area.get(p, np.nan) for p in df["parcel_id"]]
    df["zone"] = [zone.get(p, "") for p in df["parcel_id"]]
    unknown = sorted(set(df["parcel_id"]) - set(ids))
    if unknown:
        notes.append(
            f"{len(unknown)} parcels of the register/firms are not in the workspace: {unknown[:5]}"
        )
    df["supply"] = df["action"].isin(SUPPLY_ACTIONS)
    df["available_year"] = np.where(df["supply"], year + 1, 0)
    df = df[COLUMNS].sort_values(["supply", "source", "parcel_id"], ascending=[False, True, True])
    df = df.reset_index(drop=True)
    sup = df[df["supply"]].groupby("parcel_id", as_index=False).agg(
        area_mu=("area_mu", "first"), available_year=("available_year", "first"),
        source=("source", lambda s: ";".join(sorted(set(s)))), zone=("zone", "first"),
    )  # fmt: skip
    return Review(df, sup, parks, tuple(notes))


def _row(pid, source, action, code, zh, en, basis, *, firm_id="") -> dict:
    return {"parcel_id": str(pid), "source": source, "action": action,
            "action_zh": ACTION_ZH.get(action, action), "code": code, "reason_zh": zh,
            "reason_en": en, "basis": basis, "firm_id": firm_id}  # fmt: skip


def leading_industries(
    revenue_by_division: pd.Series, /, *, share: float = LEADING_SHARE
) -> list[str]:
    """The fewest divisions (largest revenue first) that together hold ≥ ``share`` of revenue."""
    s = revenue_by_division[revenue_by_division > 0].sort_values(ascending=False, kind="stable")
    if s.sum() <= 0:
        return []
    cum = s.cumsum() / s.sum()
    k = int(np.searchsorted(cum.to_numpy(), share - 1e-12) + 1)
    return [str(x) for x in s.index[:k]]


def park_ranking(
    firms: pd.DataFrame, graded: pd.DataFrame, zone: dict[str, str], /, *,
    max_leading: int = MAX_LEADING, leading_share: float = LEADING_SHARE,
) -> pd.DataFrame:  # fmt: skip
    """Parks ranked by 亩均 tax (then revenue) with the leading-industries check."""
    f = firms.copy()
    f["firm_id"] = f["firm_id"].astype(str)
    if "park" in f.columns:
        park = f["park"].astype(str)
    elif "parcel_id" in f.columns:
        park = f["parcel_id"].astype(str).map(zone).fillna("(none)")
    else:
        park = pd.Series("all", index=f.index)
    f["park_"] = park
    score = graded.set_index(graded["firm_id"].astype(str))["score"]
    f["score_"] = f["firm_id"].map(score)
    for c in ("land_area_mu", "tax_wan", "revenue_wan", "value_added_wan"):
        f[c] = pd.to_numeric(f[c], errors="coerce") if c in f.columns else np.nan
    if "industry_code" in f.columns:
        f["division"] = [(normalize_industry_code(c) or "")[:2] for c in f["industry_code"]]
    rows = []
    for p, g in f.groupby("park_", sort=True):
        land = g["land_area_mu"].sum()
        row = {
            "park": p, "firms": len(g), "land_area_mu": land,
            "tax_wan_per_mu": g["tax_wan"].sum(min_count=1) / land if land else np.nan,
            "revenue_wan_per_mu": g["revenue_wan"].sum(min_count=1) / land if land else np.nan,
            "value_added_wan_per_mu": g["value_added_wan"].sum(min_count=1) / land if land else np.nan,
            "mean_score": g["score_"].mean(),
        }  # fmt: skip
        if "division" in g.columns:
            rev = g[g["division"] != ""].groupby("division")["revenue_wan"].sum()
            lead = leading_industries(rev, share=leading_share)
            row["leading_industries"] = ";".join(lead)
            row["n_leading"] = len(lead)
            row["leading_ok"] = bool(lead) and len(lead) <= max_leading
            row["leading_check_zh"] = (
                f"主导产业 {len(lead)} 个（{'、'.join(lead)}，合计营业收入占比 ≥ {leading_share:.0%}）"
                + ("，符合不超过 3 个的要求" if row["leading_ok"] else f"，超过 {max_leading} 个")
            )  # fmt: skip
        else:
            row.update(leading_industries="", n_leading=np.nan, leading_ok=np.nan,
                       leading_check_zh="缺少 industry_code，无法判断主导产业")  # fmt: skip
        rows.append(row)
    out = pd.DataFrame(rows)
    out = out.sort_values(
        ["tax_wan_per_mu", "revenue_wan_per_mu"], ascending=False, na_position="last"
    )
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["basis"] = BASIS["leading"]
    return out.reset_index(drop=True)
