"""Where things come from: file, line and column of every node of a loaded YAML document."""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

Path = tuple[str | int, ...]
Shapes = dict[tuple[Path, ...], dict[Path, int]]


class Lines(Mapping[Path, int]):
    """The line of every node of one document, held compactly: documents whose nodes have the
    same paths in the same order (the documents of one kind, mostly) share one map of path to
    slot, and each keeps only its lines, 4 bytes a node. A dict per document cost about 1 KB."""

    __slots__ = ("_lines", "_slots")

    def __init__(self, slots: Mapping[Path, int], lines: array[int]):
        self._slots = slots
        self._lines = lines

    @classmethod
    def of(cls, lines: Mapping[Path, int], shapes: Shapes) -> Lines:
        """``lines`` held compactly, its map of slots shared through ``shapes``."""
        shape = tuple(lines)
        slots = shapes.get(shape)
        if slots is None:
            slots = shapes[shape] = {path: i for i, path in enumerate(shape)}
        return cls(slots, array("I", lines.values()))

    def __getitem__(self, path: Path) -> int:
        return self._lines[self._slots[path]]

    def __iter__(self) -> Iterator[Path]:
        return iter(self._slots)

    def __len__(self) -> int:
        return len(self._slots)

    def __repr__(self) -> str:
        return f"Lines({dict(self)!r})"


@dataclass(frozen=True)
class SourceLocation:
    file: str
    line: int  # 1-based
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class PositionIndex:
    """Maps a path inside a document (keys and list indices) to the line it starts on."""

    file: str
    lines: Mapping[Path, int] = field(default_factory=dict)

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
