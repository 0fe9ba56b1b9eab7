"""validate's wall time and peak memory against bare YAML parsing of the same files.

    python benchmarks/bench_validate.py [--documents 10000]

Target (issue: manifests): validate <= 2x bare parsing at 10,000 documents.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from estate import write
from measure import measure, ratio_line


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--documents", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        n = write(Path(tmp), args.documents)
        bare = measure(
            setup=f"""
                import os, yaml
                from pathlib import Path
                files = sorted(p for p in Path({tmp!r}).rglob("*") if p.suffix in (".yaml", ".yml"))
            """,
            body="""
                docs = 0
                for p in files:
                    docs += sum(1 for _ in yaml.load_all(p.read_text(), Loader=yaml.CSafeLoader))
                extra = {"documents": docs}
            """,
            repeat=args.repeat,
        )
        val = measure(
            # commands.load_and_validate, composed here so that the child imports only the
            # loader and the validator (importing commands would add the backends to its peak)
            setup="""
                from portal_gitops.heap import collector_paused
                from portal_gitops.validate import validate_paths
            """,
            body=f"""
                with collector_paused():
                    result = validate_paths([{tmp!r}])
                assert result.ok, result.errors[:3]
                extra = {{"documents": len(result.manifests)}}
            """,
            repeat=args.repeat,
        )
    print(f"estate: {n} documents")
    print(f"bare YAML parse (CSafeLoader):      {bare.seconds:.3f} s, peak {bare.peak_mb:.0f} MB")
    print(f"validate:                           {val.seconds:.3f} s, peak {val.peak_mb:.0f} MB")
    print(ratio_line("validate / bare parse (time)", val.seconds, bare.seconds, 2.0))
    print(
        f"validate / bare parse (memory)     {val.peak_mb / bare.peak_mb:5.2f}x "
        "(reported; the issue sets no memory target)"
    )


if __name__ == "__main__":
    main()
