"""Which fault, if any, the sandbox injects into a request.

Rules come from ``sandbox.faults``: a scripted sequence is consumed one entry per matching
request (``ok`` lets one through), a kind with a probability is drawn from a seeded generator so
that a run can be replayed. The first rule that yields a fault wins, and a script's ``ok`` step
lets its request through untouched (later rules are not consulted for it). ``*`` means every API
endpoint; the token endpoint is faulted only when a rule names it.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.settings import FaultSettings


@dataclass(slots=True)
class _Rule:
    settings: FaultSettings
    remaining: list[str]


@dataclass(slots=True)
class FaultPlan:
    seed: int = 0
    _rules: list[_Rule] = field(default_factory=list)
    _rng: random.Random = field(default_factory=random.Random)
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng.seed(f"faults:{self.seed}")

    def replace(self, rules: Iterable[FaultSettings]) -> None:
        self._rules = [_Rule(rule, list(rule.script)) for rule in rules]

    def choose(self, endpoint: str) -> FaultSettings | None:
        """The fault for this request, with ``kind`` set, or None."""
        for rule in self._rules:
            spec = rule.settings
            wildcard = spec.endpoint == "*" and endpoint != "token"
            if not wildcard and spec.endpoint != endpoint:
                continue
            if spec.script:
                if not rule.remaining:
                    continue
                step = rule.remaining.pop(0)
                if step == "ok":
                    return None
                return self._count(spec.model_copy(update={"kind": step}))
            if self._rng.random() < spec.probability:
                return self._count(spec)
        return None

    def _count(self, spec: FaultSettings) -> FaultSettings:
        self.injected[str(spec.kind)] += 1
        return spec
