"""Architecture encodings (NAR paper, Appendix A): cells -> feature tensors for the ranker, and
the cost models behind them (per-node FLOPs and parameters).

NAS-Bench-201: :mod:`.nb201` (31x4x4; analytic per-edge FLOPs/params of the 15 cells).
NAS-Bench-101: :mod:`.nb101` (19x7x7).
Each builds on its space's cells (:mod:`nar_core.spaces`) and is called through the space's
plug-in (``get_space(name).encode``), so nothing here depends on the registry.
"""
