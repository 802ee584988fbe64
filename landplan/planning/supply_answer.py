"""The answer layer of :mod:`landplan.planning.supply_plan`: the gap to the target and the sentence.

The sentence reads the plan table's last row (cumulative 亩 and share) and, when the target is
missed, splits the gap into what networks can close (at the least cost of doing so: the
min-cost plan with one unlimited year and no lead time, so money and timing are not the limit)
and what is blocked by other reasons (red line, farmland, …), which no network investment closes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from landplan.planning.supply_plan import (
    MILP_MAX_VARS,
    PlanProblem,
    SupplyPlan,
    _last_mu,
    solve_milp,
)
from landplan.planning.unlock import greedy_rank

_EN_LABEL = {"标准地": "standard land"}


@dataclass(frozen=True)
class Gap:
    """The target in 亩, what the plan reaches, the gap, and how much of it networks can close."""

    target_mu: float
    reached_mu: float
    gap_mu: float
    closable_mu: float
    other_mu: float
    need_cost_wan: float  # least cost to unlock closable_mu more than the baseline (NaN: none)
    extra_wan: float  # need_cost_wan − the usable budget (≥ 0)
    exact: bool


def _unlimited(pb: PlanProblem) -> PlanProblem:
    total = float(pb.cands.atoms["cost_wan"].sum()) + 1.0
    return dataclasses.replace(
        pb, years=(pb.years[-1],), budgets=np.array([total]), lead=0, carry_over=True
    )


def gap_to_target(plan: SupplyPlan, /, *, time_limit_s: float = 30.0) -> Gap:
    """See the module docstring; ``need_cost_wan`` is exact (MILP) on small problems, else greedy."""
    pb = plan.problem
    last = plan.table.iloc[-1]
    target = plan.target_share * pb.total_mu
    reached = float(last["cumulative_transferable_mu"])
    gap = max(target - reached, 0.0)
    if gap <= 1e-6:
        return Gap(target, reached, 0.0, 0.0, 0.0, math.nan, 0.0, True)
    free = _unlimited(pb)
    everything = np.where(free.buildable, free.years[0], -1)
    max_unlock = _last_mu(free, everything)
    done = float(pb.cands.eligible["mu"].to_numpy()[plan.parcels["unlocked_year"].to_numpy()[
        : len(pb.cands.eligible)] > 0].sum())  # fmt: skip
    closable = min(gap, max(max_unlock - done, 0.0))
    other = gap - closable
    need_mu = done + closable  # unlocked 亩 (beyond the baseline) the target needs from networks
    cost, exact = math.nan, True
    if closable > 1e-6:
        if len(free.cands.atoms) <= MILP_MAX_VARS:
            f, _, _, _ = solve_milp(
                free, objective="min_cost", need_mu=need_mu - 1e-6, time_limit_s=time_limit_s
            )
        else:
            f = None
        if f is not None:
            cost = float(free.cands.atoms["cost_wan"].to_numpy()[f >= 0].sum())
        else:
            exact = False
            acc = 0.0
            for _, s in greedy_rank(free.cands).steps.iterrows():
                acc += float(s["cost_wan"])
                if s["cum_mu"] >= need_mu - 1e-6:
                    break
            cost = acc
    ok = (np.array(pb.years) + pb.lead) <= pb.years[-1]
    usable = float(pb.budgets[ok].sum())
    extra = max(cost - usable, 0.0) if math.isfinite(cost) else 0.0
    return Gap(target, reached, gap, closable, other, cost, extra, exact)


def plan_sentences(plan: SupplyPlan, gap: Gap, /, *, label: str | None = None) -> tuple[str, str]:
    """The answer in Chinese and English, from the plan table's last row and the gap."""
    pb = plan.problem
    last = plan.table.iloc[-1]
    year = int(last["year"])
    x, share = float(last["cumulative_transferable_mu"]), float(last["cumulative_share"])
    what_zh = label or "土地"
    what_en = _EN_LABEL.get(label, label) if label else "land"
    tgt = plan.target_share
    spent = float(plan.table["spent_wan"].sum())
    zh = (f"按此计划（{len(plan.table)} 年共投资 {spent:,.1f} 万元），{year} 年底{what_zh}可出让 "
          f"{x:,.2f} 亩（{share:.1%}，目标 {tgt:.0%}）")  # fmt: skip
    en = (f"Under this plan ({spent:,.1f} 万元 over {len(plan.table)} years), {x:,.2f} mu of "
          f"{what_en} is transferable by the end of {year} ({share:.1%}, target {tgt:.0%})")  # fmt: skip
    if gap.gap_mu <= 1e-6:
        return zh + "，已达到目标", en + ", which meets the target"
    zh += f"；缺口 {gap.gap_mu:,.2f} 亩"
    en += f"; the gap is {gap.gap_mu:,.2f} mu"
    if gap.closable_mu > 1e-6:
        approx = "" if gap.exact else "约"
        last_year = pb.years[-1] - pb.lead
        if gap.extra_wan > 0.05:
            zh += (f"，其中 {gap.closable_mu:,.2f} 亩可由管网/道路解决，需追加{approx} "
                   f"{gap.extra_wan:,.1f} 万元（至少共需 {gap.need_cost_wan:,.1f} 万元，"
                   f"须在 {last_year} 年底前投入）")  # fmt: skip
            en += (f", of which {gap.closable_mu:,.2f} mu networks can close with "
                   f"{'about ' if not gap.exact else ''}{gap.extra_wan:,.1f} 万元 more (at least "
                   f"{gap.need_cost_wan:,.1f} 万元 in all, spent by the end of {last_year})")  # fmt: skip
        else:
            zh += (f"，其中 {gap.closable_mu:,.2f} 亩可由管网/道路解决，预算总额已够"
                   f"（{gap.need_cost_wan:,.1f} 万元），须提前投入或允许结转")  # fmt: skip
            en += (f", of which {gap.closable_mu:,.2f} mu networks can close; the total budget "
                   f"suffices ({gap.need_cost_wan:,.1f} 万元) if spent earlier or carried over")  # fmt: skip
    if gap.other_mu > 1e-6:
        zh += (f"；其余 {gap.other_mu:,.2f} 亩受生态红线、永久基本农田等非管网因素限制，"
               "须调整规划或另行补充用地")  # fmt: skip
        en += (f"; the other {gap.other_mu:,.2f} mu are blocked by other reasons (red line, "
               "farmland, …) that no network closes: adjust the plan or find other land")  # fmt: skip
    return zh, en
