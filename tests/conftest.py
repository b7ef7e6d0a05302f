"""One local stack per test session: Azurite behind the fault proxy, ARM, Prefect."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import stack as devstack
from devstack.config import StackConfig
from devstack.faults import FaultProfile

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEST_INVENTORY = PROJECT_ROOT / "inventories" / "demo.yaml"
# Azurite also serves these accounts, for tests that set them up and remove them.
PROVISION_INVENTORY = PROJECT_ROOT / "tests" / "inventories" / "provision.yaml"
# Fixtures shared by the managed-disk tests: account, compute.
pytest_plugins = ["tests.devstack.managed_disks"]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    """A running stack in a temporary folder, with this process pointed at it."""
    state_dir = tmp_path_factory.mktemp("stack")
    config = devstack.up(
        state_dir,
        TEST_INVENTORY,
        worker=False,
        env_file=None,
        extra_inventories=(PROVISION_INVENTORY,),
        faults=FaultProfile(),
    )
    env = devstack.service_env(config, TEST_INVENTORY)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    _reload_settings()
    try:
        yield config
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        devstack.flush_prefect_clients()
        _reload_settings()
        devstack.down(state_dir, env_file=None)


def _reload_settings() -> None:
    """Make Prefect and imagerelay read the environment again (PREFECT_API_URL...)."""
    from prefect.context import refresh_global_settings_context

    from imagerelay.settings import get_settings

    refresh_global_settings_context()
    get_settings.cache_clear()
