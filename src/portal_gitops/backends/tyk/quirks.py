"""Tolerant parsers of the portal's documented quirks (pure): lists in three shapes, limits as
numbers or legacy strings, user references, names or IDs, timestamps, numbers as strings.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from portal_gitops.errors import ServerError

Json = dict[str, Any]


def text(value: Any) -> str:
    """A string field, or "" when it is missing or not a string."""
    return value if isinstance(value, str) else ""


def name_of(item: Mapping[str, Any]) -> str:
    """An object's ``Name`` ("" when missing)."""
    value = item.get("Name")
    return value if isinstance(value, str) else ""


def as_list(body: Any, *, operation: str = "") -> list[dict[str, Any]]:
    """A list reply as a list of objects: a bare array, ``{"data": [...]}`` or ``{"Data": [...]}``.

    ``null`` (or ``{"data": null}``) is an empty list. Non-object items are dropped.
    """
    items: Any = body
    if isinstance(body, Mapping):
        for key in ("data", "Data"):
            if key in body:
                items = body[key]
                break
        else:
            raise ServerError(
                f"unexpected reply: an object without a data array ({_describe(body)})",
                operation=operation,
            )
    if items is None:
        return []
    if not isinstance(items, list):
        raise ServerError(f"unexpected reply: not a list ({_describe(items)})", operation=operation)
    return [item for item in items if isinstance(item, dict)]


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "keys " + ", ".join(sorted(str(k) for k in value)[:8])
    return type(value).__name__


_PERIOD_SECONDS = {
    "second": 1,
    "sec": 1,
    "s": 1,
    "minute": 60,
    "min": 60,
    "m": 60,
    "hour": 3600,
    "h": 3600,
    "day": 86400,
    "d": 86400,
    "week": 604800,
    "month": 2592000,
    "year": 31536000,
}
_LIMIT_RE = re.compile(
    r"^\s*(?P<count>-?\d+(?:\.\d+)?)\s*(?:calls?|requests?)?\s*"
    r"(?:(?:/|per)\s*(?P<n>\d+(?:\.\d+)?)?\s*(?P<unit>[a-z]+)(?:\(s\)|s)?)?\s*$",
    re.IGNORECASE,
)


def parse_limit(value: Any) -> tuple[int | None, int | None]:
    """A plan limit as ``(count, period seconds)``; ``(None, None)`` means unlimited.

    Accepts integers (portal >= 1.13), numeric strings, and the legacy strings such as
    ``"1000 calls / 60 second(s)"``, ``"1000 calls / 1 minute(s)"`` or ``"unlimited"``.
    A count <= 0 means unlimited. The period is None when the value does not carry one.
    """
    if value is None or isinstance(value, bool):
        return (None, None)
    if isinstance(value, (int, float)):
        count = int(value)
        return (count, None) if count > 0 else (None, None)
    if not isinstance(value, str):
        return (None, None)
    text = value.strip()
    if not text or text.lower() in {"unlimited", "none", "disabled", "-1"}:
        return (None, None)
    match = _LIMIT_RE.match(text)
    if not match:
        return (None, None)
    count = int(float(match["count"]))
    if count <= 0:
        return (None, None)
    unit = (match["unit"] or "").lower()
    if not unit:
        return (count, None)
    unit = unit.removesuffix("(s)")
    seconds = _PERIOD_SECONDS.get(unit) or _PERIOD_SECONDS.get(unit.rstrip("s"))
    if seconds is None:
        return (count, None)
    n = float(match["n"]) if match["n"] else 1.0
    return (count, int(n * seconds))


_USER_REF_RE = re.compile(r"^\s*User\s*#\s*(\d+)\s*$", re.IGNORECASE)


def parse_user_ref(value: Any) -> int | None:
    """A user reference as an integer id: ``"User#6"``, ``6``, ``"6"`` or ``{"ID": 6}``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Mapping):
        return parse_user_ref(value.get("ID"))
    if isinstance(value, str):
        match = _USER_REF_RE.match(value)
        if match:
            return int(match[1])
        if value.strip().isdigit():
            return int(value.strip())
    return None


def parse_names(value: Any, known: Iterable[str] = ()) -> list[str]:
    """Names from a field that is a list of names, a list of objects, or one name string.

    Access requests' ``Products`` is sometimes one string: when it is not a known name but
    its comma-separated parts all are, it is split.
    """
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        known_set = set(known)
        if text in known_set or not known_set:
            return [text]
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return parts if all(p in known_set for p in parts) else [text]
    if isinstance(value, list):
        names: list[str] = []
        for item in value:
            if isinstance(item, str):
                names.append(item)
            elif isinstance(item, Mapping) and isinstance(item.get("Name"), str):
                names.append(item["Name"])
        return names
    return []


def parse_timestamp(value: Any) -> datetime | None:
    """A portal timestamp (``YYYY-MM-DD HH:MM`` or with seconds); ``""``/null is None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def as_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a numeric string; otherwise None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == int(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return int(number) if number == int(number) else None
    return None


def number(value: Any, default: int | float = 0) -> int | float:
    """A JSON number normalised: integral floats become ints; strings are parsed."""
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, (int, float)):
        return int(value) if float(value).is_integer() else value
    if isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            return default
        return int(parsed) if parsed.is_integer() else parsed
    return default


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent or invalid."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def provider_metadata(provider: Mapping[str, Any]) -> dict[str, Any]:
    """A provider's ``Configuration.MetaData`` decoded (it is a JSON-encoded string)."""
    config = provider.get("Configuration")
    raw = config.get("MetaData") if isinstance(config, Mapping) else None
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str) and raw.strip():
        try:
            decoded = json.loads(raw)
        except ValueError:
            return {}
        return dict(decoded) if isinstance(decoded, dict) else {}
    return {}


def _url_order(url: Json) -> tuple[str, list[str]]:
    return (url["url"], url["methods"])


def _api_order(right: Json) -> str:
    return str(right["apiId"])


def canonical_access_rights(access_rights: Any) -> list[Json]:
    """A policy's ``access_rights`` map in canonical form (sorted everywhere).

    Every product of a read goes through here: the common case (no URL rules) stays short.
    """
    rights: list[Json] = []
    if not isinstance(access_rights, dict):  # decoded JSON: objects are dicts
        return rights
    for api_key, entry in access_rights.items():
        if not isinstance(entry, dict):
            continue
        urls = []
        allowed = entry.get("allowed_urls")
        if allowed:
            for url in allowed:
                if isinstance(url, dict) and isinstance(url.get("url"), str):
                    methods = sorted({m for m in url.get("methods") or () if isinstance(m, str)})
                    urls.append({"url": url["url"], "methods": methods})
            urls.sort(key=_url_order)
        versions = entry.get("versions")
        api_id = entry.get("api_id")
        rights.append(
            {
                "apiId": api_id if isinstance(api_id, str) and api_id else str(api_key),
                "versions": sorted({v for v in versions if isinstance(v, str)}) if versions else [],
                "allowedUrls": urls,
            }
        )
    if len(rights) > 1:
        rights.sort(key=_api_order)
    return rights


def parse_redirect_urls(value: Any) -> list[str]:
    """An app's ``RedirectURLs``: a comma-separated string (as sent) or a list; sorted, unique."""
    if isinstance(value, list):
        urls = [u.strip() for u in value if isinstance(u, str) and u.strip()]
    elif isinstance(value, str):
        urls = [u.strip() for u in value.split(",") if u.strip()]
    else:
        urls = []
    return sorted(set(urls))


def parse_names_or_ids(value: Any, by_id: Mapping[int, str]) -> list[str]:
    """Catalogue ``Products``/``Plans``: names on read (as documented), IDs tolerated."""
    if isinstance(value, list):
        out = []
        for item in value:
            number_id = as_int(item) if not isinstance(item, str) else None
            if number_id is not None:
                out.append(by_id.get(number_id, f"#{number_id}"))
            else:
                out.extend(parse_names([item]))
        return out
    return parse_names(value)
