"""The diversity search of feature visualisations (protocol §5.2), pure Python: no torch.

- `alpha_search_steps` is the protocol's search for one side as a generator (it yields α, receives
  whether the batch "worked"); `sequential_alpha_search` drives it with any objective, and
  `AlphaSearch` replays it over known outcomes to say which α is needed next and which α might be
  needed later (speculative runs).
- `UnitPlan` schedules the optimisation runs of one unit: the non-diverse batches of both sides,
  then each side's α sequence, plus speculative α candidates while the device has room.

The search only ever *reads* results in the protocol's order, so speculation changes the cost,
never the outcome (tested against the sequential search).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np

from unitpsych.paths import SIDES


@dataclass(frozen=True)
class AlphaSettings:
    """Diversity-weight search: ×factor from `start` while ≤ `max`, then bisection steps."""

    start: float
    factor: float
    max: float
    bisection_steps: int


@dataclass(frozen=True)
class AlphaOutcome:
    """Result of one side's search: the α whose batch is used and where it came from."""

    alpha: float  # 0.0 when the non-diverse batch is used
    source: str  # "bisection" | "exponential" | "non_diverse"
    tried: tuple[float, ...]  # α values the sequential protocol evaluates, in order


def alpha_search_steps(s: AlphaSettings) -> Generator[float, bool, AlphaOutcome]:
    """The protocol's search (§5.2 step 5) as a generator: yields α, receives 'the batch worked'."""
    tried: list[float] = []

    def attempt(alpha: float) -> Generator[float, bool, bool]:
        tried.append(alpha)
        works = yield alpha
        return bool(works)

    last_ok: float | None = None
    alpha = s.start
    while alpha <= s.max:
        if (yield from attempt(alpha)):
            last_ok = alpha
            alpha *= s.factor
        else:
            break
    if alpha >= s.max:  # the ladder ran past its bound: keep its largest working α
        if last_ok is None:
            return AlphaOutcome(0.0, "non_diverse", tuple(tried))
        return AlphaOutcome(last_ok, "exponential", tuple(tried))
    lo = 0.0 if alpha == s.start else alpha / s.factor
    hi = alpha
    best: float | None = None
    for _ in range(s.bisection_steps):
        mid = (lo + hi) / 2
        if (yield from attempt(mid)):
            best, lo = mid, mid
        else:
            hi = mid
    if best is not None:
        return AlphaOutcome(best, "bisection", tuple(tried))
    if last_ok is not None:
        return AlphaOutcome(last_ok, "exponential", tuple(tried))
    return AlphaOutcome(0.0, "non_diverse", tuple(tried))


def sequential_alpha_search(works: Callable[[float], bool], s: AlphaSettings) -> AlphaOutcome:
    """Run the search one α at a time against `works(α)` (the authors' order of evaluation)."""
    steps = alpha_search_steps(s)
    try:
        alpha = next(steps)
        while True:
            alpha = steps.send(works(alpha))
    except StopIteration as stop:
        return stop.value


def _replay(s: AlphaSettings, known: dict[float, bool]) -> tuple[float | None, AlphaOutcome | None]:
    """Drive the search with known outcomes: (the first α without one, None) or (None, outcome)."""
    steps = alpha_search_steps(s)
    try:
        alpha = next(steps)
        while alpha in known:
            alpha = steps.send(known[alpha])
        steps.close()
        return alpha, None
    except StopIteration as stop:
        return None, stop.value


class AlphaSearch:
    """One side's search over outcomes that arrive in any order (speculative batching).

    `needed()` is the α the sequential protocol evaluates next; `candidates(k)` lists it followed by
    the α values of the following steps for either outcome (breadth-first), which may be optimised
    early when the device has room. Outcomes are consumed in protocol order only.
    """

    def __init__(self, settings: AlphaSettings):
        self.settings = settings
        self.known: dict[float, bool] = {}

    def tell(self, alpha: float, works: bool) -> None:
        """Record whether the batch optimised with `alpha` beat the target."""
        self.known[alpha] = bool(works)

    @property
    def outcome(self) -> AlphaOutcome | None:
        """The final outcome once the protocol's sequence is fully known."""
        return _replay(self.settings, self.known)[1]

    def needed(self) -> float | None:
        """The next α of the protocol's sequence without an outcome (None when done)."""
        return _replay(self.settings, self.known)[0]

    def candidates(self, k: int) -> list[float]:
        """Up to k α values without outcome: the needed one, then later ones breadth-first."""
        out: list[float] = []
        frontier = [dict(self.known)]
        while frontier and len(out) < k:
            nxt = []
            for assumed in frontier:
                alpha, _ = _replay(self.settings, assumed)
                if alpha is None:
                    continue
                if alpha not in out and alpha not in self.known:
                    out.append(alpha)
                    if len(out) == k:
                        break
                nxt += [{**assumed, alpha: True}, {**assumed, alpha: False}]
            frontier = nxt
        return out


# --------------------------------------------------------------------------- runs of one unit


@dataclass(frozen=True)
class RunSpec:
    """One optimisation run: a side, a diversity weight and a batch size."""

    side: str  # "min" | "max"
    alpha: float
    n: int


@dataclass
class RunResult:
    """A finished run: its images (n, crop, crop, 3) in [0, 1] and the steps it took."""

    spec: RunSpec
    images: np.ndarray
    steps: int
    activations: np.ndarray | None = None  # re-evaluated, same order as images


def sorted_weakest_first(result: RunResult) -> tuple[np.ndarray, np.ndarray]:
    """Images and activations sorted weakest → strongest (ascending for max, descending for min)."""
    acts = result.activations
    if acts is None:
        raise ValueError(f"run {result.spec} has not been re-evaluated")
    order = np.argsort(acts, kind="stable")
    if result.spec.side == "min":
        order = order[::-1]
    return result.images[order], acts[order]


def beats_target(result: RunResult, target: float, ties_pass: bool = False) -> bool:
    """Whether a batch's weakest image beats the dataset extreme (§5.2).

    A diverse batch works only strictly beyond it (step 3). The non-diverse success test passes
    ties (`ties_pass`, step 2): the authors mark a side too weak only when its weakest image falls
    strictly short, so a ReLU unit whose image-set minimum is 0 passes the min side with FVs that
    silence it completely.
    """
    weakest = sorted_weakest_first(result)[1][0]
    if result.spec.side == "min":
        weakest, target = -weakest, -target
    return bool(weakest >= target) if ties_pass else bool(weakest > target)


class UnitPlan:
    """The runs a unit needs, in the protocol's order, plus speculative ones (§5.2)."""

    def __init__(
        self,
        alpha: AlphaSettings,
        n_images: int,
        diversity: bool,
        dataset_min: float,
        dataset_max: float,
    ):
        self.n_images = n_images
        self.diversity = diversity
        self.target = {"min": dataset_min, "max": dataset_max}
        self.results: dict[tuple[str, float], RunResult] = {}
        self.searches = {side: AlphaSearch(alpha) for side in SIDES}

    def add(self, result: RunResult) -> None:
        """Store a finished (re-evaluated) run and tell its side's search."""
        side, alpha = result.spec.side, result.spec.alpha
        self.results[(side, alpha)] = result
        if alpha:
            self.searches[side].tell(alpha, beats_target(result, self.target[side]))

    def non_diverse_too_weak(self) -> dict[str, bool] | None:
        """Per side, whether the non-diverse batch's weakest image fails the target (None:
        unknown)."""
        if not all((side, 0.0) in self.results for side in SIDES):
            return None
        return {
            side: not beats_target(self.results[(side, 0.0)], self.target[side], ties_pass=True)
            for side in SIDES
        }

    @property
    def constant(self) -> bool:
        """A unit whose dataset minimum is not below its maximum (e.g. a dead ReLU) is not searched.

        The authors' code stops such a unit with an assertion and lists it as skipped.
        """
        return not self.target["max"] > self.target["min"]

    def searching(self) -> bool:
        """Whether the diversity search runs (unknown non-diverse results count as yes)."""
        weak = self.non_diverse_too_weak()
        if not self.diversity or self.constant:
            return False
        return not (weak is not None and all(weak.values()))

    def requests(self, budget: int) -> list[RunSpec]:
        """Runs for the next round: every needed run, then speculative ones while `budget` allows.

        Needed are the non-diverse runs until they are known, then each side's next α. The
        searches' later candidates (breadth-first over both outcomes) fill the rest of the budget,
        alternating sides.
        """
        n = self.n_images
        needed = [RunSpec(side, 0.0, n) for side in SIDES if (side, 0.0) not in self.results]
        if not self.searching():
            return needed
        if not needed:
            for side in SIDES:
                alpha = self.searches[side].needed()
                if alpha is not None:
                    needed.append(RunSpec(side, alpha, n - 1))
        used = sum(r.n for r in needed)
        chosen = {(r.side, r.alpha) for r in needed}
        queues = {side: self.searches[side].candidates(1 + budget // (n - 1)) for side in SIDES}
        extra = []
        for rank in range(max(len(q) for q in queues.values())):
            for side in SIDES:
                if rank < len(queues[side]) and used + n - 1 <= budget:
                    alpha = queues[side][rank]
                    if (side, alpha) not in chosen:
                        extra.append(RunSpec(side, alpha, n - 1))
                        chosen.add((side, alpha))
                        used += n - 1
        return needed + extra

    def done(self) -> bool:
        """Whether the final images are known."""
        if self.non_diverse_too_weak() is None:
            return False
        if not self.searching():
            return True
        return all(s.outcome is not None for s in self.searches.values())

    def outcome(self, side: str) -> AlphaOutcome | None:
        """The side's search outcome (None when the search did not run)."""
        return self.searches[side].outcome if self.searching() else None


def chunk_runs(runs: list[RunSpec], budget: int) -> list[list[RunSpec]]:
    """Split runs into consecutive groups of at most `budget` images (a run is never split)."""
    chunks: list[list[RunSpec]] = [[]]
    used = 0
    for run in runs:
        if chunks[-1] and used + run.n > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(run)
        used += run.n
    return chunks
