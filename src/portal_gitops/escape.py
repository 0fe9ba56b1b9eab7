"""Text that others typed, made safe for a terminal and a CI job log (pure).

Names, descriptions and app names come from contributors and from consumers typing into the
Live Portal. Printed as they are, a line break would start a line of their choosing (GitHub
Actions runs a log line that starts with ``::`` as a workflow command: ``::add-mask::``,
``::error::``), and escape sequences would let them rewrite what a terminal shows (a fake
"Plan: 0 to create"). Every character that moves the cursor, ends a line or reorders text is
shown as an escape instead; the markdown of PR comments has its own quoting (render.code).
"""

from __future__ import annotations

import re

# C0 controls (tab, line feed and escape among them), DEL, C1 controls, the Unicode line and
# paragraph separators, and the bidirectional overrides and isolates (text that reads
# differently from how it is stored: "Trojan Source", CVE-2021-42574)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` with every control, line-ending and reordering character shown escaped."""
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def log_safe_lines(text: str) -> str:
    """Output the tool made itself, one last time before it is printed: a line that would
    still begin a GitHub workflow command (``::``) is indented so the runner shows it."""
    if "::" not in text:
        return text
    return "\n".join(f" {line}" if line.startswith("::") else line for line in text.split("\n"))
