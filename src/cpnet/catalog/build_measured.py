"""Regenerate `data/measured_throughputs.csv` from the public source files.

Usage: python -m cpnet.catalog.build_measured /work/shared/data [OUT.csv]
"""

from __future__ import annotations

import sys

from cpnet.catalog.measurements import build_shipped_points, default_measured_path, write_measured_file


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    out = argv[1] if len(argv) > 1 else default_measured_path()
    points = build_shipped_points(argv[0])
    write_measured_file(points, out)
    print(f"wrote {len(points)} measured points to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
