"""The statistics: held-out splitting, AUROC with confidence intervals, rank tests, multiple-testing
control and explaining-away. Works on a score matrix (images x concepts) only, never on pixels."""

from tellapart.stats.auroc import auroc, auroc_ci, auroc_matrix, delong_variance
from tellapart.stats.classifier import difference_test, explained_share
from tellapart.stats.contract import COLUMNS, SCREEN_LEVEL, test_concepts, test_hypotheses_on_all
from tellapart.stats.explain import adjusted_separation_p, explain_away, explains
from tellapart.stats.split import split_discovery_validation
from tellapart.stats.tests import (
    benjamini_hochberg,
    correct,
    holm,
    mann_whitney_matrix,
    rank_test,
    rank_test_matrix,
)

__all__ = [
    "COLUMNS", "SCREEN_LEVEL", "adjusted_separation_p", "auroc", "auroc_ci", "auroc_matrix",
    "benjamini_hochberg", "correct", "delong_variance", "difference_test", "explain_away", "explained_share",
    "explains", "holm", "mann_whitney_matrix", "rank_test", "rank_test_matrix", "split_discovery_validation",
    "test_concepts", "test_hypotheses_on_all",
]
