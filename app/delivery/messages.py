"""What a notification says, per target format: a JSON summary, a Slack message (Block Kit),
a Microsoft Teams message (an Adaptive Card). Each carries the headline figures, as the
manifest records them, and the link to open (the HTML report if there is one, otherwise the
first file) with its expiry. Pure: sending is notify.py's job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.present.headline import HEADLINE, shown
from app.present.view import reconciliation_text

__all__ = [
    "ADAPTIVE_CARD",
    "MESSAGES",
    "headline_lines",
    "primary_file",
    "slack",
    "summary",
    "teams",
]

# The order in which a message picks the file to link: the page a person opens first.
_LINK_PREFERENCE = ("html", "xlsx", "csv", "csv.gz", "json", "json.gz")
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
SLACK_TEXT_LIMIT = 3000  # characters of a Block Kit section's text


def summary(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON notification: the report, the period, the headline, the links and expiry."""
    return {
        "report": manifest.get("report"),
        "period": manifest.get("period"),
        "status": manifest.get("status"),
        "completeness": manifest.get("completeness"),
        "conversations": manifest.get("counts", {}).get("conversations"),
        "headline": manifest.get("headline"),
        "reconciliation": reconciliation_text(manifest.get("reconciliation")),
        "link": _link(primary_file(manifest)),
        "files": [_link(entry) for entry in manifest.get("files", [])],
    }


def primary_file(manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    files: list[Mapping[str, Any]] = list(manifest.get("files", []))
    for fmt in _LINK_PREFERENCE:
        for entry in files:
            if entry.get("format") == fmt:
                return entry
    return files[0] if files else None


def headline_lines(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value as people read it) of each headline figure; none without a headline."""
    figures = manifest.get("headline") or {}
    if not figures:
        return []
    lines = []
    for metric, name in HEADLINE:
        value = shown(metric, figures.get(metric))
        target = figures.get("service_level_target_pct")
        if metric == "service_level" and target is not None:
            value += f" (target {shown('service_level_target_pct', target)})"
        lines.append((name, value))
    return lines


def slack(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Block Kit: a header, the headline as fields, the link with its expiry; ``text`` is the
    fallback notifications and screen readers use."""
    title = _title(manifest)
    entry = primary_file(manifest)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
    ]
    lines = headline_lines(manifest)
    if lines:
        blocks.append(
            {
                "type": "section",
                # Slack shows at most 10 fields per section, two per row.
                "fields": [
                    {"type": "mrkdwn", "text": f"*{_escape(name)}*\n{_escape(value)}"}
                    for name, value in lines[:10]
                ],
            }
        )
    # One section per file: a presigned link with a session token is ~1,400 characters, and
    # Slack refuses a section text over 3,000.
    blocks.extend(
        {"type": "section", "text": {"type": "mrkdwn", "text": line}}
        for line in _link_lines(manifest)
    )
    context = [_period_text(manifest)]
    reconciled = reconciliation_text(manifest.get("reconciliation"))
    if reconciled:
        context.append(reconciled)
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": _escape(text)} for text in context],
        }
    )
    fallback = [title, *(f"{name}: {value}" for name, value in lines)]
    if entry is not None:
        fallback.append(_expiry_text(entry))
    return {"text": "\n".join(fallback), "blocks": blocks}


def teams(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """An incoming-webhook message holding one Adaptive Card (version 1.4): the title, the
    period, the headline as a fact set, and a button opening the link."""
    entry = primary_file(manifest)
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": _title(manifest),
            "size": "Large",
            "weight": "Bolder",
            "wrap": True,
        },
        {"type": "TextBlock", "text": _period_text(manifest), "isSubtle": True, "wrap": True},
    ]
    lines = headline_lines(manifest)
    if lines:
        body.append({"type": "FactSet", "facts": [{"title": n, "value": v} for n, v in lines]})
    reconciled = reconciliation_text(manifest.get("reconciliation"))
    if reconciled:
        body.append({"type": "TextBlock", "text": reconciled, "wrap": True, "isSubtle": True})
    actions = []
    if entry is not None:
        body.append({"type": "TextBlock", "text": _expiry_text(entry), "wrap": True})
        if entry.get("url"):
            title = f"Open {entry.get('name')}"
            actions.append({"type": "Action.OpenUrl", "title": title, "url": entry["url"]})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }


MESSAGES = {"json": summary, "slack": slack, "teams": teams}


def _title(manifest: Mapping[str, Any]) -> str:
    period = manifest.get("period") or {}
    title = f"{manifest.get('report')} for {period.get('label')} is ready"
    if manifest.get("completeness") == "provisional":
        title += " (provisional)"
    return title


def _period_text(manifest: Mapping[str, Any]) -> str:
    period = manifest.get("period") or {}
    return f"{period.get('start')} to {period.get('end')} ({period.get('timezone')})"


def _link(entry: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {
        "name": entry.get("name"),
        "format": entry.get("format"),
        "url": entry.get("url"),
        "url_expires_at": entry.get("url_expires_at"),
    }


def _expiry_text(entry: Mapping[str, Any]) -> str:
    if entry.get("url_expires_at"):
        return f"{entry.get('name')}: link expires {entry.get('url_expires_at')}"
    return f"{entry.get('name')}: on the reports volume (no link)"


def _link_lines(manifest: Mapping[str, Any]) -> list[str]:
    """One mrkdwn line per file, the one to open first; a link too long for a Slack section
    is left to the manifest rather than cut."""
    entry = primary_file(manifest)
    if entry is None:
        return ["No files."]
    lines = []
    for item in [entry, *(f for f in manifest.get("files", []) if f is not entry)]:
        name = _escape(str(item.get("name")))
        target = item.get("url")
        line = f"\u2022 {name}"
        if target:
            line = f"\u2022 <{target}|{name}> (link expires {item.get('url_expires_at')})"
            if len(line) > SLACK_TEXT_LIMIT:
                line = f"\u2022 {name} (its link is too long for Slack: see the manifest)"
        lines.append(line)
    return lines


def _escape(text: str) -> str:
    # Slack's mrkdwn reads <, > and & as markup: names from Genesys must stay text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
