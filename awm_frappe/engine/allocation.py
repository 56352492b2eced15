"""Balanced, weighted allocation of worktray cases to income officers.

A court case is far more work than a first-letter case, so officers are balanced on *points* (weighted
workload), not on case counts. The algorithm, in one pass:

1. Score every case in points (``CasePoints``: by stage, uplifted for high risk).
2. Sticky: a case keeps its current officer while that officer is still eligible (works the patch, has
   the skill, is not absent) and stays within capacity.
3. Every other case goes, heaviest first, to the eligible officer whose utilisation after taking it,
   ``(load + points) / capacity``, is lowest. Longest-processing-time-first greedy keeps the busiest
   officer close to the mean.

Everything is deterministic: ties break on officer id, cases are ordered by (points, priority,
tenancy), so the same portfolio in any row order gives the same allocation. docs/allocation.md explains
the rules and the defaults.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# Points per stage: routine automated stages are light, legal preparation is heavier, a case at or past
# court needs an officer's sustained attention.
DEFAULT_STAGE_POINTS: dict[str, float] = {
    "": 1.0,
    "sms": 1.0,
    "letter_1": 1.0,
    "letter_2": 1.0,
    "nosp": 3.0,
    "court_warning": 3.0,
    "legal": 3.0,
    "court": 10.0,
    "warrant": 10.0,
    "eviction": 10.0,
}

_EPS = 1e-9  # tolerance for "within capacity" on float sums


@dataclass(frozen=True)
class CasePoints:
    """How much work a case is, in points; an officer's ``capacity`` is in the same points.

    ``risk_uplift`` is a list of (minimum risk_score, multiplier), tried in order; the first that the
    case's score reaches applies. Unscored cases (NaN) are not uplifted.
    """

    by_stage: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_STAGE_POINTS))
    default: float = 1.0
    risk_uplift: tuple[tuple[float, float], ...] = ((0.7, 1.5), (0.4, 1.2))

    def of(self, cases: pd.DataFrame) -> pd.Series:
        """Points per case; a ``points`` column in ``cases`` overrides the table where it is set."""
        stage = _text(cases, "stage")
        base = stage.map(dict(self.by_stage)).astype(float).fillna(self.default)
        score = _number(cases, "risk_score")
        multiplier = np.ones(len(cases))
        for threshold, factor in reversed(self.risk_uplift):  # reversed: the first listed match wins
            multiplier[score.ge(threshold).to_numpy()] = factor
        computed = base * multiplier
        if "points" in cases:
            computed = _number(cases, "points").fillna(computed)
        return computed.round(6)


@dataclass
class Allocation:
    assignments: pd.DataFrame  # indexed like cases: officer, points, reason, changed
    load: pd.DataFrame  # one row per officer: officer, name, cases, points, capacity, utilisation
    unallocated: int  # cases needing an officer that no eligible officer could take


@dataclass(frozen=True)
class _Roster:
    """Officers sorted by id (the tie-break order), with what eligibility needs."""

    ids: list[str]
    names: list[str]
    capacity: np.ndarray
    absent_until: list[pd.Timestamp | None]
    patches: list[frozenset[str]]
    skills: list[frozenset[str]]

    @property
    def size(self) -> int:
        return len(self.ids)


# ---------------------------------------------------------------------------------------------------
# Public API


def allocate(
    cases: pd.DataFrame, officers: pd.DataFrame, as_of, points: CasePoints | None = None
) -> Allocation:
    """Allocate every ``needs_officer`` case to an officer, balancing weighted load against capacity."""
    as_of = pd.Timestamp(as_of).normalize()
    work = _prepare_cases(cases, points or CasePoints())
    roster = _prepare_roster(officers)
    eligibility = _Eligibility(roster, as_of)
    group, members = eligibility.groups(work)
    current = _officer_positions(work["current"], roster)
    why_not = eligibility.why_not(work, current)

    sticky = work["needs"].to_numpy() & (current >= 0) & (why_not == "")
    kept = _within_capacity(work, current, sticky, roster.capacity)
    why_not[sticky & ~kept] = "over capacity"

    assigned = np.where(kept, current, -1)
    loads = np.bincount(assigned[kept], weights=work["points"].to_numpy()[kept], minlength=roster.size)
    pending = work["needs"].to_numpy() & ~kept
    order = _lpt_order(work, pending)
    assigned[order], over_at_assignment = _greedy(
        group[order], work["points"].to_numpy()[order], members, loads, roster.capacity, weighted=True
    )
    over = np.zeros(len(work), bool)
    over[order] = over_at_assignment

    # A task needing a skill nobody in its patch has still needs someone: it goes to the patch's
    # officers, and the reason says the skill is missing, rather than being left on nobody's worktray.
    skill = work["skill"].to_numpy()
    unskilled = pending & (assigned < 0) & (skill != "")
    if unskilled.any():
        has = assigned >= 0
        loads = np.bincount(assigned[has], weights=work["points"].to_numpy()[has], minlength=roster.size)
        group, members = eligibility.groups(work.assign(skill=""))
        order = _lpt_order(work, unskilled)
        assigned[order], over[order] = _greedy(
            group[order], work["points"].to_numpy()[order], members, loads, roster.capacity, weighted=True
        )
    result = _result(work, roster, assigned, current, kept, why_not, over)
    placed = unskilled & (assigned >= 0)
    if placed.any():
        result.assignments.loc[placed, "reason"] = (
            "assigned without skill "
            + work.loc[placed, "skill"]
            + ": no available officer in patch "
            + work.loc[placed, "patch"]
            + " has it"
        )
    return result


def least_count_allocate(cases: pd.DataFrame, officers: pd.DataFrame, as_of) -> Allocation:
    """Baseline: Frappe's Assignment Rule "Load Balancing".

    Cases already assigned to an eligible officer stay put; each other case, in tenancy order, goes to
    the eligible officer with the fewest open cases. Points and capacity are ignored when choosing (they
    are still reported in the load table, so the two methods can be compared).
    """
    as_of = pd.Timestamp(as_of).normalize()
    work = _prepare_cases(cases, CasePoints())
    roster = _prepare_roster(officers)
    eligibility = _Eligibility(roster, as_of)
    group, members = eligibility.groups(work)
    current = _officer_positions(work["current"], roster)
    why_not = eligibility.why_not(work, current)

    kept = work["needs"].to_numpy() & (current >= 0) & (why_not == "")
    assigned = np.where(kept, current, -1)
    counts = np.bincount(assigned[kept], minlength=roster.size).astype(float)
    pending = work["needs"].to_numpy() & ~kept
    order = np.flatnonzero(pending)[np.argsort(work["tenancy"].to_numpy()[pending], kind="stable")]
    ones = np.ones(len(order))
    assigned[order], _ = _greedy(group[order], ones, members, counts, np.ones(roster.size), weighted=False)
    over = np.zeros(len(work), bool)  # least count has no notion of capacity
    return _result(work, roster, assigned, current, kept, why_not, over)


def format_load(load: pd.DataFrame) -> str:
    """The officer load table as fixed-width text, busiest first, with a total line."""
    if load.empty:
        return "No officers."
    rows = load.sort_values(["utilisation", "officer"], ascending=[False, True])
    header = f"{'officer':<28} {'name':<22} {'cases':>6} {'points':>8} {'capacity':>9} {'used':>6}"
    lines = [header, "-" * len(header)]
    for row in rows.itertuples(index=False):
        flag = " !" if row.utilisation > 1 + _EPS else ""
        lines.append(
            f"{_clip(row.officer, 28):<28} {_clip(row.name, 22):<22} {row.cases:>6d} {row.points:>8.1f} "
            f"{row.capacity:>9.1f} {row.utilisation:>6.0%}{flag}"
        )
    capacity = load["capacity"].sum()
    total_use = load["points"].sum() / capacity if capacity > 0 else float("nan")
    lines.append("-" * len(header))
    lines.append(
        f"{'total':<28} {'':<22} {int(load['cases'].sum()):>6d} {load['points'].sum():>8.1f} "
        f"{capacity:>9.1f} {total_use:>6.0%}"
    )
    over = int((load["utilisation"] > 1 + _EPS).sum())
    if over:
        lines.append(f"! {over} officer(s) over capacity")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# Inputs


def _prepare_cases(cases: pd.DataFrame, points: CasePoints) -> pd.DataFrame:
    """One row per case with normalised columns, in the caller's row order (positions are kept)."""
    work = pd.DataFrame(index=cases.index)
    work["tenancy"] = cases.index.astype(str)
    work["patch"] = _text(cases, "patch")
    work["skill"] = _text(cases, "skill")
    work["current"] = _text(cases, "officer")
    work["needs"] = _flag(cases, "needs_officer")
    work["priority"] = _number(cases, "priority")
    work["points"] = points.of(cases).to_numpy()
    return work


def _prepare_roster(officers: pd.DataFrame) -> _Roster:
    frame = officers.copy()
    frame["officer"] = _text(frame, "officer")
    frame = frame[frame["officer"].ne("")].drop_duplicates("officer").sort_values("officer", kind="stable")
    # Schema default capacity applies to blanks; a capacity of 0 or less means "takes no cases".
    capacity = _number(frame, "capacity").fillna(100.0).clip(lower=0).to_numpy()
    absent = pd.to_datetime(frame["absent_until"], errors="coerce") if "absent_until" in frame else None
    return _Roster(
        ids=frame["officer"].tolist(),
        names=_text(frame, "name").tolist(),
        capacity=capacity,
        absent_until=list(absent) if absent is not None else [pd.NaT] * len(frame),
        patches=[frozenset(_as_list(value)) for value in _column(frame, "patches", None)],
        skills=[frozenset(_as_list(value)) for value in _column(frame, "skills", None)],
    )


class _Eligibility:
    """Who may work which (patch, skill): present on as_of, has capacity, works the patch, has the skill."""

    def __init__(self, roster: _Roster, as_of: pd.Timestamp):
        self.roster = roster
        # Absent *until* a date: back at work on that date, like a case paused until a date.
        self.absent = np.array([pd.notna(until) and until > as_of for until in roster.absent_until], bool)
        self.available = ~self.absent & (roster.capacity > 0)

    def members(self, patch: str, skill: str) -> list[int]:
        roster = self.roster
        return [
            o
            for o in range(roster.size)
            if self.available[o] and patch in roster.patches[o] and (not skill or skill in roster.skills[o])
        ]

    def groups(self, work: pd.DataFrame) -> tuple[np.ndarray, list[list[int]]]:
        """A group id per case and, per group, the eligible officers' positions (in id order)."""
        # A joined key, not a MultiIndex: pandas 2.1 cannot factorize an empty MultiIndex (and drops NUL).
        codes, uniques = pd.factorize((work["patch"] + "\x1f" + work["skill"]).to_numpy(dtype=object))
        pairs = [key.split("\x1f", 1) for key in uniques]
        return codes.astype(np.int64), [self.members(patch, skill) for patch, skill in pairs]

    def why_not(self, work: pd.DataFrame, current: np.ndarray) -> np.ndarray:
        """Why each case's current officer cannot keep it ('' when they can, or there is none)."""
        roster = self.roster
        known = np.clip(current, 0, None)  # position 0 stands in for unknown officers; masked below
        patch, skill = work["patch"].to_numpy(dtype=object), work["skill"].to_numpy(dtype=object)
        has = work["current"].ne("").to_numpy()
        unknown = has & (current < 0)
        officer = has & ~unknown
        absent = self.absent[known] if roster.size else np.zeros(len(work), bool)
        no_capacity = roster.capacity[known] <= 0 if roster.size else np.zeros(len(work), bool)
        works_patch = _holds(roster.patches, known, patch)
        has_skill = (skill == "") | _holds(roster.skills, known, skill)
        until = np.array(
            [f"{d:%Y-%m-%d}" if d is not None and pd.notna(d) else "" for d in roster.absent_until] or [""],
            dtype=object,
        )[known]
        return np.select(
            [
                unknown,
                officer & absent,
                officer & no_capacity,
                officer & ~works_patch,
                officer & ~has_skill,
            ],
            [
                "not a known officer",
                "absent until " + until,
                "has no capacity",
                "does not work patch " + patch,
                "lacks skill " + skill,
            ],
            default="",
        ).astype(object)


def _holds(sets: list[frozenset[str]], positions: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Whether sets[positions[i]] contains values[i], for every i, without a Python loop over cases."""
    pairs = pd.Index([f"{o}\x1f{v}" for o, members in enumerate(sets) for v in members], dtype=object)
    keys = pd.Series(positions.astype(str), dtype=object) + "\x1f" + pd.Series(values, dtype=object)
    return keys.isin(pairs).to_numpy()


def _officer_positions(current: pd.Series, roster: _Roster) -> np.ndarray:
    return pd.Index(roster.ids, dtype=object).get_indexer(current.to_numpy()).astype(np.int64)


# ---------------------------------------------------------------------------------------------------
# The algorithm


def _within_capacity(work: pd.DataFrame, current: np.ndarray, sticky: np.ndarray, capacity: np.ndarray):
    """Sticky cases each officer can keep: heaviest first, while the running load stays ≤ capacity.

    Keeping the heavy cases (court, legal) with the officer who knows them moves the fewest complex cases;
    the light ones that spill over are the cheapest to hand on.
    """
    kept = np.zeros(len(work), bool)
    if not sticky.any():
        return kept
    order = _lpt_order(work, sticky)
    officer = current[order]
    running = pd.Series(work["points"].to_numpy()[order]).groupby(officer).cumsum().to_numpy()
    kept[order] = running <= capacity[officer] + _EPS
    return kept


def _lpt_order(work: pd.DataFrame, mask: np.ndarray) -> np.ndarray:
    """Positions of the masked cases: most points first, then highest priority, then tenancy id."""
    subset = work.iloc[np.flatnonzero(mask)]
    ranked = pd.DataFrame(
        {
            "position": np.flatnonzero(mask),
            "points": subset["points"].to_numpy(),
            "priority": subset["priority"].fillna(-np.inf).to_numpy(),
            "tenancy": subset["tenancy"].to_numpy(),
        }
    ).sort_values(["points", "priority", "tenancy"], ascending=[False, False, True], kind="stable")
    return ranked["position"].to_numpy()


def _greedy(
    groups: np.ndarray,
    weights: np.ndarray,
    members: list[list[int]],
    loads: np.ndarray,
    capacity: np.ndarray,
    weighted: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Assign each case in order to the eligible officer with the lowest key; -1 when none is eligible.

    Returns the officer positions and, per case, whether the assignment took the officer over capacity.

    The key is ``(load + w) / capacity`` (weighted) or the open-case count (least count). One heap per
    case group holds each eligible officer once. Loads only grow, so an entry made stale by a
    assignment in another group (an officer working two patches) can only *under*-state its key: when
    the top is stale it is refreshed and pushed down, and the first fresh top is the true minimum.
    Weighted keys depend on w, so heaps are rebuilt (lazily, per group) when w changes; cases come
    heaviest first, so that happens once per distinct points value.
    """
    load = [float(x) for x in loads]
    cap = [float(x) if x > 0 else _EPS for x in capacity]
    version = [0] * len(load)
    out = np.full(len(groups), -1, dtype=np.int64)
    over = np.zeros(len(groups), bool)
    heaps: dict[int, list] = {}
    block_weight = None

    def key(o: int, w: float) -> float:
        return (load[o] + w) / cap[o] if weighted else load[o]

    for i, (g, w) in enumerate(zip(groups.tolist(), weights.tolist(), strict=True)):
        if weighted and w != block_weight:
            heaps, block_weight = {}, w
        heap = heaps.get(g)
        if heap is None:
            heap = heaps[g] = [(key(o, w), o, version[o]) for o in members[g]]
            heapq.heapify(heap)
        if not heap:
            continue
        while heap[0][2] != version[heap[0][1]]:
            o = heap[0][1]
            heapq.heapreplace(heap, (key(o, w), o, version[o]))
        o = heap[0][1]
        load[o] += w
        version[o] += 1
        heapq.heapreplace(heap, (key(o, w), o, version[o]))
        out[i] = o
        over[i] = load[o] > cap[o] + _EPS
    return out, over


# ---------------------------------------------------------------------------------------------------
# Output


def _result(
    work: pd.DataFrame,
    roster: _Roster,
    assigned: np.ndarray,
    current: np.ndarray,
    kept: np.ndarray,
    why_not: np.ndarray,
    over: np.ndarray,
) -> Allocation:
    ids = np.array([*roster.ids, ""], dtype=object)  # position -1 reads ''
    officer = ids[assigned]
    points = work["points"].to_numpy()
    has_officer = assigned >= 0
    loads = np.bincount(assigned[has_officer], weights=points[has_officer], minlength=roster.size)
    counts = np.bincount(assigned[has_officer], minlength=roster.size)
    capacity = roster.capacity
    # An officer with no capacity who still holds cases (kept over capacity) shows as infinitely used.
    safe = np.where(capacity > 0, capacity, 1.0)
    utilisation = np.where(capacity > 0, loads / safe, np.where(loads > 0, np.inf, 0.0))

    reasons = _reasons(work, officer, kept, why_not, over)
    assignments = pd.DataFrame(
        {
            "officer": officer,
            "points": points,
            "reason": reasons,
            "changed": officer != work["current"].to_numpy(),
        },
        index=work.index,
    )
    load = pd.DataFrame(
        {
            "officer": roster.ids,
            "name": roster.names,
            "cases": counts.astype(int),
            "points": loads.round(6),
            "capacity": capacity,
            "utilisation": utilisation.round(6),
        }
    )
    unallocated = int((work["needs"].to_numpy() & ~has_officer).sum())
    return Allocation(assignments=assignments, load=load, unallocated=unallocated)


def _reasons(
    work: pd.DataFrame,
    officer: np.ndarray,
    kept: np.ndarray,
    why_not: np.ndarray,
    over: np.ndarray,
) -> np.ndarray:
    needs = work["needs"].to_numpy()
    current = work["current"].to_numpy()
    had = current != ""
    patch, skill = work["patch"].to_numpy(), work["skill"].to_numpy()
    where = np.array(
        [f"patch {p}" + (f" with skill {s}" if s else "") for p, s in zip(patch, skill, strict=True)], object
    )
    nobody = needs & (officer == "")
    same = officer == current

    reasons = np.full(len(work), "", dtype=object)
    reasons[needs & ~nobody & ~same] = "assigned: lowest utilisation in " + where[needs & ~nobody & ~same]
    moved = needs & ~nobody & ~same & had
    reasons[moved] = (
        "reassigned from " + current[moved] + " (" + why_not[moved].astype(str) + "): lowest utilisation in "
    ) + where[moved]
    reasons[needs & same & ~kept & had] = "kept: every eligible officer is at or over capacity"
    reasons[kept] = "kept: still eligible and within capacity"
    reasons[nobody] = "no officer for " + where[nobody]
    reasons[~needs & had] = "released: the case no longer needs an officer"
    reasons[over] = reasons[over] + "; over capacity: every eligible officer is full"
    return reasons


# ---------------------------------------------------------------------------------------------------
# Small helpers


def _column(frame: pd.DataFrame, name: str, default) -> pd.Series:
    return frame[name] if name in frame else pd.Series(default, index=frame.index, dtype=object)


def _text(frame: pd.DataFrame, name: str) -> pd.Series:
    return _column(frame, name, "").fillna("").astype(str).str.strip()


def _number(frame: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(_column(frame, name, np.nan), errors="coerce").astype(float)


def _flag(frame: pd.DataFrame, name: str) -> pd.Series:
    values = _column(frame, name, False)
    if values.dtype == bool:
        return values
    return pd.Series(
        np.where(values.isna().to_numpy(), False, values.to_numpy()).astype(bool), index=frame.index
    )


def _as_list(value) -> list[str]:
    """Officer patches/skills: a list, or a ';'-separated string as in CSV."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    return [str(part).strip() for part in value if str(part).strip()]


def _clip(text: str, width: int) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"
