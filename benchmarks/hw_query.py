"""Time HW-NAS-Bench queries: all metrics of all 15,625 NB201 archs in one call, and one query by string.

Targets: whole table < 20 ms, one query by arch string < 50 us (medians of repeated runs, warm cache).
Baseline in the same process: a plain pandas row lookup (``DataFrame.loc``) of the same arch.
"""

from __future__ import annotations

import statistics
import time

import archscout


def median_time(fn, repeat: int, number: int = 1) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def main() -> None:
    t0 = time.perf_counter()
    bench = archscout.get_cost_model("nb201", "cifar10")
    bench.query(0)  # loads and verifies the packaged tables once
    load = time.perf_counter() - t0
    arch = str(bench.space.from_index(9930))
    table = bench.table()

    whole = median_time(bench.table, repeat=50)
    single = median_time(lambda: bench.query(arch), repeat=30, number=200)
    by_index = median_time(lambda: bench.query(9930), repeat=30, number=200)
    baseline = median_time(lambda: table.loc[9930].to_dict(), repeat=30, number=200)

    print(f"first load (read + sha256 check + derive columns): {load * 1e3:8.1f} ms")
    print(f"all {table.shape[1]} metrics x {table.shape[0]} archs, one call:   {whole * 1e3:8.3f} ms  (target < 20 ms)")
    print(f"one query by arch string:                      {single * 1e6:8.1f} us  (target < 50 us)")
    print(f"one query by index:                            {by_index * 1e6:8.1f} us")
    print(f"baseline pandas .loc row -> dict:              {baseline * 1e6:8.1f} us  "
          f"(query by string is {baseline / single:.1f}x faster)")


if __name__ == "__main__":
    main()
