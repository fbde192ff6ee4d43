"""nar_core: the Neural Architecture Ranker (NAR) and its Query-to-Tier extension (NARQ2T).

Pipeline, in the order a reader follows it: search space (:mod:`nar_core.spaces`; each built-in
one a package with its cells, encoding, reader and plug-in) -> benchmark data
(:mod:`nar_core.benchmarks`) -> ranker (:mod:`nar_core.ranker`) -> tier statistics -> sampler -> search -> experiment.
"""
from .config import ExperimentConfig
from .errors import ConfigError, DataError, NarError, UnknownCellError

__version__ = "0.2.0"  # 0.2: the authors' model and search by default (issue 17)

__all__ = ["ExperimentConfig", "ConfigError", "DataError", "NarError", "UnknownCellError", "__version__"]
