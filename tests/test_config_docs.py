"""docs/configuration.md lists every inventory field and setting as the models do."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from imagerelay.inventory import Target, Tier0
from imagerelay.settings import Settings

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "config_docs.py"


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("config_docs", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_tables_match_the_models() -> None:
    script = _script()
    current = script.DOC.read_text()

    assert script.render(current) == current, (
        "docs/configuration.md is stale: run uv run python scripts/config_docs.py"
    )
    for name in Settings.model_fields:
        assert f"`IMAGERELAY_{name.upper()}`" in current
    for name in {*Tier0.model_fields, *Target.model_fields}:
        assert f"| `{name}` |" in current
