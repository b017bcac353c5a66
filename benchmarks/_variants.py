"""What the benchmarks that score several maps of one fit per cell share: running the family's
cells through the cache, and the table of every variant's mean AUC over the seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _cache import append_cache, read_cache


def run_cells(cells, key, keyed_cell, jobs: int, cache: Path | None, report) -> dict:
    """Results of every ``(name, setting, seed)`` cell by ``key(*cell)``, read from ``cache``
    where it has them; the others run in ``jobs`` processes as ``keyed_cell(*cell)`` (which
    returns ``(key, name, seed, result)``), each recorded and passed to ``report``."""
    from joblib import Parallel, delayed

    done = read_cache(cache)
    todo = [cell for cell in cells if key(*cell) not in done]
    print(f"{len(cells) - len(todo)} of {len(cells)} cells cached; running {len(todo)}",
          flush=True)
    for cell_id, name, seed, result in Parallel(n_jobs=jobs, return_as="generator_unordered")(
            delayed(keyed_cell)(*cell) for cell in todo):
        done[cell_id] = result
        append_cache(cache, cell_id, result)
        report(name, seed, result)
    return done


def print_variant_table(table: dict, columns: list[str], labels: list[str], title: str) -> dict:
    """Print ``table`` (setting -> column -> AUC per seed) as markdown, one row per setting and
    the mean, worst setting and worst fit of each column; return the mean and the worst."""
    print(f"\n{title}\n")
    print("| setting | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{np.mean(row[c]):.3f}" for c in columns) + " |")
    means = {c: float(np.mean([np.mean(row[c]) for row in table.values()])) for c in columns}
    worst = {c: float(min(np.mean(row[c]) for row in table.values())) for c in columns}
    worst_fit = {c: float(min(min(row[c]) for row in table.values())) for c in columns}
    print("| **mean** | " + " | ".join(f"**{means[c]:.3f}**" for c in columns) + " |")
    print("| worst setting | " + " | ".join(f"{worst[c]:.3f}" for c in columns) + " |")
    print("| worst fit | " + " | ".join(f"{worst_fit[c]:.3f}" for c in columns) + " |")
    return {"table": table, "mean": means, "worst": worst}
