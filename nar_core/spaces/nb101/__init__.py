"""NAS-Bench-101, a built-in search space, packaged the way a user's plug-in is
(``docs/search_spaces.md``): everything that is particular to this benchmark is here, and the
rest of ``nar_core`` reaches it only through the registered :class:`NB101Space`.

* :mod:`.cells`: pruning, validity and the official module hash (the key) of the cells;
* :mod:`.encoding`: the cost model (per-vertex FLOPs and parameters) and the 19x7x7 feature tensor;
* :mod:`.reader`: the readers of the official tfrecords, the NAR cell-information JSON and the
  shared subset CSV; :mod:`.tfrecord` the official files' framing and payload, without TensorFlow;
* :mod:`.space`: the plug-in that ties them together, with the defaults and mutation.
"""
from .space import NB101Space

__all__ = ["NB101Space"]
