"""kill -9 / re-run cycles of ``archscout search --multi-trial``: does every study end whole, with no process left?

Each cycle starts the CLI on a fresh study (NB201, tabular evaluator) in a subprocess and kills it
with SIGKILL at a random moment: every fifth cycle (the first included) while it starts up, 0-1 s
after its first trial exists (pool workers still importing); the others once a random number of
trials in [1, 0.8 n) is COMPLETE, plus 0-50 ms. It then re-runs the same command to completion and
reads the study's SQLite file read-only. A cycle passes when the study holds n COMPLETE trials and
none RUNNING, the re-run exited 0, and no process of the killed driver or of the re-run (pool
workers, multiprocessing's resource tracker) is alive 30 s after its driver ended. Processes are
found by an environment marker given to each driver, which every descendant inherits (a /proc scan:
Linux). ``FAIL`` counts failed trials, ``void`` those of them given up without counting toward the
budget (a killed driver's trials). ``ownerless@kill`` counts the cycles killed while a trial existed
with no driver recorded (inside ``study.ask``): the gap that, unguarded, left a study at n-1
COMPLETE + 1 RUNNING. ``--aim`` (the test's setting) waits, after the chosen moment, up to 0.5 s for
such a trial and kills the driver as soon as one is seen.

Usage: ``python benchmarks/kill_cycles.py [--cycles 20] [--trials 300] [--workers 2] [--strategy rea]
[--aim] [--signal INT] [--json]``; exit 1 when a cycle fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

MARKER = "ARCHSCOUT_KILL_CYCLE"
STRATEGIES = ("optuna-tpe", "rea")
LEAK_GRACE_S = 30.0  # orphaned pool workers poll for their driver every 0.5 s, once done importing
EARLY_EVERY = 5  # cycles 0, 5, 10, ... are killed during start-up


@dataclass
class Cycle:
    """One kill / re-run of one strategy: the study's counts at the kill and at the end."""

    complete_at_kill: int = 0
    running_at_kill: int = 0
    ownerless_at_kill: int = 0  # RUNNING with no driver recorded: the window the engine must cover
    complete: int = 0
    running: int = 0
    fail: int = 0
    void: int = 0
    leaked_after_kill: int = 0
    leaked_after_rerun: int = 0
    gone_s: float = 0.0  # the longest a marked process lived on after its driver ended
    rerun_rc: int = 0
    seconds: float = 0.0
    error: str = ""

    def ok(self, n: int) -> bool:
        return (self.complete, self.running, self.rerun_rc, self.leaked_after_kill, self.leaked_after_rerun,
                self.error) == (n, 0, 0, 0, 0, "")


@dataclass
class Summary:
    strategy: str
    trials: int
    cycles: list[Cycle] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(c.ok(self.trials) for c in self.cycles)


OWNERLESS = ("SELECT count(*) FROM trials t WHERE t.state = 'RUNNING' AND NOT EXISTS (SELECT 1 FROM "
             "trial_system_attributes a WHERE a.trial_id = t.trial_id AND a.key = 'archscout:worker')")


def counts(db: Path, ownerless_only: bool = False) -> dict[str, int]:
    """Trials by state, plus ``void`` and ``ownerless`` (RUNNING without a driver), read-only; {} before the schema."""
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            out = {"ownerless": conn.execute(OWNERLESS).fetchone()[0]}
            if ownerless_only:
                return out
            out.update(conn.execute("SELECT state, count(*) FROM trials GROUP BY state").fetchall())
            out["void"] = conn.execute("SELECT count(*) FROM trial_system_attributes "
                                       "WHERE key = 'archscout:void'").fetchone()[0]
            return out
    except sqlite3.OperationalError:  # schema not created yet
        return {}


def marked(token: str) -> list[int]:
    """Live processes (zombies excluded) whose environment carries ``MARKER=token``."""
    needle = f"{MARKER}={token}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                if needle not in fh.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry.name}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    continue
        except OSError:  # gone meanwhile, or not ours to read
            continue
        found.append(int(entry.name))
    return found


def leaked(token: str, grace_s: float = LEAK_GRACE_S) -> tuple[list[int], float]:
    """Marked processes still alive after ``grace_s`` seconds (killed then, so the next cycle starts clean),
    and how long the others took to go."""
    start = time.time()
    while (pids := marked(token)) and time.time() < start + grace_s:
        time.sleep(0.05)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return pids, time.time() - start


def command(strategy: str, trials: int, name: str, run_dir: Path, workers: int, seed: int) -> list[str]:
    return [sys.executable, "-m", "archscout.cli", "search", "--multi-trial", "--space", "nb201",
            "--strategy", strategy, "--trials", str(trials), "--name", name, "--run-dir", str(run_dir),
            "--workers", str(workers), "--seed", str(seed), "--json"]


def _wait(proc: subprocess.Popen, until, deadline: float, poll_s: float = 0.01) -> bool:
    """Poll ``until()`` while the driver runs; False when it ended (or ``deadline`` passed) first."""
    while not until():
        if proc.poll() is not None or time.time() > deadline:
            return False
        time.sleep(poll_s)
    return True


def cycle(strategy: str, trials: int, run_dir: Path, name: str, workers: int, rng: random.Random,
          early: bool = False, aim: bool = False, sig: int = signal.SIGKILL, timeout_s: float = 600.0) -> Cycle:
    """One cycle (see the module docstring)."""
    out = Cycle()
    start = time.perf_counter()
    db = run_dir / name / "study.db"
    cmd = command(strategy, trials, name, run_dir, workers, rng.randrange(1000))
    token = uuid.uuid4().hex
    target = rng.randrange(1, max(2, trials - trials // 5))  # leave the last fifth: a kill after the run is none
    proc = subprocess.Popen(cmd, env={**os.environ, MARKER: token}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + timeout_s
    if early:
        reached = _wait(proc, lambda: sum(counts(db).get(k, 0) for k in ("RUNNING", "COMPLETE")) > 0, deadline)
        time.sleep(rng.uniform(0.0, 1.0) if reached else 0.0)
    else:
        reached = _wait(proc, lambda: counts(db).get("COMPLETE", 0) >= target, deadline)
        time.sleep(rng.uniform(0.0, 0.05) if reached else 0.0)
    if reached and aim:
        _wait(proc, lambda: counts(db, ownerless_only=True).get("ownerless", 0) > 0, min(deadline, time.time() + 0.5),
              poll_s=0.002)
    if proc.poll() is not None:
        out.error = f"the driver ended before the kill (rc {proc.returncode}): {proc.stderr.read().decode()[-300:]}"
        proc.stderr.close()
        return out
    proc.send_signal(sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        out.error = f"the driver was still alive 60 s after signal {sig}"
        proc.kill()
        proc.wait()
    proc.stderr.close()
    at_kill = counts(db)
    out.complete_at_kill, out.running_at_kill = at_kill.get("COMPLETE", 0), at_kill.get("RUNNING", 0)
    out.ownerless_at_kill = at_kill.get("ownerless", 0)
    pids, out.gone_s = leaked(token)
    out.leaked_after_kill = len(pids)
    token = uuid.uuid4().hex
    try:
        again = subprocess.run(cmd, env={**os.environ, MARKER: token}, capture_output=True, text=True,
                               timeout=timeout_s)
        out.rerun_rc = again.returncode
        if again.returncode:
            out.error = again.stderr.strip().splitlines()[-1] if again.stderr.strip() else "re-run failed"
    except subprocess.TimeoutExpired:
        out.rerun_rc, out.error = 124, f"the re-run took over {timeout_s:.0f} s"
    pids, gone_s = leaked(token)
    out.leaked_after_rerun, out.gone_s = len(pids), max(out.gone_s, gone_s)
    final = counts(db)
    out.complete, out.running = final.get("COMPLETE", 0), final.get("RUNNING", 0)
    out.fail, out.void = final.get("FAIL", 0), final.get("void", 0)
    out.seconds = time.perf_counter() - start
    return out


def run_strategy(strategy: str, cycles: int, trials: int, workers: int = 2, seed: int = 0,
                 run_dir: Path | None = None, progress=None, aim: bool = False,
                 early_every: int = EARLY_EVERY, sig: int = signal.SIGKILL) -> Summary:
    """``cycles`` kill / re-run cycles of ``strategy``, each on a fresh study of ``trials`` trials."""
    rng = random.Random(f"{seed}-{strategy}")
    summary = Summary(strategy, trials)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kill-cycles-") as tmp:
        base = Path(run_dir or tmp)
        for i in range(cycles):
            c = cycle(strategy, trials, base, f"kc-{strategy}-{i}-{uuid.uuid4().hex[:6]}", workers, rng,
                      early=i % early_every == 0, aim=aim, sig=sig)
            summary.cycles.append(c)
            if progress is not None:
                progress(strategy, i, c)
    summary.seconds = time.perf_counter() - start
    return summary


def table(summaries: list[Summary]) -> str:
    head = (f"{'strategy':<11} {'cycles':>6} {'passed':>6} {'COMPLETE':>9} {'RUNNING':>7} {'FAIL':>5} {'void':>5} "
            f"{'leaked':>6} {'gone_s':>6} {'early':>5} {'ownerless@kill':>14} {'seconds':>8}")
    rows = [head]
    for s in summaries:
        cs = s.cycles
        done = sorted({c.complete for c in cs})
        span = f"{done[0]}" if len(done) == 1 else f"{done[0]}-{done[-1]}"
        rows.append(f"{s.strategy:<11} {len(cs):>6} {s.passed:>6} {span:>9} {sum(c.running for c in cs):>7} "
                    f"{sum(c.fail for c in cs):>5} {sum(c.void for c in cs):>5} "
                    f"{sum(c.leaked_after_kill + c.leaked_after_rerun for c in cs):>6} "
                    f"{max((c.gone_s for c in cs), default=0.0):>6.1f} {sum(c.complete_at_kill == 0 for c in cs):>5} "
                    f"{sum(c.ownerless_at_kill > 0 for c in cs):>14} {s.seconds:>8.1f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2, help="--workers of the driver (2: a process pool)")
    parser.add_argument("--strategy", action="append", help=f"repeatable [{', '.join(STRATEGIES)}]")
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill moments and the drivers' seeds")
    parser.add_argument("--aim", action="store_true", help="kill as soon as a trial without a driver is seen")
    parser.add_argument("--signal", default="KILL", choices=["KILL", "INT", "TERM"],
                        help="the signal that stops the driver [KILL; INT: Ctrl-C, to the driver alone]")
    parser.add_argument("--json", action="store_true", help="print every cycle as JSON instead of the table")
    args = parser.parse_args(argv)

    def progress(strategy: str, i: int, c: Cycle) -> None:
        if not args.json:
            print(f"  {strategy} cycle {i + 1}: killed at {c.complete_at_kill} COMPLETE + {c.running_at_kill} "
                  f"RUNNING ({c.ownerless_at_kill} ownerless) -> {c.complete} COMPLETE, {c.running} RUNNING, "
                  f"{c.fail} FAIL ({c.void} void), leaked {c.leaked_after_kill}+{c.leaked_after_rerun} "
                  f"(all gone in {c.gone_s:.1f} s), "
                  f"{c.seconds:.1f} s {c.error}", flush=True)

    sig = getattr(signal, f"SIG{args.signal}")
    summaries = [run_strategy(s, args.cycles, args.trials, args.workers, args.seed, progress=progress, aim=args.aim,
                              sig=sig)
                 for s in args.strategy or STRATEGIES]
    if args.json:
        print(json.dumps([{**asdict(s), "passed": s.passed} for s in summaries], indent=1))
    else:
        print(f"{args.trials} trials per study, --workers {args.workers}, SIG{args.signal} then re-run:")
        print(table(summaries))
    return 0 if all(s.passed == len(s.cycles) for s in summaries) else 1


if __name__ == "__main__":
    sys.exit(main())
