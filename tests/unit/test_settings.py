"""The settings loader: interpolation, secrets from files, and every error with its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from app.errors import ConfigError
from app.settings import load_settings, parse_settings, resolve_config_path

REPO = Path(__file__).resolve().parents[2]


def _problems(raw: Any, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw, environ=environ or {})
    return caught.value.problems


def _minimal(**report: Any) -> dict[str, Any]:
    return {"reports": [{"name": "r", **report}]}


def test_committed_settings_are_the_embedded_default() -> None:
    settings = load_settings(REPO / "settings.yaml", environ={})
    assert settings.genesys.environment == "sandbox"
    assert settings.storage.kind == "local"
    assert settings.storage.directory == Path("reports")
    assert settings.service.state_directory == Path("state")
    assert [r.name for r in settings.reports] == ["queue-daily", "agent-hourly", "wrapup-journeys"]
    daily, hourly, journeys = settings.reports
    assert daily.timezone == "Europe/Berlin" and daily.period == "previous_day"
    assert hourly.period == "previous_hour" and "agent_id" in hourly.group_by
    # Genesys' own counting for the two operational reports, the journey view for the third.
    assert (daily.grain, hourly.grain, journeys.grain) == ("interval", "interval", "conversation")
    assert daily.service_level.target_seconds is None  # each queue's own targets
    assert journeys.group_by == ["wrapup_code"] and "efficiency_score" in journeys.metrics


def test_every_key_a_grain_cannot_use_is_reported_at_once() -> None:
    problems = _problems(
        _minimal(
            grain="conversation",
            lookback="PT6H",
            metrics=["flowouts"],
            service_level={"include_flowouts": True, "exclude_short_abandons": True},
        )
    )
    assert [p.split(":")[0] for p in problems] == [
        "reports[0].lookback",
        "reports[0].metrics",
        "reports[0].service_level.exclude_short_abandons",
        "reports[0].service_level.include_flowouts",
    ]


def test_reconcile_is_on_for_the_interval_grain_and_off_for_the_conversation_grain() -> None:
    interval = parse_settings(_minimal()).reports[0]
    journeys = parse_settings(_minimal(grain="conversation")).reports[0]
    strict = parse_settings(_minimal(reconcile="strict")).reports[0]
    assert (interval.reconcile_mode, journeys.reconcile_mode) == ("on", "off")
    assert strict.reconcile_mode == "strict"


def test_a_custom_metric_may_use_one_defined_before_it() -> None:
    settings = parse_settings(_minimal(custom_metrics={"a": "answered * 2", "b": "a + 1"}))
    assert settings.reports[0].custom_metrics == {"a": "answered * 2", "b": "a + 1"}
    problems = _problems(_minimal(custom_metrics={"b": "a + 1", "a": "answered * 2"}))
    assert problems == ["reports[0].custom_metrics.b: unknown metric 'a'"]


def test_three_kinds_of_problem_are_reported_together(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "genesys:\n  environment: sandbox\n  colour: blue\n"
        "  client_secret: ${UNSET_SECRET_FOR_TEST}\n"
        "reports:\n  - name: a\n  - name: b\n    schedule: '0 25 * * *'\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(bad, environ={})
    problems = caught.value.problems
    assert len(problems) == 3
    assert any(p.startswith("genesys.colour: unknown key") for p in problems)
    assert any(
        p.startswith("reports[1].schedule: invalid hour field") and "25" in p for p in problems
    )
    assert (
        "genesys.client_secret: environment variable UNSET_SECRET_FOR_TEST is not set" in problems
    )


def test_unknown_key_suggests_the_nearest_name() -> None:
    problems = _problems(_minimal(timezon="UTC"))
    assert problems[0].startswith("reports[0].timezon: unknown key (did you mean 'timezone'?)")


def test_interpolation_defaults_and_literal_dollar() -> None:
    raw = {
        "genesys": {
            "environment": "${ENV_NAME:-us-west-2}",
            "client_id": "${CID}",
            "client_secret": "pa$$word",
        },
        "reports": [{"name": "r"}],
    }
    settings = parse_settings(raw, environ={"CID": "abc"})
    assert settings.genesys.environment == "usw2.pure.cloud"
    assert settings.genesys.client_id == "abc"
    secret = settings.genesys.secret()
    assert secret is not None and secret.get_secret_value() == "pa$word"


def test_secret_from_file_and_its_problems(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cr3t\n")
    genesys = {
        "environment": "mypurecloud.ie",
        "client_id": "id",
        "client_secret_file": str(secret_file),
    }
    raw: dict[str, Any] = {"genesys": genesys, "reports": [{"name": "r"}]}
    settings = parse_settings(raw, environ={})
    secret = settings.genesys.secret()
    assert secret is not None and secret.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(settings)

    missing = dict(raw, genesys={**genesys, "client_secret_file": str(tmp_path / "nope")})
    assert any(p.startswith("genesys.client_secret_file: cannot read") for p in _problems(missing))
    both = dict(raw, genesys={**genesys, "client_secret": "x"})
    assert any("not both" in p for p in _problems(both))


def test_real_environment_needs_credentials() -> None:
    problems = _problems(
        {"genesys": {"environment": "mypurecloud.com"}, "reports": [{"name": "r"}]}
    )
    assert problems == [
        "genesys: environment mypurecloud.com needs client_id and client_secret "
        "(or client_secret_file)"
    ]


@pytest.mark.parametrize(
    ("report", "key", "fragment"),
    [
        ({"timezone": "Europe/Berln"}, "reports[0].timezone", "not an IANA time zone"),
        ({"schedule": "0 6 * *"}, "reports[0].schedule", "has 4 fields"),
        ({"schedule": "0 6 * * 9"}, "reports[0].schedule", "day-of-week"),
        ({"period": "yesterday"}, "reports[0].period", "previous_day"),
        ({"period": "P1M"}, "reports[0].period", "look-back duration"),
        ({"window": "P1M"}, "reports[0].window", "no fixed length"),
        ({"window": "PT0S"}, "reports[0].window", "longer than zero"),
        ({"group_by": ["queue"]}, "reports[0].group_by[0]", "'queue' is not allowed"),
        ({"metrics": []}, "reports[0].metrics", "at least one metric"),
        ({"metrics": ["answered", "answered"]}, "reports[0].metrics", "more than once"),
        ({"formats": ["pdf"]}, "reports[0].formats[0]", "'pdf' is not allowed"),
        (
            {"grain": "conversation", "dataset": {"events": True}},
            "reports[0].dataset.events",
            "needs grain: interval",
        ),
        ({"name": "../etc"}, "reports[0].name", "letters, digits"),
        # v1's key is named with its replacement.
        (
            {"service_level_seconds": 20},
            "reports[0].service_level_seconds",
            "replaced by service_level.target_seconds",
        ),
        (
            {"service_level": {"default_seconds": 0}},
            "reports[0].service_level.default_seconds",
            "greater than 0",
        ),
        (
            {"service_level": {"target_second": 20}},
            "reports[0].service_level.target_second",
            "did you mean 'target_seconds'",
        ),
        ({"grain": "event"}, "reports[0].grain", "'event' is not allowed"),
        ({"lookback": "P32D"}, "reports[0].lookback", "PT0S to P31D"),
        ({"lookback": "P1M"}, "reports[0].lookback", "no fixed length"),
        # What a grain cannot compute is refused, naming the key and the other grain.
        ({"group_by": ["abandoned"]}, "reports[0].group_by", "grain: conversation"),
        ({"metrics": ["avg_duration_seconds"]}, "reports[0].metrics", "only in grain: conv"),
        ({"include_ongoing": True}, "reports[0].include_ongoing", "only in grain: conversation"),
        (
            {"custom_metrics": {"x": "avg_duration_seconds / 60"}},
            "reports[0].custom_metrics.x",
            "metric 'avg_duration_seconds' is only in grain: conversation",
        ),
        (
            {"grain": "conversation", "metrics": ["conversations", "flowouts"]},
            "reports[0].metrics",
            "flowouts: only in grain: interval",
        ),
        (
            {"grain": "conversation", "custom_metrics": {"x": "short_abandoned + 1"}},
            "reports[0].custom_metrics.x",
            "metric 'short_abandoned' is only in grain: interval",
        ),
        ({"grain": "conversation", "lookback": "PT6H"}, "reports[0].lookback", "only in grain"),
        ({"grain": "conversation", "reconcile": "on"}, "reports[0].reconcile", "only in grain"),
        ({"reconcile": "always"}, "reports[0].reconcile", "'always' is not allowed"),
        (
            {"grain": "conversation", "service_level": {"include_flowouts": True}},
            "reports[0].service_level.include_flowouts",
            "only in grain: interval",
        ),
        (
            {"service_level": {"target_seconds": float("inf")}},  # YAML .inf
            "reports[0].service_level.target_seconds",
            "finite number",
        ),
        # A misspelt grain is one problem, not also every metric it would have allowed.
        (
            {"grain": "conversatoin", "metrics": ["avg_duration_seconds"]},
            "reports[0].grain",
            "'conversatoin' is not allowed",
        ),
        ({"fetch": "fast"}, "reports[0].fetch", "'fast' is not allowed"),
        ({"filters": {"media_types": ["phone"]}}, "reports[0].filters.media_types", "phone"),
        ({"custom_metrics": {"x": "answered +"}}, "reports[0].custom_metrics.x", "not an expr"),
        (
            {"custom_metrics": {"x": "answered.__class__"}},
            "reports[0].custom_metrics.x",
            "Attribute is not allowed",
        ),
        (
            {"custom_metrics": {"x": "open('f')"}},
            "reports[0].custom_metrics.x",
            "may be called",
        ),
        (
            {"custom_metrics": {"answered": "offered"}},
            "reports[0].custom_metrics",
            "built-in metric names: answered",
        ),
    ],
)
def test_report_problems_name_their_key(report: dict[str, Any], key: str, fragment: str) -> None:
    problems = _problems(_minimal(**report))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{key}: "), problems
    assert fragment in problems[0]


def test_a_group_column_cannot_also_be_a_metric_column() -> None:
    problems = _problems(
        _minimal(
            grain="conversation",
            group_by=["answered", "queue_id"],
            metrics=["answered"],
            custom_metrics={"queue_name": "offered"},
        )
    )
    assert problems == [
        "reports[0]: answered, queue_name would be both a group column and a metric column; "
        "drop one of them"
    ]


def test_custom_metric_expressions_over_metric_names_are_accepted() -> None:
    expression = "round(service_level * 100, 1) if offered > 0 else max(0, answered)"
    settings = parse_settings(_minimal(custom_metrics={"sla_pct": expression}), environ={})
    assert settings.reports[0].custom_metrics == {"sla_pct": expression}


def test_duplicate_report_names_are_reported_with_other_problems() -> None:
    raw = {"reports": [{"name": "x"}, {"name": "x", "window": "bad"}]}
    problems = _problems(raw)
    assert "reports[1].name: 'x' is used by another report" in problems
    assert any(p.startswith("reports[1].window:") for p in problems)


def test_storage_and_s3_presign_bounds() -> None:
    raw: dict[str, Any] = {"storage": {"kind": "s3"}, "reports": [{"name": "r"}]}
    assert _problems(raw) == [
        "storage: kind is s3 but there is no s3 section (bucket, region, ...)"
    ]
    raw["storage"]["s3"] = {"bucket": "reports-bucket", "presign_expiry": "P8D"}
    assert _problems(raw) == [
        "storage.s3.presign_expiry: SigV4 presigned URLs last from 1 second to 7 days (P7D)"
    ]
    raw["storage"]["s3"]["presign_expiry"] = "PT12H"
    settings = parse_settings(raw, environ={})
    assert settings.storage.s3 is not None
    assert settings.storage.s3.presign_expiry.total_seconds() == 43_200


def test_endpoints_need_https_unless_loopback_or_allowed() -> None:
    """Issue 13, item 9: tokens and S3 signatures must not go to a remote host in clear."""
    raw: dict[str, Any] = {
        "genesys": {
            "environment": "mypurecloud.ie",
            "client_id": "id",
            "client_secret": "secret",
            "api_url": "http://api.example.com",
            "login_url": "http://login.example.com",
        },
        "storage": {
            "kind": "s3",
            "s3": {"bucket": "reports-bucket", "endpoint_url": "http://minio:9000"},
        },
        "reports": [{"name": "r"}],
    }
    problems = _problems(raw)
    assert [p.split(":")[0] for p in problems] == [
        "genesys.api_url",
        "genesys.login_url",
        "storage.s3.endpoint_url",
    ]
    assert all("must use https://" in p and "allow_insecure_http" in p for p in problems)
    raw["genesys"]["allow_insecure_http"] = True
    raw["storage"]["s3"]["allow_insecure_http"] = True
    assert parse_settings(raw, environ={}).storage.s3 is not None
    loopback = {
        **raw,
        "genesys": {**raw["genesys"], "allow_insecure_http": False, "api_url": "http://[::1]:8"},
        "storage": {
            "kind": "s3",
            "s3": {"bucket": "reports-bucket", "endpoint_url": "http://127.0.0.1:9000"},
        },
    }
    loopback["genesys"]["login_url"] = "http://localhost:8"
    assert parse_settings(loopback, environ={}).genesys.api_url == "http://[::1]:8"


def test_sandbox_fault_rules_need_one_mode() -> None:
    raw = {"sandbox": {"faults": [{"endpoint": "details_query"}]}, "reports": [{"name": "r"}]}
    assert _problems(raw)[0].startswith("sandbox.faults[0]: give either kind")
    raw = {"sandbox": {"faults": [{"script": ["503", "boom"]}]}, "reports": [{"name": "r"}]}
    assert _problems(raw)[0].startswith("sandbox.faults[0].script[1]:")


@pytest.mark.parametrize(
    ("sandbox", "fragment"),
    [
        ({"faults": [{"endpoint": "users", "kind": "job_failed"}]}, "use endpoint jobs_submit"),
        ({"faults": [{"endpoint": "token", "script": ["revoke_token"]}]}, "not on the token"),
        ({"limits": {"default_page_size": 200}}, "larger than max_page_size"),
        ({"jobs": {"default_page_size": 20000}}, "larger than max_page_size"),
    ],
)
def test_sandbox_consistency(sandbox: dict[str, Any], fragment: str) -> None:
    problems = _problems({"sandbox": sandbox, "reports": [{"name": "r"}]})
    assert len(problems) == 1 and fragment in problems[0], problems


def test_top_level_shape_problems() -> None:
    assert _problems([1, 2]) == ["(top level): expected a mapping of sections"]
    assert _problems({"reports": []})[0].startswith("reports: ")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("reports:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.problems[0].startswith("line ")
    assert "not valid YAML" in caught.value.problems[0]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "absent.yaml", environ={})
    assert "cannot read" in caught.value.problems[0]


def test_config_path_precedence() -> None:
    env = {"GENESYS_REPORTS_CONFIG": "/etc/gr.yaml"}
    assert resolve_config_path("cli.yaml", env) == Path("cli.yaml")
    assert resolve_config_path(None, env) == Path("/etc/gr.yaml")
    assert resolve_config_path(None, {}) == Path("settings.yaml")


def test_settings_are_frozen() -> None:
    settings = parse_settings(_minimal(), environ={})
    with pytest.raises(ValueError, match="frozen"):
        settings.reports[0].name = "other"


def test_yaml_is_read_safely(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("reports: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert "not valid YAML" in caught.value.problems[0]
    assert yaml.safe_dump({"ok": 1})  # the loader above used safe_load, not an unsafe one


@pytest.mark.parametrize(
    "listen",
    [
        "9464",
        ":9464",
        "0.0.0.0:",
        "host:65536",
        "host:\uff19\uff14",
        "h:-1",
        "::9464",
        "[::1:9464",
        "::1]:80",
    ],
)
def test_a_listen_address_must_be_host_and_port(listen: str) -> None:
    problems = _problems({**_minimal(), "service": {"listen": listen}})
    assert len(problems) == 1 and problems[0].startswith("service.listen: ")
    assert "is not host:port" in problems[0]


@pytest.mark.parametrize(
    ("listen", "address"),
    [
        ("0.0.0.0:9464", ("0.0.0.0", 9464)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:80", ("localhost", 80)),
    ],
)
def test_listen_addresses(listen: str, address: tuple[str, int]) -> None:
    settings = parse_settings({**_minimal(), "service": {"listen": listen}}, environ={})
    assert settings.service.listen_address() == address
    assert parse_settings(_minimal(), environ={}).service.listen_address() is None


def test_nested_yaml_aliases_are_refused_before_they_expand(tmp_path: Path) -> None:
    """Issue 13, item 9: a 328-byte file of nested anchors took 15 s and 263 MiB."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, 8):
        lines.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join([*lines, "reports: [{name: x}]", ""]))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.problems == [
        "(file): expands to more than 100000 values once its aliases are followed; a settings "
        "file needs far fewer (are anchors nested?)"
    ]


def test_ordinary_yaml_anchors_still_work(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "reports:\n"
        "  - &base {name: a, timezone: Europe/Berlin, group_by: [queue_id]}\n"
        "  - {<<: *base, name: b}\n"
    )
    settings = load_settings(path, environ={})
    assert [(r.name, r.timezone) for r in settings.reports] == [
        ("a", "Europe/Berlin"),
        ("b", "Europe/Berlin"),
    ]


@pytest.mark.parametrize(
    ("mode", "fragment"),
    [("644x", "not an octal file mode"), ("0755", "executable"), ("0440", "owner read and write")],
)
def test_file_mode_is_checked(mode: str, fragment: str) -> None:
    problems = _problems({"storage": {"file_mode": mode}, "reports": [{"name": "r"}]})
    assert len(problems) == 1 and problems[0].startswith("storage.file_mode: ")
    assert fragment in problems[0]


def test_file_mode_gives_directories_their_search_bits() -> None:
    settings = parse_settings({"storage": {"file_mode": "0664"}, "reports": [{"name": "r"}]})
    assert (settings.storage.file_mode_bits, settings.storage.directory_mode_bits) == (0o664, 0o775)
    default = parse_settings({"reports": [{"name": "r"}]}).storage
    assert (default.file_mode_bits, default.directory_mode_bits) == (0o640, 0o750)
