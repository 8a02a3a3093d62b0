import os
import tempfile
from pathlib import Path

import pytest

# devices measured on the developer's machine must not leak into tests: an empty store of our own
os.environ["ARCHSCOUT_HOME"] = tempfile.mkdtemp(prefix="archscout-test-home-")

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES
