"""NAS-Bench-201, a built-in search space, packaged the way a user's plug-in is
(``docs/search_spaces.md``): everything that is particular to this benchmark is here, and the
rest of ``nar_core`` reaches it only through the registered :class:`NB201Space`.

* :mod:`.cells`: the 15,625 cells, their text form and official index (the key);
* :mod:`.encoding`: the cost model (per-edge FLOPs and parameters) and the 31x4x4 feature tensor;
* :mod:`.reader`: the readers of the official ``.pth``, NATS-Bench, the shared CSVs, the NAR
  cell-information JSON and the table shipped in ``resources/``;
* :mod:`.space`: the plug-in that ties them together, with the defaults and mutation.
"""
from .space import NB201Space

__all__ = ["NB201Space"]
