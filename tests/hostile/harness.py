"""The harness of the hostile API-response tests: a sandbox whose records, query answers and
request bodies can be made hostile, and report runs against it over loopback.

The sandbox is a fixture here, not the thing under test: ``app.sandbox.server.render`` (the detail
record of one conversation), the detail-query handler and the request-body reader are
monkeypatched. The period is two hours fetched as one window, so every record is served exactly
once and counts are exact.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from aiohttp import web

import app.sandbox.server as server
from app.errors import ReportsError
from app.periods import explicit_period
from app.pipeline.facts import conversation_facts, instant_ms
from app.pipeline.run import RunOutcome, run_report
from app.sandbox import records
from app.sandbox.server import Sandbox
from app.settings import Settings, grain_metrics
from tests.genesys.conftest import Connect, Connected

PERIOD = explicit_period(
    datetime(2024, 5, 1, 8, tzinfo=UTC), datetime(2024, 5, 1, 10, tzinfo=UTC), "UTC"
)
START_MS = instant_ms("2024-05-01T08:00:00Z")
END_MS = instant_ms("2024-05-01T10:00:00Z")
WINDOW = "window 2024-05-01T08:00:00.000Z/2024-05-01T10:00:00.000Z"
# A generous sandbox rate limit: the client adapts to the advertised one, which would pace it.
SANDBOX: dict[str, Any] = {"volume": {"peak_per_hour": 60}, "rate_limit_per_minute": 1_000_000}
GENESYS: dict[str, Any] = {"page_size": 20, "retry_attempts": 2, "requests_per_minute": 100_000}
UTC_ZONE = ZoneInfo("UTC")

Record = dict[str, Any]
Mutation = Callable[[Record], Any]


# --- the harness --------------------------------------------------------------------------

Reply = Callable[[Any], web.Response]


class Hostile:
    """What the sandbox serves, made hostile.

    * ``rules`` / ``every``: ``app.sandbox.server.render`` passes the record of a chosen
      conversation (or of every one) through a mutation;
    * ``reply``: the detail-query handler answers with ``reply(genuine payload)`` instead;
    * ``body``: the detail-query request body is rewritten before the sandbox reads it.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rules: dict[str, Mutation] = {}
        self.every: Mutation | None = None
        self.reply: Reply | None = None
        self.body: Callable[[Any], Any] | None = None
        render, query, json_body = records.render, Sandbox._query, server._json_body

        def hostile_render(conversation: records.Conversation, now_ms: int, **kwargs: Any) -> Any:
            record = render(conversation, now_ms, **kwargs)
            rule = self.rules.get(conversation.conversation_id, self.every)
            return record if rule is None else rule(copy.deepcopy(record))

        async def hostile_query(sandbox: Sandbox, request: web.Request) -> web.Response:
            genuine = await query(sandbox, request)
            if self.reply is None or genuine.status != 200:
                return genuine
            assert isinstance(genuine.body, bytes)
            return self.reply(orjson.loads(genuine.body))

        async def hostile_body(request: web.Request) -> tuple[Any, web.Response | None]:
            body, problem = await json_body(request)
            if self.body is not None and problem is None:
                body = self.body(body)
            return body, problem

        monkeypatch.setattr(server, "render", hostile_render)
        monkeypatch.setattr(Sandbox, "_query", hostile_query)
        monkeypatch.setattr(server, "_json_body", hostile_body)

    def clear(self) -> None:
        self.rules, self.every, self.reply, self.body = {}, None, None, None


@dataclass
class Harness:
    connected: Connected
    hostile: Hostile
    root: Path
    truth: list[Record] = field(default_factory=list)
    genesys: dict[str, Any] = field(default_factory=lambda: dict(GENESYS))
    runs: int = 0

    def settings(self, directory: Path, **report: Any) -> Settings:
        spool = directory / "spool"
        spool.mkdir(parents=True, exist_ok=True)
        return Settings.model_validate(
            {
                "genesys": self.genesys,
                "storage": {"directory": str(directory / "reports"), "spool_directory": spool},
                "reports": [
                    {
                        "name": "hostile",
                        "timezone": "UTC",
                        "group_by": ["queue_id"],
                        # The facts of each record are what these checks read (the NDJSON
                        # export carries them): the conversation grain.
                        "grain": "conversation",
                        "metrics": list(grain_metrics("conversation")),
                        "fetch": "query",
                        "window": "PT2H",
                        "formats": ["csv", "json", "ndjson"],
                        **report,
                    }
                ],
            }
        )

    async def run(self, **report: Any) -> Run:
        self.runs += 1
        directory = self.root / f"run-{self.runs}"
        settings = self.settings(directory, **report)
        outcome = await run_report(settings, settings.reports[0], PERIOD, self.connected.client)
        assert files(directory / "spool") == [], "spool files were left behind"
        return Run(outcome)

    async def fails(self, **report: Any) -> ReportsError:
        """Run, expecting a ReportsError; check that nothing was left behind."""
        self.runs += 1
        directory = self.root / f"run-{self.runs}"
        settings = self.settings(directory, **report)
        with pytest.raises(ReportsError) as caught:
            await run_report(settings, settings.reports[0], PERIOD, self.connected.client)
        assert files(directory / "reports") == [], "a failed run left files behind"
        assert not (directory / "reports" / "hostile" / PERIOD.label).exists()
        assert files(directory / "spool") == [], "a failed run left spool files behind"
        return caught.value

    def ended(self) -> list[Record]:
        """Ended conversations that start inside the period, in query order."""
        return [r for r in self.truth if "conversationEnd" in r]

    def victims(self, count: int = 3) -> list[str]:
        """The first conversation the query returns in the period (on page 1, where a short
        page would end the paging), and more spread over the period by id."""
        ended = self.ended()
        others = sorted(r["conversationId"] for r in ended[1:])
        step = max(1, len(others) // count)
        return [ended[0]["conversationId"], *others[::step][: count - 1]]

    def answered_victims(self, count: int = 2) -> list[str]:
        """Ended, answered conversations in the period with a queue and an agent."""
        chosen = []
        for record in self.ended():
            facts = conversation_facts(record, UTC_ZONE)
            if facts.answered and facts.queue_id and facts.agent_id and facts.wrapup_code:
                chosen.append(record["conversationId"])
        assert len(chosen) >= count, "the sandbox data has too few answered conversations"
        return sorted(chosen)[:count]

    def facts_of(self, conversation_id: str) -> dict[str, Any]:
        record = next(r for r in self.truth if r["conversationId"] == conversation_id)
        return conversation_facts(record, UTC_ZONE).as_dict()


@dataclass
class Run:
    outcome: RunOutcome

    @property
    def counts(self) -> dict[str, Any]:
        counts: dict[str, Any] = self.outcome.manifest["counts"]
        return counts

    def _path(self, fmt: str) -> Path:
        return next(path for f, path in self.outcome.files if f.format == fmt)

    @property
    def rows(self) -> list[dict[str, Any]]:
        document = orjson.loads(self._path("json").read_bytes())
        rows: list[dict[str, Any]] = document["rows"]
        return rows

    @property
    def csv(self) -> bytes:
        return self._path("csv").read_bytes()

    @property
    def facts(self) -> dict[str, dict[str, Any]]:
        lines = self._path("ndjson").read_bytes().splitlines()
        return {row["conversation_id"]: row for row in map(json.loads, lines)}


def files(root: Path) -> list[str]:
    """Every file under ``root``, relative to it."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def start(
    connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: Any
) -> Harness:
    """A hostile sandbox (``sandbox=`` and ``genesys=`` settings are merged into the defaults)
    and a client for it, with the ground truth of the period."""
    # The handler is bound when the sandbox's application is built: patch first.
    hostile = Hostile(monkeypatch)
    sandbox_settings = {**SANDBOX, **overrides.pop("sandbox", {})}
    genesys_settings = {**GENESYS, **overrides.pop("genesys", {})}
    connected = await connect(sandbox=sandbox_settings, genesys=genesys_settings)
    sandbox = connected.sandbox
    now = sandbox.now_ms()
    truth = [
        records.render(c, now, with_attributes=False)
        for c in sandbox.source.started_between(START_MS, END_MS)
    ]
    truth.sort(key=lambda r: (instant_ms(r["conversationStart"]), r["conversationId"]))
    return Harness(connected, hostile, tmp_path, truth, genesys_settings)
