"""Waivers: accepted failures, with a reason and an optional expiry date.

File format (YAML)::

    waivers:
      - id: sysctl.runtime
        reason: "kernel tuning is owned by the platform team (TICKET-123)"
        expires: 2027-03-31
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from harborkit.yamlfile import load_yaml, validate


@dataclass(frozen=True)
class Waiver:
    id: str
    reason: str
    expires: dt.date | None
    location: str

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and self.expires < today


def load_waivers(path: str | Path) -> list[Waiver]:
    doc = load_yaml(path, "waivers file")
    items = doc.data.get("waivers") if isinstance(doc.data, dict) else None
    for item in items if isinstance(items, list) else []:
        # YAML reads an unquoted 2027-03-31 as a date; the schema speaks of strings.
        if isinstance(item, dict) and isinstance(item.get("expires"), dt.date):
            item["expires"] = item["expires"].isoformat()
    validate(doc, "waivers.schema.json")
    out = []
    first: dict[str, int] = {}  # check id -> index of its waiver
    for i, item in enumerate(doc.data["waivers"]):
        if item["id"] in first:
            earlier = doc.where(("waivers", first[item["id"]], "id"))
            raise doc.error(
                ("waivers", i, "id"),
                f"a second waiver for {item['id']} (the first is at {earlier}): "
                "keep one waiver per check",
            )
        first[item["id"]] = i
        expires = item.get("expires")
        if isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires)
            except ValueError:
                raise doc.error(("waivers", i, "expires"), "not a YYYY-MM-DD date") from None
        out.append(Waiver(item["id"], item["reason"], expires, doc.where(("waivers", i))))
    return out
