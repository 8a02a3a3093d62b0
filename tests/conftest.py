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
