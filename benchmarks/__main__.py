"""Run every benchmarks/bench_*.py and write benchmarks/results/latest.{md,json}.

    python -m benchmarks            # full run
    python -m benchmarks --quick    # a few minutes
    python -m benchmarks --only replay allreduce

A script that declares ``MPI_RANKS = (2, 4)`` at module level runs under
``mpirun -n K`` once per K (rank 0 prints the records). Every script prints one JSON
object per line; other output is passed through to the log.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "results"
MPI_DECL = re.compile(r"^MPI_RANKS\s*=\s*\(([\d,\s]*)\)", re.M)


def discover(only: list[str] | None) -> list[pathlib.Path]:
    """The benchmark scripts, optionally filtered by topic name."""
    scripts = sorted(HERE.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in only]
    return scripts


def launches(script: pathlib.Path) -> list[tuple[int, list[str]]]:
    """The command lines that run one script: plain, or once per MPI rank count."""
    match = MPI_DECL.search(script.read_text())
    if not match:
        return [(1, [sys.executable, str(script)])]
    mpirun = pathlib.Path(sys.executable).parent / "mpirun"
    counts = [int(n) for n in match.group(1).replace(",", " ").split()]
    flags = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
    return [
        (n, [str(mpirun), *flags, "-n", str(n), sys.executable, str(script)])
        for n in counts
    ]


def _text(stream) -> str:
    return stream.decode() if isinstance(stream, bytes) else (stream or "")


def run(script: pathlib.Path, quick: bool, timeout: float) -> tuple[list[dict], dict]:
    """Run one script under each of its launches; return records and run facts."""
    records, facts = [], {"script": script.name, "runs": []}
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    for ranks, cmd in launches(script):
        cmd = cmd + (["--quick"] if quick else [])
        start = time.perf_counter()
        try:
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, env=env
            )
            code, stdout, stderr = out.returncode, out.stdout, out.stderr
        except subprocess.TimeoutExpired as exc:
            code, stdout, stderr = "timeout", _text(exc.stdout), _text(exc.stderr)
        seconds = time.perf_counter() - start
        for line in stdout.splitlines():
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                records.append({"script": script.stem, "ranks": ranks, **record})
        facts["runs"].append(
            {"ranks": ranks, "exit": code, "seconds": round(seconds, 1)}
        )
        status = "ok" if code == 0 else f"FAILED ({code})"
        print(f"{script.name} ranks={ranks}: {status} in {seconds:.1f}s", flush=True)
        if code != 0:
            print(stderr[-3000:], file=sys.stderr)
    return records, facts


def machine() -> dict:
    """Machine and library facts recorded next to every result."""
    facts = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    probe = (
        "import json, jax, numpy, importlib.metadata as m\n"
        "v = {'jax': jax.__version__, 'numpy': numpy.__version__}\n"
        "for p in ('mpi4py', 'openmpi', 'rlax', 'flashbax', 'gymnasium'):\n"
        "    try: v[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: v[p] = None\n"
        "print(json.dumps(v))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if out.returncode == 0:
        facts.update(json.loads(out.stdout))
    return facts


def flatten(record: dict, prefix: str = "") -> dict:
    """Nested dicts become dotted keys: {"us": {"ours": 1}} -> {"us.ours": 1}."""
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return "…"
    return str(value)


RATIO_KEY = re.compile(r"ratio|speedup|scaling|(^|\.)vs_|_over_")
SPREAD_KEY = re.compile(r"iqr|spread")
MARKER = re.compile(r"/done$")


def measured(flat: dict) -> bool:
    """Whether a flattened record holds a number besides its rank count."""
    return any(
        isinstance(v, int | float) and not isinstance(v, bool)
        for k, v in flat.items()
        if k != "ranks"
    )


def without_peer(records: list[dict]) -> list[str]:
    """Describe the records that declare ``"peer": null`` (no library to compare)."""
    return [
        f"{r['script']}: {r.get('name') or r.get('bench') or r.get('config', '?')}"
        for r in records
        if "peer" in r and r["peer"] is None
    ]


def coverage(records: list[dict]) -> list[str]:
    """Describe every record that lacks a ratio to its peer or a spread over repeats.

    A key counts as a ratio when its dotted name contains "ratio", "speedup",
    "scaling", "_over_" or a "vs_" part, and as a spread when it contains "iqr" or
    "spread". Marker records (``{"bench": ".../done"}``) are skipped; a record with
    ``"peer": null`` declares that no peer exists (listed as such), and one with
    ``"exact": true`` holds counts, not timings, so it needs no spread.
    """
    missing = []
    for r in records:
        flat = flatten(r)
        if MARKER.search(str(flat.get("bench", ""))) or not measured(flat):
            continue
        needs = [("ratio", RATIO_KEY), ("spread", SPREAD_KEY)]
        if "peer" in flat and flat["peer"] is None:
            needs = needs[1:]
        if flat.get("exact") is True:
            needs = [n for n in needs if n[0] != "spread"]
        lacks = [
            what for what, pattern in needs if not any(pattern.search(k) for k in flat)
        ]
        if lacks:
            label = flat.get("name") or flat.get("bench") or flat.get("config", "?")
            missing.append(f"{r['script']}: {label} (no {' or '.join(lacks)})")
    return missing


def markdown(records: list[dict], facts: dict, runs: list[dict], quick: bool) -> str:
    """Render the results as one table per script, with machine facts on top."""
    mode = "quick" if quick else "full"
    lines = ["# Benchmark results", ""]
    lines += [f"Mode: {mode}; total {facts['total_seconds']:.0f} s.", ""]
    lines += [f"- {k}: {v}" for k, v in facts.items() if k != "total_seconds"]
    lines.append("")
    missing = coverage(records)
    lines += ["## Ratios and spreads", ""]
    if missing:
        lines += ["Records without a ratio to a peer or a spread:", ""]
        lines += [f"- {m}" for m in missing]
    else:
        lines.append("Every record has a ratio to its peer and a spread over repeats.")
    lines.append("")
    alone = without_peer(records)
    if alone:
        lines += ["Measured without a peer (none exists to compare):", ""]
        lines += [f"- {m}" for m in alone] + [""]
    for run_facts in runs:
        stem = run_facts["script"].removesuffix(".py")
        rows = [flatten(r) for r in records if r["script"] == stem]
        lines += [f"## {stem}", "", f"Runs: {run_facts['runs']}", ""]
        if not rows:
            lines += ["No records.", ""]
            continue
        keys = list(dict.fromkeys(k for r in rows for k in r if k != "script"))
        lines.append("| " + " | ".join(keys) + " |")
        lines.append("|" + "---|" * len(keys))
        for r in rows:
            lines.append("| " + " | ".join(_fmt(r.get(k, "")) for k in keys) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_allreduce(records: list[dict], path: pathlib.Path) -> bool:
    """Bus bandwidth vs message size per algorithm and rank count, if measured."""
    rows = [r for r in records if "busbw_GBps" in r and "bytes" in r]
    if not rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    key = lambda r: (r["ranks"], r.get("algorithm", "?"))  # noqa: E731
    for ranks, algo in sorted({key(r) for r in rows}):
        pts = sorted(
            (r["bytes"], r["busbw_GBps"]) for r in rows if key(r) == (ranks, algo)
        )
        ax.plot(*zip(*pts, strict=True), marker="o", label=f"{algo}, n={ranks}")
    ax.set(xscale="log", xlabel="message size (bytes)", ylabel="bus bandwidth (GB/s)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_learning_curves(records: list[dict], path: pathlib.Path) -> bool:
    """Return against env steps for every record carrying a `curve`, if any.

    A curve is ``{"label": str, "steps": [...], "returns": [[...] per seed]}``; the
    plot shows the mean over seeds and the min-max band.
    """
    curves = [r["curve"] for r in records if isinstance(r.get("curve"), dict)]
    if not curves:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4))
    for curve in curves:
        steps, runs = np.asarray(curve["steps"]), np.asarray(curve["returns"], float)
        runs = runs.reshape(-1, steps.size)
        ax.plot(steps, runs.mean(0), label=f"{curve['label']} ({len(runs)} seeds)")
        ax.fill_between(steps, runs.min(0), runs.max(0), alpha=0.2)
    ax.set(xlabel="env steps (per seed)", ylabel="episode return")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv=None) -> int:
    """Run the suite; return 0 if every script exited cleanly."""
    parser = argparse.ArgumentParser(description="Run the rlblocks benchmark suite.")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", help="topics, e.g. replay allreduce")
    parser.add_argument("--timeout", type=float, default=None, help="s per launch")
    args = parser.parse_args(argv)
    timeout = args.timeout or (240 if args.quick else 3600)
    start = time.perf_counter()
    records, runs = [], []
    for script in discover(args.only):
        recs, facts = run(script, args.quick, timeout)
        records += recs
        runs.append(facts)
    facts = machine()
    facts["total_seconds"] = time.perf_counter() - start
    RESULTS.mkdir(exist_ok=True)
    payload = {"machine": facts, "quick": args.quick, "runs": runs, "records": records}
    (RESULTS / "latest.json").write_text(json.dumps(payload, indent=1) + "\n")
    (RESULTS / "latest.md").write_text(
        markdown(records, facts, runs, args.quick) + "\n"
    )
    if plot_allreduce(records, RESULTS / "allreduce.png"):
        print(f"wrote {RESULTS / 'allreduce.png'}")
    if plot_learning_curves(records, RESULTS / "learning_curves.png"):
        print(f"wrote {RESULTS / 'learning_curves.png'}")
    print(f"wrote {RESULTS / 'latest.md'} in {facts['total_seconds']:.0f} s")
    failed = [r for f in runs for r in f["runs"] if r["exit"] != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
