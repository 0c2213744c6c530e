"""The benchmark runner's report: ratio/spread coverage and the learning-curve plot."""

import importlib

runner = importlib.import_module("benchmarks.__main__")


def test_coverage_names_records_without_ratio_or_spread():
    records = [
        # complete: a nested ratio ("us.vs_peer") and an interquartile range
        {"script": "bench_a", "bench": "a", "us": {"vs_peer": 0.9}, "iqr_us": 1.0},
        {"script": "bench_b", "name": "b1", "speedup": 2.0},  # no spread
        {"script": "bench_c", "bench": "c", "median_us": 3.0},  # neither
        {"script": "bench_d", "bench": "agents/done"},  # a marker, skipped
        {"script": "bench_e", "jax": "0.4", "fbx": True},  # no measurement, skipped
        {"script": "bench_f", "config": "f", "a_over_b": 0.5, "iqr_us": {"a": 1}},
        {"script": "bench_g", "config": "g", "us": 1.0, "peer": None},  # no ratio due
        {
            "script": "bench_h",
            "config": "h",
            "bytes": 7,
            "x_over_y": 0.5,
            "exact": True,
        },
        {"script": "bench_i", "config": "i", "bytes": 7, "exact": True},  # no ratio
    ]
    assert runner.coverage(records) == [
        "bench_b: b1 (no spread)",
        "bench_c: c (no ratio or spread)",
        "bench_g: g (no spread)",
        "bench_i: i (no ratio)",
    ]
    assert runner.without_peer(records) == ["bench_g: g"]


def test_markdown_lists_missing_ratios():
    records = [{"script": "bench_c", "ranks": 1, "bench": "c", "median_us": 3.0}]
    runs = [{"script": "bench_c.py", "runs": [{"ranks": 1, "exit": 0}]}]
    text = runner.markdown(records, {"total_seconds": 1.0}, runs, quick=True)
    assert "- bench_c: c (no ratio or spread)" in text
    assert "| 1 | c | 3 |" in text


def test_learning_curve_plot(tmp_path):
    curve = {"label": "ppo", "steps": [0, 10, 20], "returns": [[1, 5, 9], [2, 6, 8]]}
    path = tmp_path / "curves.png"
    assert not runner.plot_learning_curves([{"bench": "x"}], path)
    assert runner.plot_learning_curves([{"bench": "x", "curve": curve}], path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_benchmarks_set_the_same_xla_flags_as_rlblocks_train():
    # benchmarks/common.py keeps its own copy so that scripts can set XLA_FLAGS
    # before jax is first imported; it must not drift from the CLI's setting.
    from benchmarks import common
    from rlblocks.train import cli

    assert common.SINGLE_THREAD_XLA == cli.SINGLE_THREAD_XLA
