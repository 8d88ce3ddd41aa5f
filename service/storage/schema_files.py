"""Finding and splitting the versioned schema files under ``schema/``."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"(\d{3})_([a-z0-9_]+)\.(cql|sql)")


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    text: str

    def statements(self) -> list[str]:
        """Statements end with ';' at the end of a line; '--' lines are comments."""
        lines = [
            line
            for line in self.text.splitlines()
            if not line.lstrip().startswith("--")
        ]
        body = "\n".join(lines)
        return [s.strip() for s in re.split(r";\s*\n", body + "\n") if s.strip()]


def schema_dir() -> Path:
    """schema/ of a source checkout or editable install, else the installed copy."""
    here = Path(__file__).resolve().parents[2] / "schema"
    if here.is_dir():
        return here
    installed = Path(sys.prefix) / "share" / "datapoints" / "schema"
    if installed.is_dir():
        return installed
    raise FileNotFoundError("the schema/ folder of this installation is missing")


def migrations(kind: str) -> list[Migration]:
    """The migrations for ``kind`` ("cassandra" or "sqlite"), in version order."""
    found = []
    for path in sorted((schema_dir() / kind).iterdir()):
        match = _NAME.fullmatch(path.name)
        if match:
            found.append(
                Migration(
                    int(match.group(1)),
                    match.group(2).replace("_", " "),
                    path.read_text(encoding="utf-8"),
                )
            )
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"schema/{kind} versions are not 1..N: {versions}")
    return found
