"""Run tellapart's benchmark: python benchmarks/run_bench.py --suite full --json F --out D"""

from __future__ import annotations

import argparse
import sys
import time

from tellapart.bench import SUITES, run_bench


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the suite, print the markdown table; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suite", default="quick", choices=sorted(SUITES))
    parser.add_argument("--json", dest="json_path", default=None, help="write the JSON results here")
    parser.add_argument("--out", dest="out_dir", default=None, help="folder for results.json/.md and plots")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=None, help="score cache (default ~/.cache/tellapart)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    report = run_bench(
        args.suite,
        args.json_path,
        args.out_dir,
        seed=args.seed,
        progress=not args.quiet,
        cache_dir=args.cache_dir,
    )
    print(report.markdown())
    print(f"\n{time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
