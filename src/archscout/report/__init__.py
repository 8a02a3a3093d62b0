"""Reports: tables, CSV files and plots of experiments and benchmarks; the main job's HTML report."""

from archscout.report._bench import bench_table, plot_bench, write_bench_csv
from archscout.report._html import render_html, write_report
from archscout.report._plots import plot_accuracy, plot_cells, plot_curves, plot_latency, png_bytes

__all__ = ["bench_table", "plot_accuracy", "plot_bench", "plot_cells", "plot_curves", "plot_latency", "png_bytes",
           "render_html", "write_bench_csv", "write_report"]
