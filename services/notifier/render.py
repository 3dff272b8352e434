"""Messages from templates in files (``templates/``): the email's subject, plain text and
HTML, and the webhook's JSON body. What an event says lives in ``events.toml``; the layout
in ``message.txt`` and ``message.html``."""

from __future__ import annotations

import html
import json
import math
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from string import Template
from typing import Any
from uuid import UUID

from shared.models.notifications import EventType

TEMPLATES = Path(__file__).parent / "templates"
MISSING = "-"
FACTS = (("Names", "names"), ("Expires", "not_after"), ("Issuer", "issuer"),
         ("Serial", "serial"), ("Certificate", "certificate_id"), ("Request", "request_id"))


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return MISSING


@cache
def _events() -> dict[str, dict[str, str]]:
    with (TEMPLATES / "events.toml").open("rb") as source:
        loaded: dict[str, dict[str, str]] = tomllib.load(source)
    missing = {e.value for e in EventType} - loaded.keys()
    if missing:
        raise RuntimeError(f"events.toml lacks {sorted(missing)}")
    return loaded


@cache
def _layout(name: str) -> Template:
    return Template((TEMPLATES / name).read_text())


def _one_line(value: object) -> str:
    return re.sub(r"\s+", " ", str(value)).strip()


def problem_text(problem: object) -> str | None:
    """A problem object as one line: its detail, else its title."""
    if not isinstance(problem, dict):
        return None
    text = problem.get("detail") or problem.get("title")
    return _one_line(text) if text else None


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}" + ("" if number == 1 else "s")


def expires_in(seconds: object) -> str:
    """Time to expiry in words, rounded up: days from a day on, then hours, then minutes
    (a two-minute certificate does not "expire in 1 day")."""
    if not isinstance(seconds, int):
        return MISSING
    if seconds >= 86400:
        return _count(math.ceil(seconds / 86400), "day")
    if seconds >= 3600:
        return _count(math.ceil(seconds / 3600), "hour")
    return _count(max(1, math.ceil(seconds / 60)), "minute")


def values_of(event: EventType, data: dict[str, Any], occurred_at: datetime,
              threshold_days: int | None) -> _Values:
    listed = data.get("names")
    names = [str(n) for n in listed] if isinstance(listed, list) else []
    values = _Values({key: _one_line(value) for key, value in data.items()
                      if value is not None and not isinstance(value, dict | list)})
    values.update(
        event=event.value, occurred_at=occurred_at.isoformat(),
        name=_one_line(data.get("common_name") or (names[0] if names else "(no name)")),
        names=", ".join(names) or MISSING, days=expires_in(data.get("seconds_left")),
        problem=problem_text(data.get("problem")) or "no reason given",
    )
    if threshold_days is not None:
        values["threshold_days"] = str(threshold_days)
    return values


def render_email(event: EventType, data: dict[str, Any], occurred_at: datetime,
                 threshold_days: int | None = None) -> Rendered:
    parts = _events()[event.value]
    values = values_of(event, data, occurred_at, threshold_days)
    subject = _one_line(Template(parts["subject"]).substitute(values))
    summary = Template(parts["summary"]).substitute(values)
    next_step = Template(parts["next"]).substitute(values)
    facts = [(label, values[key]) for label, key in FACTS if values[key] != MISSING]
    problem = problem_text(data.get("problem"))
    text = _layout("message.txt").substitute(
        summary=summary, next=next_step, event=event.value, occurred_at=values["occurred_at"],
        facts="\n".join(f"{label + ':':<13}{value}" for label, value in facts),
        problem_block=f"\nProblem: {problem}\n" if problem else "",
    )
    e = html.escape
    page = _layout("message.html").substitute(
        summary=e(summary), next=e(next_step), event=e(event.value),
        occurred_at=e(values["occurred_at"]),
        facts="\n".join(f"<tr><th style=\"text-align: left; padding-right: 1em\">{e(label)}"
                        f"</th><td>{e(value)}</td></tr>" for label, value in facts),
        problem_block=f"<p><strong>Problem:</strong> {e(problem)}</p>" if problem else "",
    )
    return Rendered(subject, text, page)


def email_message(rendered: Rendered, *, sender: str, recipient: str, delivery_id: UUID,
                  now: datetime) -> EmailMessage:
    """A multipart/alternative message; its Message-ID is the delivery's, so a message sent
    twice (a notifier killed mid-send) is recognisably the same one."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{delivery_id}@certkeeper>"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def webhook_body(event: EventType, data: dict[str, Any], occurred_at: datetime,
                 threshold_days: int | None = None) -> bytes:
    """``{"type", "timestamp", "data"}`` as Standard Webhooks lays it out."""
    payload = dict(data)
    if threshold_days is not None:
        payload["threshold_days"] = threshold_days
    body = {"type": event.value, "timestamp": occurred_at.isoformat(), "data": payload}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
