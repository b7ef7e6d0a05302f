"""Retry policy shared by the tasks: transient failures only."""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from imagerelay.errors import PermanentError


def transient_only(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Retry unless the failure is a refusal that the same call would meet again."""
    return not isinstance(state.data, PermanentError)
