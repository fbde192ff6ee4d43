"""The built-in search space plug-ins (NAS-Bench-201, NAS-Bench-101), registered by name in
:mod:`nar_core.spaces`. Each ties a space's cells, cost model, readers, defaults and mutation
together; a new benchmark adds one such class (``docs/search_spaces.md``)."""
