"""Where things come from: file, line and column of every node of a loaded YAML document."""

from __future__ import annotations

from dataclasses import dataclass, field

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class SourceLocation:
    file: str
    line: int  # 1-based
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class PositionIndex:
    """Maps a path inside a document (keys and list indices) to the line it starts on."""

    file: str
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)

    def at(self, path: Path) -> SourceLocation:
        return SourceLocation(self.file, self.line_of(path))


def format_path(path: Path) -> str:
    """``("spec", "apis", 0, "apiId")`` -> ``spec.apis[0].apiId``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
