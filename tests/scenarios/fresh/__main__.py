"""`python -m tests.scenarios.fresh --split dev|holdout --out DIR [--all-sources]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from tests.scenarios.fresh.generate import SPLITS, build_split


def main() -> None:
    """Write one split's bundles."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", choices=sorted(SPLITS), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--all-sources", action="store_true", help="each incident once per alert source, in OUT/<source>/"
    )
    args = parser.parse_args()
    for path in build_split(args.split, args.out, args.all_sources):
        print(path)


if __name__ == "__main__":
    main()
