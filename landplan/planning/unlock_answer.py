"""The answer layer of :mod:`landplan.planning.unlock`: the full plan at a budget and the sentences.

``unlock_plan`` builds candidates, ranks them, prunes redundant segments, compares with the MILP
optimum where it is small enough, and phrases the answer in Chinese and English.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from geopandas import GeoDataFrame

from landplan.core.errors import InputTableError
from landplan.core.policy import Policy
from landplan.planning.unlock import (
    FOCUS_VALUE,
    MILP_MAX_ATOMS,
    Candidates,
    Ranking,
    build_candidates,
    curve,
    focus_column,
    greedy_rank,
    optimality_gaps,
    prune_plan,
    ranking_table,
)

# --------------------------------------------------------------------------- the answer


@dataclass(frozen=True)
class UnlockResult:
    """A full answer: candidates, the ranking table, the curve, the plan at a budget, the sentences."""

    candidates: Candidates
    full: Ranking
    table: pd.DataFrame
    curve: pd.DataFrame
    chosen: Ranking
    parcels: pd.DataFrame
    gaps: pd.DataFrame | None
    baseline_mu: float
    focus_label: str | None
    focus_baseline_mu: float
    focus_mu: float
    sentence_zh: str
    sentence_en: str
    notes: tuple[str, ...]


def unlock_plan(
    parcels: GeoDataFrame,
    networks: GeoDataFrame | None,
    policy: Policy,
    /,
    *,
    budget_wan: float | None = None,
    scope: tuple[str, str] | None = None,
    cost_field: str | None = None,
    cost=None,
    milp_max_atoms: int = MILP_MAX_ATOMS,
) -> UnlockResult:
    """Rank investments, pick the plan at ``budget_wan`` (all that unlocks land when ``None``).

    ``scope = (column, value)`` restricts the parcels counted (e.g. ``("ZT", "标准地")``); without
    it, a text column holding 标准地 is used to report the standard-land share.  The MILP
    comparison runs when the atoms are at most ``milp_max_atoms``.
    """
    mask = None
    if scope is not None:
        col, val = scope
        if col not in parcels.columns:
            raise InputTableError(
                f"scope column {col!r} is not a parcel column; see {list(parcels.columns)[:20]}"
            )
        mask = (parcels[col].astype(str) == val).to_numpy()
    cands = build_candidates(
        parcels, networks, policy, scope=mask, cost_field=cost_field, cost=cost
    )
    transferable = parcels["transferable"].to_numpy(dtype=bool)
    net_mu = parcels["net_available_mu"].to_numpy(dtype=float)
    inside = np.ones(len(parcels), bool) if mask is None else mask
    baseline = float(net_mu[transferable & inside].sum())
    fcol = None if scope is not None else focus_column(parcels)
    focus = None if fcol is None else (parcels[fcol].astype(str) == FOCUS_VALUE).to_numpy()
    full = greedy_rank(cands)
    chosen = full if budget_wan is None else greedy_rank(cands, budget_wan=budget_wan)
    notes = list(cands.notes)
    gaps = None
    useful = int((np.diff(cands.serves.indptr) > 0).sum())
    if useful <= milp_max_atoms and full.cost_wan > 0:
        gaps = optimality_gaps(cands, full)
    elif full.cost_wan > 0:
        notes.append(f"optimality gap skipped: {useful} candidate atoms > {milp_max_atoms}")
    rows = cands.eligible["row"].to_numpy()
    fmu, fbase = 0.0, 0.0
    if focus is not None:
        fbase = float(net_mu[transferable & focus].sum())
        fmu = float(cands.eligible["mu"].to_numpy()[(chosen.unlocked_at > 0) & focus[rows]].sum())
    ptable = cands.eligible.assign(
        missing=[",".join(m) for m in cands.eligible["missing"]],
        unreachable_kinds=[",".join(m) for m in cands.eligible["unreachable_kinds"]],
        unlocked_at_rank=full.unlocked_at,
        chosen=chosen.unlocked_at > 0,
    )
    label = scope[1] if scope is not None else None
    zh, en = answer_sentences(chosen, budget_wan=budget_wan, cands=cands, label=label,
                              focus=(fcol is not None, fbase, fmu), baseline_mu=baseline)  # fmt: skip
    kept, kept_cost = prune_plan(cands, chosen)
    n_chosen = int(sum(len(a) for a in chosen.steps["atoms"])) if len(chosen.steps) else 0
    if len(chosen.steps) and kept_cost < chosen.cost_wan - 0.05:
        zh += f"；其中 {n_chosen - len(kept)} 段为冗余，只建其余 {len(kept)} 段（{kept_cost:,.1f} 万元）即可达到同样效果"
        en += (f"; {n_chosen - len(kept)} of them are redundant: the other {len(kept)} "
               f"({kept_cost:,.1f} 万元) unlock the same land")  # fmt: skip
        notes.append(
            f"pruned plan: {len(kept)} segments, {kept_cost:,.1f} 万元 (greedy {chosen.cost_wan:,.1f})"
        )
    best = _exact_cheaper(gaps, chosen, kept_cost)
    if best is not None:
        zh += f"；精确优化（MILP）找到更省的方案：同样 {best[0]:,.2f} 亩只需 {best[1]:,.1f} 万元（见 optimality 表）"
        en += f"; the exact optimum (MILP) unlocks the same {best[0]:,.2f} mu for {best[1]:,.1f} 万元 (see the optimality sheet)"
    return UnlockResult(
        cands, full, ranking_table(cands, full, policy), curve(full, baseline_mu=baseline), chosen,
        ptable, gaps, baseline, FOCUS_VALUE if fcol else None, fbase, fmu, zh, en, tuple(notes),
    )  # fmt: skip


def _exact_cheaper(
    gaps: pd.DataFrame | None, chosen: Ranking, cost_wan: float
) -> tuple[float, float] | None:
    """(亩, 万元) of the MILP plan at the chosen budget when it unlocks as much for clearly less."""
    if gaps is None or len(gaps) == 0 or len(chosen.steps) == 0:
        return None
    target = chosen.budget_wan if math.isfinite(chosen.budget_wan) else chosen.cost_wan
    row = gaps.iloc[int((gaps["budget_wan"] - target).abs().argmin())]
    if abs(row["budget_wan"] - target) > 1e-6:
        return None  # the MILP was not run at this budget
    if row["optimal_mu"] >= chosen.mu - 1e-6 and row["optimal_cost_wan"] < cost_wan - 0.05:
        return float(row["optimal_mu"]), float(row["optimal_cost_wan"])
    return None


_EN_LABEL = {"标准地": "standard land"}


def answer_sentences(
    chosen: Ranking, /, *, budget_wan: float | None, cands: Candidates, label: str | None = None,
    focus: tuple[bool, float, float] = (False, 0.0, 0.0), baseline_mu: float = 0.0,
) -> tuple[str, str]:  # fmt: skip
    """The answer in Chinese and English."""
    what_zh = label or "土地"
    what_en = f" of {_EN_LABEL.get(label, label)}" if label else ""
    if len(cands.eligible) == 0:
        return (
            f"没有仅因管网缺失而不可出让的{what_zh}，无需新建管网/道路",
            f"No parcel{what_en} is blocked by missing networks alone; there is nothing to unlock",
        )
    if len(chosen.steps) == 0:
        cheapest = _cheapest_useful(cands)
        if budget_wan is not None and cheapest is not None:
            return (
                f"预算 {budget_wan:,.1f} 万元不足以建设任何一段（能新增可出让{what_zh}的最小投资需 "
                f"{cheapest:,.1f} 万元），可出让{what_zh}不增加",
                f"A budget of {budget_wan:,.1f} 万元 buys no segment (the cheapest investment that "
                f"unlocks land{what_en} costs {cheapest:,.1f} 万元); no more land becomes transferable",
            )
        return (
            f"规划管网/道路及外延均不能使{what_zh}变为可出让",
            f"No planned segment or extension makes any land{what_en} transferable",
        )
    n = int(sum(len(a) for a in chosen.steps["atoms"]))
    x, y = chosen.cost_wan, chosen.mu
    zh = f"建设以下 {n} 段管网/道路（{x:,.1f} 万元）可新增可出让{what_zh} {y:,.2f} 亩"
    en = f"Build these {n} segments for {x:,.1f} 万元 and {y:,.2f} more mu{what_en} becomes transferable"
    zh += f"（可出让由 {baseline_mu:,.2f} 亩增至 {baseline_mu + y:,.2f} 亩）"
    en += f" ({baseline_mu:,.2f} → {baseline_mu + y:,.2f} mu)"
    has, fbase, fmu = focus
    if has:
        zh += f"，其中标准地 {fmu:,.2f} 亩（标准地可出让由 {fbase:,.2f} 亩增至 {fbase + fmu:,.2f} 亩）"
        en += f", {fmu:,.2f} mu of it standard land (标准地 {fbase:,.2f} → {fbase + fmu:,.2f} mu)"
    return zh, en


def _cheapest_useful(c: Candidates) -> float | None:
    full = greedy_rank(c)
    if len(full.steps) == 0:
        return None
    cheapest = math.inf
    for p in range(len(c.eligible)):  # cheapest way to unlock one parcel: its cheapest atoms
        q = np.flatnonzero(c.pair_parcel == p)
        if len(q) == 0:
            continue
        cost = 0.0
        for pair in q:
            a = c.serves[:, pair].nonzero()[0]
            cost += c.atoms["cost_wan"].to_numpy()[a].min() if len(a) else math.inf
        cheapest = min(cheapest, cost)
    return cheapest if math.isfinite(cheapest) else None
