"""Rules of the lifecycle register: idle land (闲置土地) and output verification (达产复核).

Pure functions over register rows; :mod:`landplan.store.register` stores and audits, this module judges.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from landplan.core.errors import DataSourceError, RegisterError
from landplan.core.reasons import Reason


def parse_date(value, /, *, name: str = "date") -> date:
    """A ``date`` from a date, a datetime or ``YYYY-MM-DD`` text; :class:`RegisterError` otherwise."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise RegisterError(
            f"{name} = {value!r} is not a date; write it as YYYY-MM-DD (e.g. 2024-03-01)"
        ) from None


# ----------------------------------------------------------------------------- idle land

IDLE_FEE_RATE = 0.20
HALTED_AREA_SHARE = 1.0 / 3.0
HALTED_INVEST_SHARE = 0.25
_DAY = timedelta(days=1)
_IDLE = "《闲置土地处置办法》（国土资源部令第53号，2012）第二条"
_FEE = "《闲置土地处置办法》（2012）：未动工开发满一年，按出让价款的20%征缴土地闲置费"
_RECLAIM = "《闲置土地处置办法》（2012）：未动工开发满两年，无偿收回国有建设用地使用权"
_PERIOD = "期间按《民法典》第二百零一、二百零二条计算（起算日不计入；无对应日取月末日）"
#: code → (severity, basis, message_zh, message_en); the messages are ``str.format`` templates
IDLE_RULES = {
    "IDLE_NOT_STARTED_1Y": (
        "block",
        f"{_IDLE}；{_FEE}；{_PERIOD}",
        "超过约定动工日期 {start} 满一年未动工（逾期 {late} 天），认定为闲置土地，征缴土地闲置费（出让价款的 20%）",
        "not started one full year after the agreed start date {start} ({late} days late): "
        "idle land, idle fee of 20% of the land price",
    ),
    "IDLE_NOT_STARTED_2Y": (
        "block",
        f"{_RECLAIM}；{_PERIOD}",
        "超过约定动工日期 {start} 满两年未动工（逾期 {late} 天），可无偿收回",
        "not started two full years after the agreed start date {start} ({late} days late): "
        "candidate for reclamation without compensation",
    ),
    "IDLE_HALTED": (
        "block",
        f"{_IDLE}；{_FEE}；{_PERIOD}",
        "已动工但开发面积占比 {area}（< 1/3）或投资占比 {invest}（< 25%），自 {halted} 中止开发满一年，认定为闲置土地",
        "started, but developed area {area} (< 1/3) or investment {invest} (< 25%), and halted "
        "since {halted} for a full year: idle land",
    ),
    "IDLE_DATA_MISSING": (
        "warn",
        _IDLE,
        "缺少{what_zh}，无法判定",
        "no {what_en} recorded: cannot assess",
    ),
}
ACTIONS = {
    "IDLE_NOT_STARTED_2Y": "reclaim 无偿收回（候选）",
    "IDLE_NOT_STARTED_1Y": "idle_fee 征缴闲置费",
    "IDLE_HALTED": "idle_fee 征缴闲置费",
    "IDLE_DATA_MISSING": "check_data 补充数据",
}
IDLE_COLUMNS = (
    "parcel_id",
    "state",
    "agreed_start_date",
    "days_late",
    "days_halted",
    "rule",
    "fee_wan",
    "action",
    "idle_from",
    "reclaim_from",
    "reasons",
    "reasons_zh",
    "reasons_en",
)


def add_years(d: date, years: int, /) -> date:
    """The same day ``years`` later; 29 February → 28 February when the target year has none.

    《民法典》 第二百零二条: a period counted in years ends on the corresponding day of the
    last year, or on the last day of that month when there is no corresponding day.
    """
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February in a common year
        return d.replace(year=d.year + years, day=28)


def full_years_elapsed(start: date, as_of: date, years: int, /) -> bool:
    """Whether ``years`` full years have run from ``start`` by the end of ``as_of``.

    The start day does not count (《民法典》 第二百零一条) and the last day is the
    corresponding day (第二百零二条), which ends at 24:00, so the period is complete from
    the day after it: start 2023-03-01 → complete on 2024-03-02; start 2024-02-29 → last
    day 2025-02-28, complete on 2025-03-01.  Holiday extension (第二百零三条) is not applied.
    """
    return as_of > add_years(start, years)


def _reason(code: str, value=None, threshold=None, unit: str = "d", **fmt):

    severity, basis, zh, en = IDLE_RULES[code]
    return Reason(code, severity, value, threshold, unit, basis, zh.format(**fmt), en.format(**fmt))


def _missing(what_zh: str, what_en: str):
    return _reason("IDLE_DATA_MISSING", unit="", what_zh=what_zh, what_en=what_en)


def _num(v) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def _pct(v) -> str:
    return "n.a." if v is None else f"{100 * v:.1f}%"


def _idle_row(r: Mapping, as_of: date) -> dict | None:
    """Findings for one register row (``None`` when there is nothing to report)."""
    if r["state"] not in ("transferred", "started", "idle"):
        return None
    out = dict.fromkeys(IDLE_COLUMNS)
    out.update(parcel_id=r["parcel_id"], state=r["state"])
    reasons = []
    if _blank(r.get("started_on")):
        if _blank(r.get("agreed_start_date")):
            reasons.append(_missing("约定动工日期", "agreed start date"))
        else:
            start = parse_date(r["agreed_start_date"])
            late = (as_of - start).days
            y1, y2 = add_years(start, 1), add_years(start, 2)
            out.update(agreed_start_date=start.isoformat(), days_late=late)
            out.update(idle_from=(y1 + _DAY).isoformat(), reclaim_from=(y2 + _DAY).isoformat())
            for code, end, n in (("IDLE_NOT_STARTED_1Y", y1, 1), ("IDLE_NOT_STARTED_2Y", y2, 2)):
                if full_years_elapsed(start, as_of, n):
                    reasons.append(_reason(code, late, (end - start).days, start=start, late=late))
    elif not _blank(r.get("halted_since")):
        halted = parse_date(r["halted_since"])
        days = (as_of - halted).days
        area, invest = _num(r.get("developed_area_share")), _num(r.get("invested_share"))
        out.update(days_halted=days, idle_from=(add_years(halted, 1) + _DAY).isoformat())
        low = (area is not None and area < HALTED_AREA_SHARE) or (
            invest is not None and invest < HALTED_INVEST_SHARE
        )
        if area is None and invest is None:
            reasons.append(
                _missing("开发面积或投资比例（已停工）", "developed-area or invested share")
            )
        elif low and full_years_elapsed(halted, as_of, 1):
            end = (add_years(halted, 1) - halted).days
            fmt = {"area": _pct(area), "invest": _pct(invest), "halted": halted}
            reasons.append(_reason("IDLE_HALTED", days, end, **fmt))
    if not reasons:
        return None
    blocks = [x.code for x in reasons if x.severity == "block"]
    price = _num(r.get("land_price_wan"))
    if blocks and price is None:
        reasons.append(_missing("出让价款，无法计算土地闲置费", "land price (idle fee)"))
    rule = blocks[-1] if blocks else "IDLE_DATA_MISSING"
    out.update(rule=rule, action=ACTIONS[rule])
    out["fee_wan"] = price * IDLE_FEE_RATE if blocks and price is not None else None
    out["reasons"] = json.dumps([x.to_dict() for x in reasons], ensure_ascii=False)
    out["reasons_zh"] = "；".join(x.message_zh for x in reasons)
    out["reasons_en"] = "; ".join(x.message_en for x in reasons)
    return out


def _blank(v) -> bool:
    return v is None or (not isinstance(v, str) and pd.isna(v)) or (isinstance(v, str) and not v)


def detect_idle(entries: pd.DataFrame, /, *, as_of: date | str | None = None) -> pd.DataFrame:
    """Idle-land findings (闲置土地认定) for register rows, as of a date (default today).

    Rules (《闲置土地处置办法》, 2012; DOMAIN.md §1.5 and §11):

    - transferred (or idle) and not started one full year after ``agreed_start_date`` →
      ``IDLE_NOT_STARTED_1Y``, ``fee_wan`` = 20 % of ``land_price_wan``;
    - two full years → also ``IDLE_NOT_STARTED_2Y``: candidate for 无偿收回 (``rule`` is
      the most severe code; ``fee_wan`` still shows the 20 % fee of the first year);
    - started, ``developed_area_share`` < 1/3 or ``invested_share`` < 25 %, and halted
      (``halted_since``) one full year → ``IDLE_HALTED`` with the 20 % fee;
    - a missing date, share or price → an ``IDLE_DATA_MISSING`` warning, never a guess.

    "One full year" is :func:`full_years_elapsed`.  Returns one row per parcel with a
    finding (:data:`IDLE_COLUMNS`; ``reasons`` a JSON array of
    :class:`landplan.analysis.transfer.Reason` dicts).  Delays the government caused (净地 not
    delivered), which the measure excludes, are not recorded: the bureau checks them.
    """
    day = parse_date(as_of if as_of is not None else date.today(), name="as_of")
    rows = [x for r in entries.to_dict("records") if (x := _idle_row(r, day)) is not None]
    return pd.DataFrame(rows, columns=list(IDLE_COLUMNS))


# ----------------------------------------------------------------------------- 达产复核

#: indicators where a higher actual value is worse (energy use per unit)
DEFAULT_LOWER_IS_BETTER = frozenset({"energy_tce_per_wan", "energy_tce_per_mu"})


@dataclass(frozen=True)
class OutputCheck:
    """达产复核 result: per-indicator table, pass/fail and the reasons for a fail."""

    passed: bool
    table: pd.DataFrame
    reasons: tuple

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "indicators": json.loads(self.table.to_json(orient="records", force_ascii=False)),
            "reasons": [r.to_dict() for r in self.reasons],
        }


def verify_output(
    committed: Mapping[str, float],
    actual: Mapping[str, float],
    /,
    *,
    tolerance_pct: float = 0.0,
    lower_is_better: frozenset[str] | set[str] = DEFAULT_LOWER_IS_BETTER,
) -> OutputCheck:
    """Compare committed indicators (投资建设协议) with actual ones (达产复核).

    ``shortfall`` = committed − actual (actual − committed for ``lower_is_better``
    indicators), ``shortfall_pct`` = shortfall ÷ committed × 100; an indicator fails when
    ``shortfall_pct`` > ``tolerance_pct``, or when no actual value is given.  Reasons:
    ``OUTPUT_SHORTFALL:<indicator>`` and ``OUTPUT_NOT_REPORTED:<indicator>``.  Sanctions
    for a shortfall are local contract clauses (DOMAIN.md §1.5, [U]) and not applied here.
    """

    if not committed:
        raise RegisterError(
            "no committed indicators to check against; set them with "
            "--set committed.tax_wan_per_mu=... when recording the transfer"
        )
    basis = "出让合同 / 投资建设协议约定指标（达产复核）"
    rows, reasons = [], []
    for name, target in committed.items():
        target = float(target)
        value = actual.get(name)
        value = None if value is None or pd.isna(value) else float(value)
        lower = name in lower_is_better
        if value is None:
            rows.append((name, target, None, None, None, False))
            reasons.append(
                Reason(
                    f"OUTPUT_NOT_REPORTED:{name}",
                    "block",
                    None,
                    target,
                    name,
                    basis,
                    f"{name} 未提供实际值，无法复核（约定 {target:g}）",
                    f"no actual value for {name} (committed {target:g})",
                )
            )
            continue
        short = (value - target) if lower else (target - value)
        pct = 100.0 * short / target if target else (0.0 if short <= 0 else float("inf"))
        ok = pct <= tolerance_pct
        rows.append((name, target, value, short, pct, ok))
        if not ok:
            reasons.append(
                Reason(
                    f"OUTPUT_SHORTFALL:{name}",
                    "block",
                    value,
                    target,
                    name,
                    basis,
                    f"{name} 实际 {value:g}，约定 {target:g}，差 {short:g}（{pct:.1f}%）",
                    f"{name}: actual {value:g} against committed {target:g}, short by "
                    f"{short:g} ({pct:.1f}%)",
                )
            )
    extra = sorted(set(actual) - set(committed))
    table = pd.DataFrame(
        rows, columns=["indicator", "committed", "actual", "shortfall", "shortfall_pct", "passed"]
    )
    table.attrs["not_committed"] = extra
    return OutputCheck(not reasons, table, tuple(reasons))


def read_actuals(path: str | Path, /, *, parcel_id: str | None = None) -> dict[str, float]:
    """Actual indicators from a CSV: long (``indicator,value``) or wide (one column per
    indicator, with a ``parcel_id`` column when it holds several parcels)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype={"parcel_id": str}, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataSourceError(f"cannot read the actual indicators {path}: {exc}") from exc
    if {"indicator", "value"} <= set(df.columns):
        if parcel_id is not None and "parcel_id" in df.columns:
            df = df[df["parcel_id"] == str(parcel_id)]
        return {str(k): float(v) for k, v in zip(df["indicator"], df["value"], strict=True)}
    if "parcel_id" in df.columns:
        df = df[df["parcel_id"] == str(parcel_id)] if parcel_id is not None else df
        df = df.drop(columns="parcel_id")
    if len(df) != 1:
        raise RegisterError(
            f"{path.name}: expected one row of actual indicators for parcel {parcel_id}, found "
            f"{len(df)}; use columns indicator,value or parcel_id plus one column per indicator"
        )
    try:
        return {str(k): float(v) for k, v in df.iloc[0].items() if not pd.isna(v)}
    except ValueError as exc:
        raise RegisterError(f"{path.name}: actual indicators must be numbers ({exc})") from exc
