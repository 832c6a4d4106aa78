"""The sandbox's synthetic organisation: divisions, queues, agents and wrap-up codes.

Everything is derived from one seed, so the same seed always yields the same ids and names and a
report run against the sandbox can be compared with an earlier one. That includes each queue's
service-level targets per media type (genesys-api.md §13), which the queues look-up serves as
``mediaSettings``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

_DIVISIONS = ("Home", "Sales", "Service")

# (queue name, division name); the Home queue is the overflow every agent may answer.
_QUEUES = (
    ("General Enquiries", "Home"),
    ("New Business", "Sales"),
    ("Renewals", "Sales"),
    ("Sales Priority", "Sales"),
    ("Customer Care", "Service"),
    ("Technical Support", "Service"),
    ("Billing", "Service"),
    ("Complaints", "Service"),
)

_WRAPUP_CODES = (
    "Resolved",
    "Follow-up required",
    "Escalated",
    "Sale completed",
    "No sale",
    "Information provided",
    "Billing adjustment",
    "Technical fault logged",
    "Wrong department",
    "Customer hung up",
)

_FIRST_NAMES = (
    "Amelia", "Ben", "Chloe", "Daniel", "Elena", "Farid", "Grace", "Hiro", "Isla", "Jonas",
    "Kemi", "Liam", "Maya", "Noah", "Olivia", "Pavel", "Quinn", "Rosa", "Samir", "Tara",
    "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zoe",
)  # fmt: skip
_LAST_NAMES = (
    "Anderson", "Brennan", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Hughes",
    "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "O'Connor", "Patel",
    "Rossi", "Schmidt", "Takahashi", "Walsh",
)  # fmt: skip

# Agents per division, fixed so that every division's queues always have someone to answer.
_USERS_PER_DIVISION = (("Home", 4), ("Sales", 16), ("Service", 20))

# Entities that old conversations still refer to but the look-ups no longer serve (report-
# semantics §4: an id that cannot be resolved keeps its id in the name column). The first two
# departed agents worked in Sales and Service, so every queue has one among its past answerers.
_DEPARTED_HOMES = ("Sales", "Service")
_DELETED_QUEUE_NAMES = ("Retention Pilot", "Winter Campaign", "Legacy Support")

# The system wrap-up code Genesys applies when an agent's wrap-up times out. It is an id of its
# own that the wrap-up codes look-up does not list, so a report keeps it as its own name.
WRAP_UP_TIMEOUT = "ININ-WRAP-UP-TIMEOUT"

# The media of QueueMediaSettings, in the SDK's order; a session's "voice" is the queue's "call".
MEDIA_SETTINGS_MEDIA = ("call", "callback", "chat", "email", "message")
# Per medium: the alerting timeout (s) and the (percentage, durationMs) targets a queue may have.
# The first is the common default; all are dealt round-robin over the queues, so targets differ.
_SERVICE_LEVELS: dict[str, tuple[int, tuple[tuple[float, int], ...]]] = {
    "call": (8, ((0.8, 20_000), (0.9, 30_000), (0.85, 15_000))),
    "callback": (30, ((0.8, 20_000), (0.9, 60_000))),
    "chat": (30, ((0.8, 30_000), (0.9, 60_000), (0.85, 45_000))),
    "email": (300, ((0.8, 86_400_000), (0.9, 14_400_000))),
    "message": (30, ((0.8, 3_600_000), (0.9, 600_000))),
}
# Queues that do not serve one medium at all (reports fall back to their default target there).
_QUEUES_MISSING_A_MEDIUM = 2


@dataclass(frozen=True, slots=True)
class Entity:
    """A named thing with a uuid: division, queue, user or wrap-up code."""

    id: str
    name: str
    division_id: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    """A queue's target for one medium: ``percentage`` (0-1) answered within ``duration_ms``."""

    percentage: float
    duration_ms: int


@dataclass(frozen=True, slots=True)
class MediaSetting:
    """One entry of a queue's ``mediaSettings`` (SDK ``MediaSettings``)."""

    alerting_timeout_seconds: int
    service_level: ServiceLevel


@dataclass(frozen=True, slots=True)
class Organisation:
    """The synthetic org; look-ups by id raise ``KeyError`` for unknown ids.

    ``departed_users`` (agents who have left) and ``deleted_queues`` appear in conversations but
    not in ``users`` and ``queues``, which are what the look-up endpoints serve; ``user`` and
    ``queue`` do not know them either. Neither does ``wrapup_code`` know ``WRAP_UP_TIMEOUT``.
    ``media_settings`` maps a served queue's id to its settings by medium
    (``MEDIA_SETTINGS_MEDIA``); a medium the queue does not serve is absent.
    """

    divisions: tuple[Entity, ...]
    queues: tuple[Entity, ...]
    users: tuple[Entity, ...]
    wrapup_codes: tuple[Entity, ...]
    departed_users: tuple[Entity, ...] = ()
    deleted_queues: tuple[Entity, ...] = ()
    media_settings: dict[str, dict[str, MediaSetting]] = field(default_factory=dict, hash=False)
    _index: dict[str, dict[str, Entity]] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        index = {
            "division": {e.id: e for e in self.divisions},
            "queue": {e.id: e for e in self.queues},
            "user": {e.id: e for e in self.users},
            "wrapup_code": {e.id: e for e in self.wrapup_codes},
        }
        object.__setattr__(self, "_index", index)

    def division(self, division_id: str) -> Entity:
        return self._index["division"][division_id]

    def queue(self, queue_id: str) -> Entity:
        return self._index["queue"][queue_id]

    def user(self, user_id: str) -> Entity:
        return self._index["user"][user_id]

    def wrapup_code(self, code_id: str) -> Entity:
        return self._index["wrapup_code"][code_id]

    def service_level(self, queue_id: str, media_type: str) -> ServiceLevel | None:
        """The queue's target for a session's media type; None without a setting for it."""
        medium = "call" if media_type == "voice" else media_type
        setting = self.media_settings.get(queue_id, {}).get(medium)
        return None if setting is None else setting.service_level

    def division_named(self, name: str) -> Entity:
        for division in self.divisions:
            if division.name == name:
                return division
        raise KeyError(name)


# Version 4 and RFC 4122 variant bits, set exactly as uuid.UUID(int=..., version=4) sets them.
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)


def random_uuid(rng: random.Random) -> str:
    """A uuid4-shaped id drawn from ``rng`` (``uuid.uuid4()`` would not be reproducible)."""
    # Formatting by hand is about three times faster than uuid.UUID, which matters at ~10 ids
    # per conversation and tens of thousands of conversations per generated day.
    h = f"{rng.getrandbits(128) & _UUID_CLEAR | _UUID_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _user_names(rng: random.Random, count: int, taken: frozenset[str] = frozenset()) -> list[str]:
    # Sampling distinct pairs keeps names unique, so reports grouped by name stay unambiguous.
    pairs = [
        (first, last)
        for first in _FIRST_NAMES
        for last in _LAST_NAMES
        if f"{first} {last}" not in taken
    ]
    return [f"{first} {last}" for first, last in rng.sample(pairs, count)]


def _gone(
    seed: int, divisions: tuple[Entity, ...], users: tuple[Entity, ...]
) -> tuple[tuple[Entity, ...], tuple[Entity, ...]]:
    """Departed agents and deleted queues, from a stream of their own.

    A separate stream leaves the served entities exactly as they were before these existed.
    """
    rng = random.Random(f"org:{seed}:gone")
    division_ids = {d.name: d.id for d in divisions}
    homes = list(_DEPARTED_HOMES)
    if rng.random() < 0.5:
        homes.append(rng.choice(_DIVISIONS))
    names = _user_names(rng, len(homes), frozenset(u.name for u in users))
    departed = tuple(
        Entity(random_uuid(rng), name, division_ids[home])
        for name, home in zip(names, homes, strict=True)
    )
    deleted = (
        Entity(
            random_uuid(rng),
            rng.choice(_DELETED_QUEUE_NAMES),
            division_ids[rng.choice(_DIVISIONS)],
        ),
    )
    return departed, deleted


def _media_settings(seed: int, queues: tuple[Entity, ...]) -> dict[str, dict[str, MediaSetting]]:
    """Each queue's service-level targets, from a stream of their own (as ``_gone``)."""
    rng = random.Random(f"org:{seed}:media")
    settings: dict[str, dict[str, MediaSetting]] = {q.id: {} for q in queues}
    for medium in MEDIA_SETTINGS_MEDIA:
        timeout, options = _SERVICE_LEVELS[medium]
        # Dealt round-robin, then shuffled: which queue gets which target follows the seed.
        picks = [options[i % len(options)] for i in range(len(queues))]
        rng.shuffle(picks)
        for queue, (percentage, duration_ms) in zip(queues, picks, strict=True):
            level = ServiceLevel(percentage, duration_ms)
            settings[queue.id][medium] = MediaSetting(timeout, level)
    missing = min(_QUEUES_MISSING_A_MEDIUM, len(queues))
    for queue in rng.sample(queues, missing):
        del settings[queue.id][rng.choice(MEDIA_SETTINGS_MEDIA)]
    return settings


def build_organisation(seed: int) -> Organisation:
    """The organisation for ``seed``; equal seeds give equal organisations."""
    rng = random.Random(f"org:{seed}")
    divisions = tuple(Entity(random_uuid(rng), name) for name in _DIVISIONS)
    division_ids = {d.name: d.id for d in divisions}
    queues = tuple(
        Entity(random_uuid(rng), name, division_ids[division]) for name, division in _QUEUES
    )
    homes = [division_ids[name] for name, count in _USERS_PER_DIVISION for _ in range(count)]
    rng.shuffle(homes)
    users = tuple(
        Entity(random_uuid(rng), name, home)
        for name, home in zip(_user_names(rng, len(homes)), homes, strict=True)
    )
    home = division_ids["Home"]
    wrapup_codes = tuple(Entity(random_uuid(rng), name, home) for name in _WRAPUP_CODES)
    departed_users, deleted_queues = _gone(seed, divisions, users)
    return Organisation(
        divisions,
        queues,
        users,
        wrapup_codes,
        departed_users,
        deleted_queues,
        _media_settings(seed, queues),
    )
