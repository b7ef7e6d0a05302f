"""A JSON setting that is not JSON ends the command with one line, not a traceback.

(A value of the wrong type: test_upload_command.test_a_bad_setting_is_named...)
"""

from __future__ import annotations

import sys

import pytest

from imagerelay.cli import main
from imagerelay.settings import get_settings


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    args = ["imagerelay", "inventory", "generate", "--subscriptions",
            "11111111-1111-4111-8111-111111111111", "--regions", "eastus",
            "--prefix", "ir"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", args)
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exited:
            main()
    finally:
        get_settings.cache_clear()
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


def test_a_json_setting_that_is_not_json_is_named_without_its_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMAGERELAY_STORAGE_KEYS", '{"irtier0": "c2VjcmV0"')

    err = _run(monkeypatch, capsys)

    assert "IMAGERELAY_STORAGE_KEYS is not valid JSON" in err
    assert "c2VjcmV0" not in err
