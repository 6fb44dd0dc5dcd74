"""Generate the Python classes of flightmesh's protocol messages with grpcio-tools.

Run it as a script, so it works even when the committed ``*_pb2.py`` files are broken::

    .venv/bin/python server/proto/generate.py            # rewrite server/proto/*_pb2.py(i)
    .venv/bin/python server/proto/generate.py --check    # exit 1 if they differ from a fresh run

The generated files are committed (grpcio-tools is a development dependency only); the test
``tests/server/test_proto.py`` regenerates them into a temporary folder and compares, so the
``.proto`` sources and the Python classes cannot drift apart.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

__all__ = ["PROTO_DIR", "PROTO_FILES", "generate", "generated_names"]

PROTO_DIR = Path(__file__).resolve().parent
PROTO_FILES = ("FlightSql.proto", "FlightSession.proto")


def generated_names(proto_file: str) -> tuple[str, str]:
    """The module and stub file names protoc writes for ``proto_file``."""
    stem = Path(proto_file).stem
    return f"{stem}_pb2.py", f"{stem}_pb2.pyi"


def generate(output: Path, source: Path = PROTO_DIR) -> list[Path]:
    """Compile every file of ``PROTO_FILES`` from ``source`` into ``output``; return the outputs."""
    from grpc_tools import protoc  # development dependency: imported only when generating

    # The include path is the proto folder itself, so the descriptors register under the bare
    # file names ("FlightSql.proto") and the two files stay independent of each other.
    for name in PROTO_FILES:
        status = protoc.main(
            ["grpc_tools.protoc", f"-I{source}", f"--python_out={output}", f"--pyi_out={output}",
             str(source / name)]
        )
        if status != 0:
            raise RuntimeError(f"protoc failed on {name} (exit status {status})")
    return [output / generated for name in PROTO_FILES for generated in generated_names(name)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = parser.parse_args(argv)
    if not args.check:
        for path in generate(PROTO_DIR):
            print(f"wrote {path.relative_to(PROTO_DIR.parent.parent)}")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        stale = [path.name for path in generate(Path(scratch)) if not _same_file(path, PROTO_DIR / path.name)]
    if stale:
        print(f"out of date: {', '.join(stale)}; run `make proto`", file=sys.stderr)
        return 1
    print("generated protocol classes are up to date")
    return 0



def _same_file(fresh: Path, committed: Path) -> bool:
    return committed.exists() and filecmp.cmp(fresh, committed, shallow=False)


if __name__ == "__main__":
    sys.exit(main())
