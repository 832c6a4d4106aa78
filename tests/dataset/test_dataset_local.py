"""Acceptance (issue 15): the dataset, written by `run` on sandbox days, read back with DuckDB.

Three Berlin days are run for the demo's queue report (interval grain) with both tables on, and
the same days for a conversation-grain report of the same filters. DuckDB then recomputes, with
SQL over the Parquet files alone, each day's interval report (offered, answered, abandoned,
handled, AHT and ASA as sum/count per queue and medium) and the conversation report's totals:
every value must equal the report's. Re-running one day must leave every other file's bytes
alone and give the same rows; a run that fails mid-dataset must leave nothing new visible.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
import yaml

from app.dataset.ddl import Engine, ddl, sql_type
from app.dataset.schema import TABLES
from tests.cli import genesys_reports

REPO = Path(__file__).resolve().parents[2]
DAYS = ("2024-05-01", "2024-05-02", "2024-05-03")
JOURNEYS = "journeys"


def _bounds(day: str) -> tuple[str, str]:
    nxt = f"{day[:8]}{int(day[8:]) + 1:02d}"
    return f"{day}T00:00+02:00", f"{nxt}T00:00+02:00"


def _config(tmp: Path, **changes: Any) -> Path:
    document = yaml.safe_load((REPO / "settings.yaml").read_text())
    document["storage"]["directory"] = str(tmp / "reports")
    document["service"]["state_directory"] = str(tmp / "state")
    document["sandbox"]["jobs"] = {"delay": "PT0.2S"}
    (daily,) = [r for r in document["reports"] if r["name"] == "queue-daily"]
    daily |= {"formats": ["json"], "dataset": {"events": True, "conversations": True}}
    journeys = {
        "name": JOURNEYS,
        "timezone": "Europe/Berlin",
        "grain": "conversation",
        "filters": daily["filters"],
        "metrics": ["conversations", "offered", "answered", "abandoned", "handled"],
        "formats": ["json"],
        "dataset": {"conversations": True},
    }
    document["reports"] = [daily | changes, journeys]
    path = tmp / "settings.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _run(config: Path, day: str, *reports: str) -> subprocess.CompletedProcess[str]:
    start, end = _bounds(day)
    names = [arg for report in reports for arg in ("--report", report)]
    return genesys_reports(
        "run", "--config", config, *names, "--start", start, "--end", end, cwd=config.parent
    )


def _label(day: str) -> str:
    return f"{day.replace('-', '')}T0000+0200_"


def _report(tmp: Path, report: str, day: str) -> dict[str, Any]:
    (path,) = (tmp / "reports" / report).glob(f"{_label(day)}*/{report}_*.json")
    document: dict[str, Any] = orjson.loads(path.read_bytes())
    return document


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.parquet"))
    }


def _inodes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_ino for p in root.rglob("*.parquet")}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("dataset")
    config = _config(tmp)
    for day in DAYS:
        assert _run(config, day, "queue-daily", JOURNEYS).returncode == 0
    return tmp


EVENTS_SQL = """
SELECT queue_id, media_type,
       sum(value) FILTER (WHERE metric = 'nOffered') AS offered,
       count(*) FILTER (WHERE metric = 'tAnswered') AS answered,
       count(*) FILTER (WHERE metric = 'tAbandon') AS abandoned,
       count(*) FILTER (WHERE metric = 'tHandle') AS handled,
       sum(value) FILTER (WHERE metric = 'tHandle')
           / count(*) FILTER (WHERE metric = 'tHandle') / 1000 AS aht,
       sum(value) FILTER (WHERE metric = 'tAnswered')
           / count(*) FILTER (WHERE metric = 'tAnswered') / 1000 AS asa
FROM read_parquet($glob, hive_partitioning = true)
WHERE report = 'queue-daily' AND emit_time >= $start::TIMESTAMPTZ AND emit_time < $end::TIMESTAMPTZ
GROUP BY ALL
"""


def test_sql_over_the_events_gives_the_report_s_numbers(dataset: Path) -> None:
    root = dataset / "reports" / "_dataset"
    partitions = sorted(p.name for p in (root / "events").iterdir())
    # Berlin days straddle UTC midnights: each day's events span two UTC dates.
    assert partitions == [
        "date=2024-04-30",
        "date=2024-05-01",
        "date=2024-05-02",
        "date=2024-05-03",
    ]
    compared = 0
    for day in DAYS:
        start, end = _bounds(day)
        found = duckdb.execute(
            EVENTS_SQL, {"glob": str(root / "events/*/*.parquet"), "start": start, "end": end}
        ).fetchall()
        by_group = {(row[0], row[1]): row[2:] for row in found}
        rows = _report(dataset, "queue-daily", day)["rows"]
        assert len(rows) == len(by_group) > 10
        for row in rows:
            offered, answered, abandoned, handled, aht, asa = by_group[
                (row["queue_id"], row["media_type"])
            ]
            assert (offered or 0, answered, abandoned, handled) == (
                row["offered"],
                row["answered"],
                row["abandoned"],
                row.get("handled", handled),
            )
            # The report rounds once, at output: the same average, rounded the same way.
            assert (None if aht is None else round(aht, 2)) == row["avg_handle_seconds"]
            assert (None if asa is None else round(asa, 2)) == row["avg_speed_of_answer_seconds"]
            compared += 6
    print(f"\n{compared} values recomputed from the events with SQL, all equal")


def test_sql_over_the_conversations_gives_the_conversation_report_s_totals(
    dataset: Path,
) -> None:
    glob = str(dataset / "reports" / "_dataset" / "conversations/*/*.parquet")
    for day in DAYS:
        start, end = _bounds(day)
        totals = duckdb.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE offered), count(*) FILTER (WHERE answered),
                   count(*) FILTER (WHERE abandoned), count(*) FILTER (WHERE handled)
            FROM read_parquet($glob, hive_partitioning = true)
            WHERE report = $report AND start_time >= $start::TIMESTAMPTZ
              AND start_time < $end::TIMESTAMPTZ
            """,
            {"glob": glob, "report": JOURNEYS, "start": start, "end": end},
        ).fetchone()
        (row,) = _report(dataset, JOURNEYS, day)["rows"]
        metrics = ["conversations", "offered", "answered", "abandoned", "handled"]
        assert totals == tuple(row[m] for m in metrics) and row["conversations"] > 1000


def test_re_running_a_day_replaces_only_its_own_files(dataset: Path) -> None:
    root = dataset / "reports" / "_dataset"
    before, inodes = _files(root), _inodes(root)
    config = dataset / "settings.yaml"
    assert _run(config, DAYS[1], "queue-daily").returncode == 0
    # The data is the same, so the re-run period's files are the same bytes and rows.
    assert _files(root) == before
    # They are new files, moved in; no other file (other days, the other report's files of
    # the same day, in the same partitions) was touched.
    now = _inodes(root)
    replaced = sorted(path for path in now if now[path] != inodes[path])
    rerun = f"queue-daily_{_label(DAYS[1])}"
    assert replaced == sorted(path for path in now if rerun in path)
    assert len(replaced) == 4  # events and conversations, two UTC dates each


def test_a_run_failing_mid_dataset_leaves_nothing_new_visible(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert _run(config, DAYS[0], "queue-daily").returncode == 0
    root = tmp_path / "reports" / "_dataset"
    before = _files(root)
    directories = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())
    # Something else's file where the next day's last partition must go: the commit moves
    # three of its four files in, then cannot make the fourth partition's directory.
    (root / "events" / "date=2024-05-02").write_text("not a partition\n")
    failing = _run(config, DAYS[1], "queue-daily")
    assert failing.returncode == 1
    assert "moving the dataset files into" in failing.stderr
    assert "not a directory (" in failing.stderr and "date=2024-05-02)" in failing.stderr
    assert _files(root) == before  # the three moved files were taken back out
    after = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())
    assert after == directories  # and the partition directory the commit made is gone
    assert not list((tmp_path / "reports" / "queue-daily").glob("20240502*/manifest.json"))


def test_the_duckdb_ddl_makes_views_that_read_every_row(dataset: Path) -> None:
    config = dataset / "settings.yaml"
    printed = genesys_reports(
        "dataset", "ddl", "--engine", "duckdb", "--config", config, cwd=dataset
    ).stdout
    manifests = (dataset / "reports" / "_dataset" / "_manifests").rglob("*.json")
    rows: dict[str, int] = {"events": 0, "conversations": 0}
    for manifest in manifests:
        for entry in orjson.loads(manifest.read_bytes())["files"]:
            rows[entry["table"]] += entry["rows"]
    connection = duckdb.connect()
    connection.execute(printed)
    counted = connection.execute(
        "SELECT (SELECT count(*) FROM genesys_events), (SELECT count(*) FROM genesys_conversations)"
    ).fetchone()
    assert counted == (rows["events"], rows["conversations"]) and min(counted) > 1000
    dates = connection.execute("SELECT DISTINCT date FROM genesys_events ORDER BY 1").fetchall()
    # DuckDB reads the Hive partition values as dates.
    assert [str(d) for (d,) in dates] == ["2024-04-30", "2024-05-01", "2024-05-02", "2024-05-03"]


@pytest.mark.parametrize("engine", ["athena", "trino", "spark"])
def test_every_engine_s_ddl_defines_every_column_at_the_location(engine: Engine) -> None:
    text = ddl(engine, "s3://bucket/warehouse/")
    for table in TABLES.values():
        assert f"s3://bucket/warehouse/{table.name}/" in text
        for column in table.columns:
            declared = rf"[`\"]{column.name}[`\"] {re.escape(sql_type(column.type, engine))}"
            assert re.search(declared, text), (table.name, column.name)
    if engine == "athena":
        assert "'projection.date.type'='date'" in text
        assert "'storage.location.template'='s3://bucket/warehouse/events/date=${date}/'" in text
