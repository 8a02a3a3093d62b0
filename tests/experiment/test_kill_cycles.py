"""benchmarks/kill_cycles.py at test size: kill -9 a driver, re-run it, and the study ends whole with no process left.

optuna-tpe goes through ``study.ask`` (its trial exists before its driver is recorded on it): the kills
are aimed at that gap, which used to end a study at n-1 COMPLETE + 1 RUNNING. rea takes the one-
transaction path, killed once while its process pool (``--workers 2``) starts, when workers used to
outlive their driver, and twice mid-run. The two strategies run side by side (about 40 s on 2 CPUs).
"""

from __future__ import annotations

import importlib.util
import random
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "kill_cycles.py"
_spec = importlib.util.spec_from_file_location("kill_cycles", _PATH)
kc = importlib.util.module_from_spec(_spec)
sys.modules["kill_cycles"] = kc  # dataclasses look their module up
_spec.loader.exec_module(kc)

TRIALS = 30
CYCLES = {"optuna-tpe": [dict(workers=1, aim=True)] * 3,  # kwargs of kill_cycles.cycle, one dict per cycle
          "rea": [dict(workers=2, early=True), dict(workers=1), dict(workers=1)]}


def _track(strategy: str, run_dir: Path) -> list:
    rng = random.Random(strategy)
    return [kc.cycle(strategy, TRIALS, run_dir, f"{strategy}-{i}-{uuid.uuid4().hex[:6]}", rng=rng, **kw)
            for i, kw in enumerate(CYCLES[strategy])]


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="the leak check scans /proc (Linux)")
def test_kill_9_cycles_end_whole_with_no_process_left(tmp_path):
    with ThreadPoolExecutor(len(CYCLES)) as pool:
        cycles = dict(zip(CYCLES, pool.map(_track, CYCLES, [tmp_path / s for s in CYCLES])))
    for s, cs in cycles.items():
        for i, c in enumerate(cs):
            assert c.error == "" and c.rerun_rc == 0, (s, i, c)
            assert (c.complete, c.running) == (TRIALS, 0), (s, i, c)
            assert (c.leaked_after_kill, c.leaked_after_rerun) == (0, 0), (s, i, c)
    assert sum(c.ownerless_at_kill > 0 for c in cycles["optuna-tpe"]) >= 2, cycles  # the gap was really hit
    assert cycles["rea"][0].complete_at_kill == 0, cycles  # killed during start-up
