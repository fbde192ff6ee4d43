"""Convert a slow official benchmark file once into a compact ``.npz``; reload it in milliseconds.

The official files are large and slow to read (the NAS-Bench-201 ``.pth`` needs GBs of RAM and
about a minute, the NAS-Bench-101 tfrecord minutes). :func:`cached_load` stores the reader's
:class:`~nar_core.benchmarks.base.Benchmark` as ``.npz`` next to the source file, or, when that
directory is read-only (the shared data directory is), in the user cache directory
(``$NAR_CACHE_DIR``, else ``$XDG_CACHE_HOME/nar_core``, else ``~/.cache/nar_core``).

Validity: the cache records, for every source file, its size, mtime, ctime, inode and full
SHA-256, plus the cache format version and the reader's own version string (``reader``). A load
first compares the stat fields (cheap); if any differs it hashes the file, and a content change
rebuilds the cache. ctime makes this sound: every write sets it and no user tool can set it back,
so a same-size edit with a restored mtime is hashed. A file changed within ``RACY_NS`` of the
recording (timestamps are coarse) is hashed on every load until it is older, as git does.
Writes are atomic (:func:`nar_core.io.atomic_path`): a failed build leaves no cache behind.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..io import atomic_path, dir_writable, file_sha256, quick_stat
from ..errors import DataError
from .base import Benchmark

log = logging.getLogger(__name__)

#: bump when the layout of the cache file changes (2: ctime, inode and recording time of each source)
CACHE_FORMAT_VERSION = 2
#: a source modified this close to its recording may change again within one timestamp tick: hash it
RACY_NS = 2_000_000_000
_META_KEY = "__nar_cache_meta__"


def user_cache_dir() -> Path:
    """Fallback cache directory for sources in read-only directories."""
    env = os.environ.get("NAR_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "nar_core"


def cache_candidates(source: Path, space: str, reader: str) -> list[Path]:
    """Where the cache of ``source`` may live, in order of preference.

    Next to the source: ``<source name>.<space>.<reader>.npz`` (hidden); in the user cache dir the
    name also carries a hash of the source's absolute path, so two sources never collide.
    """
    source = Path(source).resolve()
    name = f"{source.name}.{space}.{reader}.npz"
    digest = hashlib.sha1(str(source).encode()).hexdigest()[:12]
    return [source.parent / f".{name}", user_cache_dir() / f"{digest}-{name}"]


def _fingerprint(path: Path) -> dict[str, Any]:
    try:
        return {**_fingerprint_stat(path), "sha256": file_sha256(path)}
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror or exc}") from None


def _read_cache(cache: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """Arrays and meta of a cache file, or None if it is absent or unreadable."""
    if not cache.is_file():
        return None
    try:
        with np.load(cache, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop(_META_KEY)))
        if not isinstance(meta, dict):
            raise ValueError("cache meta is not an object")
        return arrays, meta
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        log.warning("ignoring unreadable cache %s (%s); it will be rebuilt", cache, _why_unreadable(exc))
        return None


def _why_unreadable(exc: BaseException) -> str:
    """A short reason, without numpy's advice to load the file with ``allow_pickle``: a cache never holds objects."""
    text = " ".join(str(exc).split())
    if "pickle" in text.lower():
        return "it holds pickled Python objects, which a nar_core cache never does"
    return text or type(exc).__name__


_STAT_FIELDS = ("size", "mtime_ns", "ctime_ns", "inode")


def _sources_unchanged(meta: dict[str, Any], sources: list[Path]) -> tuple[bool, bool]:
    """(valid, restamp): the stat fields first, full SHA-256 where they differ or were racy."""
    recorded = meta.get("sources", [])
    if [r.get("path") for r in recorded] != [str(s) for s in sources]:
        return False, False
    restamp = False
    try:
        for rec, src in zip(recorded, sources):
            st = quick_stat(src)
            same = all(st[k] == rec.get(k) for k in _STAT_FIELDS)
            if same and rec.get("recorded_ns", 0) - st["ctime_ns"] > RACY_NS:
                continue
            restamp = True
            if file_sha256(src) != rec["sha256"]:
                return False, True
    except OSError:  # unreadable now: not valid; the build reports the problem with the file
        return False, False
    return True, restamp


def _write_cache(cache: Path, bench: Benchmark, meta: dict[str, Any]) -> None:
    arrays = bench.to_arrays()
    arrays[_META_KEY] = np.array(json.dumps(meta))
    with atomic_path(cache, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)  # uncompressed: reload speed matters more than size here


def cached_load(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    build: Callable[[], Benchmark],
    space: str,
    reader: str = "v1",
) -> Benchmark:
    """The benchmark read by ``build()``, through a validated ``.npz`` cache.

    Args:
        source: the file the reader reads, or several (the first one names the cache and
            decides its directory; all of them are fingerprinted).
        build: reads the source(s) into a :class:`Benchmark` (called only on a cache miss).
        space: ``"nb201"`` / ``"nb101"``.
        reader: the reader's name and version (e.g. ``"pth1"``); change it when the reader's
            output changes so old caches are rebuilt.

    The returned benchmark's ``meta["cache"]`` says ``"hit"`` or ``"built"``, where the cache is,
    and the recorded fingerprints of the sources.
    """
    sources = [Path(s).resolve() for s in ([source] if isinstance(source, (str, os.PathLike)) else source)]
    candidates = cache_candidates(sources[0], space, reader)
    for cache in candidates:
        loaded = _read_cache(cache)
        if loaded is None:
            continue
        arrays, meta = loaded
        if meta.get("format") != CACHE_FORMAT_VERSION or meta.get("space") != space or meta.get("reader") != reader:
            continue
        valid, restamp = _sources_unchanged(meta, sources)
        if not valid:
            log.info("cache %s is stale (source changed); rebuilding", cache)
            continue
        bench = Benchmark.from_arrays(space, arrays, source=meta.get("source", str(sources[0])), meta=meta.get("bench_meta"))
        if restamp:  # same content, new stat: record it so the next load skips the hash
            meta["sources"] = [{**_fingerprint_stat(s), "sha256": r["sha256"]} for s, r in zip(sources, meta["sources"])]
            _try_write(candidates, bench, meta)
        bench.meta["cache"] = {"status": "hit", "path": str(cache), "sources": meta["sources"]}
        return bench

    fingerprints = [_fingerprint(s) for s in sources]  # before build: a file changing meanwhile rebuilds next time
    bench = build()
    meta = {
        "format": CACHE_FORMAT_VERSION,
        "space": space,
        "reader": reader,
        "source": bench.source,
        "sources": fingerprints,
        "bench_meta": _jsonable(bench.meta),
    }
    written = _try_write(candidates, bench, meta)
    bench.meta["cache"] = {"status": "built", "path": str(written) if written else None, "sources": fingerprints}
    return bench


def _fingerprint_stat(path: Path) -> dict[str, Any]:
    return {"path": str(path), **quick_stat(path), "recorded_ns": time.time_ns()}


def _try_write(candidates: list[Path], bench: Benchmark, meta: dict[str, Any]) -> Path | None:
    for cache in candidates:
        if not dir_writable(cache.parent):
            continue
        try:
            _write_cache(cache, bench, meta)
            return cache
        except OSError as exc:  # read-only data dir: fall back to the user cache dir
            log.debug("cannot write cache %s (%s)", cache, exc)
    log.warning("could not write a cache for %s anywhere (tried %s)", meta["sources"][0]["path"], candidates)
    return None


def _jsonable(meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON-serialisable part of a benchmark's meta (the rest is not cached)."""
    out = {}
    for k, v in meta.items():
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            continue
        out[k] = v
    return out


def clear_cache(source: str | os.PathLike, space: str, reader: str = "v1") -> list[Path]:
    """Delete the caches of ``source``; returns the files removed."""
    removed = []
    for cache in cache_candidates(Path(source), space, reader):
        if cache.is_file():
            cache.unlink()
            removed.append(cache)
    return removed


__all__ = ["CACHE_FORMAT_VERSION", "cache_candidates", "cached_load", "clear_cache", "user_cache_dir"]
