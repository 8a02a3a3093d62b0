"""Reports: tables, CSV files and plots of experiments and benchmarks."""

from archscout.report._bench import bench_table, plot_bench, write_bench_csv

__all__ = ["bench_table", "plot_bench", "write_bench_csv"]
