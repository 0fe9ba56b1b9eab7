"""The Dashboard's API definitions as products see them (pure): which versions each defines.

Tyk's facts (tyk-api/REFERENCE.md §9 "API ids"; Dashboard spec ``getApis``): ``GET /api/apis``
answers ``{apis: [{api_definition: {api_id, name, version_data: {not_versioned,
default_version, versions: {<name>: {...}}}}}], pages}`` (``apis`` may be null). The Gateway
checks a key's ``versions`` for an API unless the API is not versioned; an empty list denies
every request, and portal-made policies grant ``["Default"]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from portal_gitops.backends.tyk.quirks import text
from portal_gitops.state import LiveApi

DEFAULT_VERSION = "Default"


def live_api(wrapper: Mapping[str, Any]) -> LiveApi | None:
    """One item of ``GET /api/apis`` (or a bare definition) -> its ``LiveApi`` (None: no id)."""
    definition = wrapper.get("api_definition", wrapper)
    if not isinstance(definition, Mapping):
        return None
    api_id = text(definition.get("api_id"))
    if not api_id:
        return None
    data = definition.get("version_data")
    data = data if isinstance(data, Mapping) else {}
    versions = data.get("versions")
    names = sorted(str(v) for v in versions) if isinstance(versions, Mapping) else []
    versioned = data.get("not_versioned") is False
    if not versioned:
        names = sorted({*names, DEFAULT_VERSION})
        defaults: tuple[str, ...] = (DEFAULT_VERSION,)
    else:
        defaults = tuple(names)
    return LiveApi(api_id, text(definition.get("name")), versioned, tuple(names), defaults)


def live_apis(items: Iterable[Mapping[str, Any]]) -> dict[str, LiveApi]:
    """``GET /api/apis`` items by ``api_id``."""
    out: dict[str, LiveApi] = {}
    for item in items:
        api = live_api(item)
        if api is not None:
            out.setdefault(api.api_id, api)
    return out
