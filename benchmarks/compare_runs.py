"""Compare training runs by the hour: a validation metric against the wall time spent training.

    python -m benchmarks.compare_runs runs/race-crnn runs/race-densenet --metric val_cer \\
        --also val_eval-fonts_cer val_plates-val_cer --out docs/chinese/race.png

Each run folder needs the ``log.csv`` and ``times.csv`` that every training script writes
(:func:`ocr_common.callbacks.standard_callbacks`). It prints one markdown table per run (epoch,
training minutes so far, the metrics) and a last table with every run's metric at the same
training time: the longest time all runs reached, each run read at its last epoch ending by
then. Validation time is left out of the minutes, since it depends on how many lines are
measured, not on the network being trained. ``--out`` draws the metric against training hours.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from ocr_common.callbacks import read_epoch_times


def load_run(folder: str | Path, metrics: list[str]) -> list[dict]:
    """The epochs of one run that have both a log row and a time: ``{"epoch", "minutes", <metric>...}``
    with ``minutes`` the training time summed up to the end of that epoch."""
    folder = Path(folder)
    times = read_epoch_times(folder / "times.csv")
    if not times:
        raise SystemExit(f"{folder}: no times.csv (runs before 2026-12-04 did not write one)")
    with (folder / "log.csv").open(newline="", encoding="utf-8") as f:
        logged = {int(r["epoch"]): r for r in csv.DictReader(f)}  # a resumed epoch: its last row
    rows, total = [], 0.0
    for epoch in sorted(logged):
        if epoch not in times:
            raise SystemExit(f"{folder}: epoch {epoch} has no time in times.csv")
        total += times[epoch]
        row = {"epoch": epoch + 1, "minutes": total / 60}
        for m in metrics:
            value = logged[epoch].get(m)
            row[m] = float(value) if value not in (None, "") else None
        rows.append(row)
    return rows


def at_time(rows: list[dict], minutes: float) -> dict | None:
    """The last epoch that ended within ``minutes`` of training."""
    done = [r for r in rows if r["minutes"] <= minutes + 1e-9]
    return done[-1] if done else None


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def _row(first: list[str], r: dict, metrics: list[str]) -> str:
    cells = first + [str(r["epoch"]), f"{r['minutes']:.1f}"] + [_fmt(r[m]) for m in metrics]
    return "| " + " | ".join(cells) + " |"


def report(runs: dict[str, list[dict]], metrics: list[str]) -> str:
    out = []
    for name, rows in runs.items():
        out += [f"### {name}", "", "| epoch | training min | " + " | ".join(metrics) + " |",
                "| ---: | ---: | " + " | ".join("---:" for _ in metrics) + " |"]
        out += [_row([], r, metrics) for r in rows]
        out.append("")
    budget = min(rows[-1]["minutes"] for rows in runs.values())
    out += [f"### At the same training time ({budget:.1f} min)", "",
            "| run | epoch | training min | " + " | ".join(metrics) + " |",
            "| --- | ---: | ---: | " + " | ".join("---:" for _ in metrics) + " |"]
    for name, rows in runs.items():
        r = at_time(rows, budget)
        if r is not None:
            out.append(_row([name], r, metrics))
    return "\n".join(out) + "\n"


def plot(runs: dict[str, list[dict]], metric: str, out: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, rows in runs.items():
        pts = [(r["minutes"] / 60, r[metric]) for r in rows if r[metric] is not None]
        if pts:
            ax.plot(*zip(*pts), "o-", label=name)
    ax.set_xlabel("training hours")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run folders (log.csv + times.csv)")
    ap.add_argument("--metric", default="val_cer", help="the metric to compare (a log.csv column)")
    ap.add_argument("--also", nargs="*", default=[], help="more log.csv columns for the tables")
    ap.add_argument("--out", default="", help="PNG of the metric against training hours")
    args = ap.parse_args(argv)
    metrics = [args.metric] + [m for m in args.also if m != args.metric]
    runs = {Path(r).name: load_run(r, metrics) for r in args.runs}
    text = report(runs, metrics)
    print(text)
    if args.out:
        print(f"curve: {plot(runs, args.metric, args.out)}")
    return text


if __name__ == "__main__":
    main()
