"""The benchmark: pairs of image sets with known answers, tellapart and its peers on the same concept
scores, scored as in VisDiff (Acc@1, Acc@5) plus the false-finding rate on identical distributions."""

from tellapart.bench.methods import METHODS, Method, MethodOutput, PairContext
from tellapart.bench.run import BenchReport, run_bench
from tellapart.bench.scoring import MATCH_THRESHOLD, Scorer, calibrate_match_threshold
from tellapart.bench.suites import SUITES, BenchPair, SuiteConfig, get_suite

__all__ = [
    "MATCH_THRESHOLD",
    "METHODS",
    "SUITES",
    "BenchPair",
    "BenchReport",
    "Method",
    "MethodOutput",
    "PairContext",
    "Scorer",
    "SuiteConfig",
    "calibrate_match_threshold",
    "get_suite",
    "run_bench",
]
