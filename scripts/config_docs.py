"""Write the field tables of docs/configuration.md from the pydantic models.

uv run python scripts/config_docs.py          # rewrite the tables in place
uv run python scripts/config_docs.py --check  # exit 1 when they are stale
"""

from __future__ import annotations

import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imagerelay.inventory import Inventory, Target, Tier0  # noqa: E402
from imagerelay.settings import Settings  # noqa: E402

DOC = ROOT / "docs" / "configuration.md"


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type(a) for a in typing.get_args(annotation))
    if origin is not None:
        inner = ", ".join(_type(a) for a in typing.get_args(annotation))
        return f"{origin.__name__}[{inner}]"
    if annotation is type(None):
        return "none"
    return getattr(annotation, "__name__", str(annotation))


def _limits(field: FieldInfo) -> str:
    found = []
    metadata = list(field.metadata)
    for arg in typing.get_args(field.annotation):
        if typing.get_origin(arg) is typing.Annotated:
            for meta in arg.__metadata__:
                metadata += getattr(meta, "metadata", [meta])
    for meta in metadata:
        for name, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(meta, name, None)
            if value is not None:
                found.append(f"{symbol} {value}")
        pattern = getattr(meta, "pattern", None)
        if pattern:
            found.append(f"`{pattern}`".replace("|", "\\|"))
        if getattr(meta, "min_length", None) is not None:
            found.append(f"at least {meta.min_length} long")
    return ", ".join(found)


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return f"`{field.default_factory()}`"
    if field.default is PydanticUndefined:
        return "**required**"
    if field.default is None:
        return "unset"
    return f"`{field.default}`"


def table(model: type[BaseModel], name_of: Any = str) -> str:
    """A markdown table: name, type, default, limits and description per field."""
    lines = [
        "| field | type | default | allowed | description |",
        "|---|---|---|---|---|",
    ]
    for name, field in model.model_fields.items():
        description = (field.description or "").replace("|", "\\|")
        lines.append(
            f"| `{name_of(name)}` | {_type(field.annotation)} | {_default(field)} "
            f"| {_limits(field)} | {description} |"
        )
    return "\n".join(lines)


TABLES = {
    "inventory": lambda: table(Inventory),
    "tier0": lambda: table(Tier0),
    "target": lambda: table(Target),
    "settings": lambda: table(Settings, lambda n: f"IMAGERELAY_{n.upper()}"),
}


def render(text: str) -> str:
    """The document with every generated table replaced by a fresh one."""
    for key, make in TABLES.items():
        pattern = re.compile(
            rf"(<!-- generated:{key} -->\n).*?(<!-- end:{key} -->)", re.DOTALL
        )
        if not pattern.search(text):
            raise SystemExit(f"{DOC} lacks the markers of table {key}")
        text = pattern.sub(lambda m, make=make: m[1] + make() + "\n" + m[2], text)
    return text


def main() -> int:
    current = DOC.read_text()
    fresh = render(current)
    if "--check" in sys.argv:
        if fresh != current:
            print(f"{DOC} is stale: run uv run python scripts/config_docs.py")
            return 1
        return 0
    DOC.write_text(fresh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
