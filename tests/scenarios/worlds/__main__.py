"""`python -m tests.scenarios.worlds --split train|holdout --out DIR [--count N]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from tests.scenarios.worlds.generate import SPLITS, write_split


def main() -> None:
    """Write a split's bundles and name each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", choices=sorted(SPLITS), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, default=None, help="default: 40 train, 30 holdout")
    args = parser.parse_args()
    for folder in write_split(args.split, args.out, args.count):
        print(folder)


if __name__ == "__main__":
    main()
