import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# devices measured on the developer's machine must not leak into tests: an empty store of our own
os.environ["ARCHSCOUT_HOME"] = tempfile.mkdtemp(prefix="archscout-test-home-")
atexit.register(shutil.rmtree, os.environ["ARCHSCOUT_HOME"], ignore_errors=True)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def device_store(tmp_path, monkeypatch):
    """An empty device store of our own; the devices a test registers are forgotten afterwards."""
    from archscout.hardware import DEVICES, _measured

    monkeypatch.setenv("ARCHSCOUT_HOME", str(tmp_path / "home"))
    entries, folders, loaded = dict(DEVICES._entries), dict(_measured._folders), set(_measured._loaded)
    yield tmp_path
    DEVICES._entries.clear()
    DEVICES._entries.update(entries)
    _measured._folders.clear()
    _measured._folders.update(folders)
    _measured._loaded.clear()
    _measured._loaded.update(loaded)
    _measured.version += 1  # cached cost models drop the forgotten devices
