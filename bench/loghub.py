"""Log template mining benchmark: grouping accuracy and lines/s on loghub-2k, ours against Drain.

Run from the repository root, in the project's virtualenv:

    python bench/loghub.py ../shared/data/loghub-2k
    python bench/loghub.py DIR --repeat 10

DIR holds one folder per data set in the loghub-2k layout: `<Name>/<Name>_2k.log_structured.csv`
(any `*_structured.csv` in a sub-folder is taken) with a `Content` column (the input) and an
`EventId` column (the ground truth). Lines without an EventId are skipped.

What one run does, per data set:

1. Our miner (`triage.analysis.templates.TemplateMiner`: drain3 with one generic masking
   configuration and the same parameters for every data set) files every `Content` line; each
   line's group is its template (cluster).
2. The reference: Drain from `logparser3` (PyPI), run with its own published settings for that
   data set (preprocessing regexes, `depth`, `st`, copied below from logparser3 1.0.4's
   `logparser/Drain/benchmark.py`, the same values as logpai/logparser's Drain benchmark). A data
   set the reference has no settings for runs with its defaults (depth 4, st 0.4, no regex) and
   is marked "default". Lines are grouped by final template, as logparser's own output does.
3. Grouping accuracy, the standard loghub definition: a line is correctly parsed iff the set of
   lines in its predicted group equals the set of lines in its ground-truth group.

Timing covers parsing only, for both (the reference's log-file reading and CSV writing are
replaced by an in-memory DataFrame in and template list out); each miner runs `--repeat` times on
each data set, alternating with the other so both meet the same machine load, and its fastest run
counts. Both run in this process. Prints per data set and on average (accuracy: mean over data sets;
lines/s: all lines over all time), then the goals (ours >= the reference's average accuracy on the
same sets, with one configuration; ours >= 2x its lines/s), each marked met or missed.

Exit code 0 whatever the figures; 1 if there is no data set in DIR or logparser3 is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import sys
import time
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from triage.analysis.templates import MinerConfig, TemplateMiner  # noqa: E402

PUBLISHED_AVERAGE = 0.865  # Drain over the sixteen loghub-2k sets (Zhu et al., ICSE-SEIP 2019)
# logparser3 1.0.4, logparser/Drain/benchmark.py: (preprocessing regexes, depth, st) per data set.
REFERENCE_SETTINGS: dict[str, tuple[list[str], int, float]] = {
    "HDFS": ([r"blk_-?\d+", r"(\d+\.){3}\d+(:\d+)?"], 4, 0.5),
    "Hadoop": ([r"(\d+\.){3}\d+"], 4, 0.5),
    "Spark": ([r"(\d+\.){3}\d+", r"\b[KGTM]?B\b", r"([\w-]+\.){2,}[\w-]+"], 4, 0.5),
    "Zookeeper": ([r"(/|)(\d+\.){3}\d+(:\d+)?"], 4, 0.5),
    "BGL": ([r"core\.\d+"], 4, 0.5),
    "HPC": ([r"=\d+"], 4, 0.5),
    "Thunderbird": ([r"(\d+\.){3}\d+"], 4, 0.5),
    "Windows": ([r"0x.*?\s"], 5, 0.7),
    "Linux": ([r"(\d+\.){3}\d+", r"\d{2}:\d{2}:\d{2}"], 6, 0.39),
    "Android": ([r"(/[\w-]+)+", r"([\w-]+\.){2,}[\w-]+",
                 r"\b(\-?\+?\d+)\b|\b0[Xx][a-fA-F\d]+\b|\b[a-fA-F\d]{4,}\b"], 6, 0.2),
    "HealthApp": ([], 4, 0.2),
    "Apache": ([r"(\d+\.){3}\d+"], 4, 0.5),
    "Proxifier": ([r"<\d+\ssec", r"([\w-]+\.)+[\w-]+(:\d+)?", r"\d{2}:\d{2}(:\d{2})*", r"[KGTM]B"],
                  3, 0.6),
    "OpenSSH": ([r"(\d+\.){3}\d+", r"([\w-]+\.){2,}[\w-]+"], 5, 0.6),
    "OpenStack": ([r"((\d+\.){3}\d+,?)+", r"/.+?\s", r"\d+"], 5, 0.5),
    "Mac": ([r"([\w-]+\.){2,}[\w-]+"], 6, 0.7),
}
REFERENCE_DEFAULT: tuple[list[str], int, float] = ([], 4, 0.4)


@dataclass(frozen=True)
class DataSet:
    """One loghub-layout data set: its lines and their ground-truth event ids."""

    name: str
    contents: list[str]
    truth: list[str]


@dataclass(frozen=True)
class Outcome:
    """One miner on one data set."""

    accuracy: float
    seconds: float


def find_data_sets(root: Path) -> list[DataSet]:
    """Every `<Name>/*_structured.csv` under `root`, sorted by name."""
    found = []
    for path in sorted(root.glob("*/*_structured.csv")):
        contents, truth = [], []
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            for row in csv.DictReader(handle):
                if row.get("EventId") and row.get("Content") is not None:
                    contents.append(row["Content"])
                    truth.append(row["EventId"])
        if contents:
            found.append(DataSet(path.parent.name, contents, truth))
    return found


def grouping_accuracy(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """Share of lines whose predicted group holds exactly the lines of their true group."""
    true_groups: dict[Hashable, set[int]] = defaultdict(set)
    predicted_groups: dict[Hashable, set[int]] = defaultdict(set)
    for index, (true_id, predicted_id) in enumerate(zip(truth, predicted, strict=True)):
        true_groups[true_id].add(index)
        predicted_groups[predicted_id].add(index)
    correct = 0
    for members in predicted_groups.values():
        if true_groups[truth[next(iter(members))]] == members:
            correct += len(members)
    return correct / len(truth) if truth else 0.0


def run_ours(data: DataSet) -> tuple[list[Hashable], float]:
    """Our miner's group per line, and the seconds it took."""
    miner = TemplateMiner()
    add = miner.add
    started = time.perf_counter()
    groups: list[Hashable] = [add(line) for line in data.contents]
    return groups, time.perf_counter() - started


def run_reference(data: DataSet) -> tuple[list[Hashable], float]:
    """logparser3's Drain with its published settings for this data set; groups and seconds."""
    import pandas as pd  # type: ignore[import-untyped]
    from logparser.Drain import LogParser  # type: ignore[import-untyped]

    class InMemory(LogParser):  # type: ignore[misc]
        """Drain reading a prepared DataFrame and keeping its output in memory (no files)."""

        frame: Any = None
        groups: list[Hashable]

        def load_data(self) -> None:
            """Use the prepared DataFrame instead of reading a log file."""
            self.df_log = self.frame

        def outputResult(self, clusters: list[Any]) -> None:  # logparser's method name
            """Keep each line's final template instead of writing CSV files."""
            groups: list[Hashable] = [""] * len(self.df_log)
            for cluster in clusters:
                template = " ".join(cluster.logTemplate)
                for line_id in cluster.logIDL:
                    groups[line_id - 1] = template
            self.groups = groups

    regexes, depth, threshold = REFERENCE_SETTINGS.get(data.name, REFERENCE_DEFAULT)
    parser = InMemory(log_format="<Content>", rex=regexes, depth=depth, st=threshold,
                      keep_para=False)
    parser.frame = pd.DataFrame({"LineId": range(1, len(data.contents) + 1),
                                 "Content": data.contents})
    with contextlib.redirect_stdout(io.StringIO()):  # it prints progress per 1000 lines
        started = time.perf_counter()
        parser.parse(data.name)
        seconds = time.perf_counter() - started
    return parser.groups, seconds


def measure(data: DataSet, repeat: int) -> tuple[Outcome, Outcome]:
    """Accuracy of both miners on `data`, and each one's fastest time over `repeat` runs.

    The runs alternate (ours, reference, ours, ...) so that both meet the same machine load.
    """
    ours, ref = [], []
    for _ in range(repeat):
        ours.append(run_ours(data))
        ref.append(run_reference(data))
    return (Outcome(grouping_accuracy(data.truth, ours[0][0]), min(t for _, t in ours)),
            Outcome(grouping_accuracy(data.truth, ref[0][0]), min(t for _, t in ref)))


def _rate(lines: int, seconds: float) -> str:
    """Lines per second, for the table."""
    return f"{lines / seconds:,.0f}" if seconds > 0 else "-"


def report(results: list[tuple[DataSet, Outcome, Outcome]]) -> list[str]:
    """The table, averages and goals as printed lines."""
    config = MinerConfig()
    out = [
        "loghub grouping accuracy and throughput",
        f"ours: TemplateMiner, one configuration for every data set (generic masks, depth="
        f"{config.depth}, sim={config.sim_threshold}, max_children={config.max_children}, "
        f"max_clusters={config.max_clusters})",
        "reference: logparser3 Drain with its published per-data-set settings (regex, depth, st)",
        "",
        f"{'data set':<14}{'lines':>7}{'ours acc':>10}{'ref acc':>9}{'ours lines/s':>14}"
        f"{'ref lines/s':>13}{'speed-up':>10}  ref settings",
    ]
    for data, ours, ref in results:
        lines = len(data.contents)
        settings = "published" if data.name in REFERENCE_SETTINGS else "default"
        out.append(f"{data.name:<14}{lines:>7}{ours.accuracy:>10.3f}{ref.accuracy:>9.3f}"
                   f"{_rate(lines, ours.seconds):>14}{_rate(lines, ref.seconds):>13}"
                   f"{ref.seconds / ours.seconds:>9.1f}x  {settings}")
    total = sum(len(d.contents) for d, _, _ in results)
    ours_acc = sum(o.accuracy for _, o, _ in results) / len(results)
    ref_acc = sum(r.accuracy for _, _, r in results) / len(results)
    ours_time = sum(o.seconds for _, o, _ in results)
    ref_time = sum(r.seconds for _, _, r in results)
    speedup = ref_time / ours_time
    out += [
        f"{f'average ({len(results)})':<14}{total:>7}{ours_acc:>10.3f}{ref_acc:>9.3f}"
        f"{_rate(total, ours_time):>14}{_rate(total, ref_time):>13}{speedup:>9.1f}x",
        "",
        f"published reference: Drain averages {PUBLISHED_AVERAGE} over the sixteen loghub-2k sets "
        "(Zhu et al., ICSE-SEIP 2019)",
        f"goal: accuracy, ours >= reference on the same sets with one configuration: "
        f"{ours_acc:.3f} vs {ref_acc:.3f}: {'met' if ours_acc >= ref_acc else 'missed'}",
        f"goal: throughput, ours >= 2x reference: {speedup:.1f}x: "
        f"{'met' if speedup >= 2 else 'missed'}",
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run both miners on every data set, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dir", type=Path, help="folder of loghub-2k layout data sets")
    parser.add_argument("--repeat", type=int, default=5, help="runs per miner; fastest counts")
    args = parser.parse_args(argv)
    data_sets = find_data_sets(args.dir)
    if not data_sets:
        print(f"no <Name>/*_structured.csv data set under {args.dir}", file=sys.stderr)
        return 1
    try:
        import logparser.Drain  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        print("the reference needs logparser3: pip install -e '.[dev]'", file=sys.stderr)
        return 1
    results = []
    for data in data_sets:
        ours, ref = measure(data, max(1, args.repeat))
        results.append((data, ours, ref))
    print("\n".join(report(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
