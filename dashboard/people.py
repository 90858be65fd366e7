"""People in front of people: an audit trail's actor (a username) as the person's name and role,
from the ``people`` map the dispatch API sends with an incident's detail (roster and department
staff names); the username only where no name is known."""

from __future__ import annotations

from dashboard.i18n import t


def person_label(username: str, people: dict | None, lang: str) -> str:
    """``王小明（网格员）`` / ``Wang (grid inspector)``; ``operator1（值班员）`` without a name;
    ``系统`` and ``市民`` for the system and citizens; the bare username for an unknown account."""
    person = (people or {}).get(username) or {}
    role = person.get("role")
    if role in ("system", "citizen") or (username in ("system", "citizen") and not person):
        return t(f"person.{role or username}", lang)
    name = person.get("name") or username
    if role is None or role == "unknown":
        return name
    # a department's staff by their department's name, others by their role
    what = person.get("department") or t(f"person.{role}", lang)
    return f"{name}（{what}）" if lang.startswith("zh") else f"{name} ({what})"
