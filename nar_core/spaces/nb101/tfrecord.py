"""TFRecord files and the NAS-Bench-101 record payload, without TensorFlow.

TFRecord framing (one record)::

    uint64 length (little endian) | uint32 masked CRC32C of the 8 length bytes
    data[length]                  | uint32 masked CRC32C of the data

with ``masked(c) = ((c >> 15) | (c << 17)) + 0xA282EAD8 (mod 2**32)``. Every CRC is checked.
CRC32C (Castagnoli, reflected polynomial 0x82F63B78) is computed here with lookup tables,
vectorised over many records at once with numpy (see :func:`crc32c_many`).

NAS-Bench-101 payload (``nasbench_only108.tfrecord`` / ``nasbench_full.tfrecord``): the data of
a record is the JSON list ``[module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]``:
``raw_adjacency`` the row-major 0/1 digits of the pruned matrix (``"0110..."``),
``raw_operations`` the comma-separated op names, ``raw_metrics`` base64 of a serialized
``nasbench.ModelMetrics`` protobuf (``model_metrics.proto``)::

    ModelMetrics   { repeated EvaluationData evaluation_data = 1; optional int32 trainable_parameters = 2;
                     optional double total_time = 3; }
    EvaluationData { optional double current_epoch = 1; optional double training_time = 2;
                     optional double train_accuracy = 3; optional double validation_accuracy = 4;
                     optional double test_accuracy = 5; optional string checkpoint_path = 6; }

``evaluation_data`` holds the evaluations at the start, half-way and end of training; the
official API reads index 1 (half-way) and 2 (final). The protobuf wire format is decoded here
directly (varint / fixed64 / length-delimited), with a fast path for the usual field layout.

:func:`write_nasbench_tfrecord` writes the same layout (for tests, subsets, or your own runs).
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ...errors import DataError
from ...io import atomic_path

__all__ = [
    "crc32c",
    "crc32c_many",
    "masked_crc32c",
    "iter_tfrecord_batches",
    "read_tfrecords",
    "write_tfrecords",
    "decode_model_metrics",
    "encode_model_metrics",
    "NasbenchRecords",
    "read_nasbench_tfrecord",
    "write_nasbench_tfrecord",
]

# ------------------------------------------------------------------------------------------
# CRC32C
# ------------------------------------------------------------------------------------------
_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8


def _make_tables() -> np.ndarray:
    t0 = np.zeros(256, dtype=np.uint64)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        t0[i] = c
    tables = [t0]
    for _ in range(3):  # slicing-by-4: T[k][i] = CRC of byte i followed by k zero bytes
        prev = tables[-1]
        tables.append((prev >> np.uint64(8)) ^ t0[(prev & np.uint64(0xFF)).astype(np.int64)])
    return np.stack(tables).astype(np.uint32)


_TABLES = _make_tables()  # immutable lookup tables
_TABLES.flags.writeable = False
_T0_LIST = tuple(int(x) for x in _TABLES[0])


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC32C (Castagnoli) of ``data``: ``crc32c(b"123456789") == 0xE3069283``."""
    crc = 0xFFFFFFFF
    t = _T0_LIST
    for b in bytes(data):
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """The masked CRC32C that TFRecord stores."""
    return _mask(crc32c(data))


def _mask(crc: int | np.ndarray) -> Any:
    if isinstance(crc, np.ndarray):
        c = crc.astype(np.uint64)
        return ((((c >> np.uint64(15)) | (c << np.uint64(17))) + np.uint64(_MASK_DELTA)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def _zero_register(max_len: int) -> np.ndarray:
    """``Z[L]``: the raw CRC register after L zero bytes from the initial 0xFFFFFFFF."""
    z = np.empty(max_len + 1, dtype=np.uint32)
    crc, t = 0xFFFFFFFF, _T0_LIST
    for i in range(max_len + 1):
        z[i] = crc
        crc = t[crc & 0xFF] ^ (crc >> 8)
    return z


def crc32c_many(
    buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, block: int = 4096, max_bytes: int = 1 << 22
) -> np.ndarray:
    """CRC32C of many slices ``buf[starts[i]:starts[i]+lengths[i]]`` at once (uint32 array).

    The CRC register with initial value 0 is unchanged by leading zero bytes, and the CRC is
    linear in its initial value; so the slices are right-aligned into a zero-padded matrix,
    processed 4 bytes per step for all rows together (slicing-by-4 tables), and the effect of
    the 0xFFFFFFFF initial value is added back per length. Rows are sorted by length so each
    block of at most ``block`` rows pads little, and a block holds at most ``max_bytes`` padded
    bytes; slices longer than ``max_bytes // 16`` (never in NAS-Bench files) go one by one.
    """
    buf = np.asarray(buf, dtype=np.uint8)
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    out = np.empty(len(starts), dtype=np.uint32)
    long_rows = np.flatnonzero(lengths > max_bytes // 16)
    for i in long_rows.tolist():
        out[i] = crc32c(buf[starts[i] : starts[i] + lengths[i]].tobytes())
    order = np.argsort(lengths, kind="stable")[: len(starts) - len(long_rows)]  # the short rows
    if len(order) == 0:
        return out
    sorted_len = lengths[order]
    zreg = _zero_register(int(sorted_len[-1]))
    t0, t1, t2, t3 = (_TABLES[k] for k in range(4))
    m8 = np.uint32(0xFF)
    s = 0
    while s < len(order):
        # rows s..s+k-1 pad to the length of the last (longest) one: the largest k within budget
        padded = np.maximum(sorted_len[s : s + block], 4) * np.arange(1, min(block, len(order) - s) + 1)
        k = max(1, int(np.searchsorted(padded, max_bytes, side="right")))
        idx = order[s : s + k]
        s += k
        st, ln = starts[idx], lengths[idx]
        width = max(4, -(-int(ln.max()) // 4) * 4)
        pos = (st + ln)[:, None] - width + np.arange(width)[None, :]
        mat = np.where(pos >= st[:, None], buf[np.clip(pos, 0, len(buf) - 1)], 0).astype(np.uint8)
        words = np.ascontiguousarray(mat).view("<u4")
        crc = np.zeros(len(idx), dtype=np.uint32)
        for w in range(words.shape[1]):
            crc ^= words[:, w]
            crc = t3[crc & m8] ^ t2[(crc >> 8) & m8] ^ t1[(crc >> 16) & m8] ^ t0[crc >> 24]
        out[idx] = crc ^ zreg[ln] ^ np.uint32(0xFFFFFFFF)
    return out


# ------------------------------------------------------------------------------------------
# TFRecord framing
# ------------------------------------------------------------------------------------------
@dataclass
class RecordBatch:
    """Records of one chunk of a TFRecord file: ``data[starts[i]:starts[i]+lengths[i]]``."""

    first_index: int        # number of the first record in the file (0-based)
    data: bytes
    starts: np.ndarray      # int64
    lengths: np.ndarray     # int64
    file_offsets: np.ndarray  # int64 byte offset of each record header in the file

    def __len__(self) -> int:
        return len(self.starts)

    def payload(self, i: int) -> bytes:
        s = int(self.starts[i])
        return self.data[s : s + int(self.lengths[i])]


def iter_tfrecord_batches(path: str | os.PathLike, chunk_bytes: int = 1 << 26) -> Iterator[RecordBatch]:
    """Stream a TFRecord file in chunks, checking every length and data CRC.

    Raises:
        DataError: naming the file, the record number and byte offset, for a truncated file or
            a CRC mismatch (the first problem found; nothing after it is returned).
    """
    path = Path(path)
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise DataError(path, f"cannot open: {exc.strerror or exc}") from None
    unpack = struct.Struct("<Q").unpack_from
    with f:
        carry = b""
        carry_offset = 0  # file offset of carry[0]
        index = 0  # number of the next record
        while True:
            chunk = f.read(chunk_bytes)
            eof = not chunk
            data = carry + chunk if carry else chunk
            pos, n = 0, len(data)
            heads: list[int] = []
            lens: list[int] = []
            while pos + 12 <= n:  # sequential by nature: each length gives the next record's place
                length = unpack(data, pos)[0]
                if pos + 16 + length > n:
                    # incomplete here: check its length CRC now, so a corrupt length fails fast
                    # instead of buffering the rest of the file
                    if masked_crc32c(data[pos : pos + 8]) != struct.unpack_from("<I", data, pos + 8)[0]:
                        _check_batch(path, data, heads, lens, index, carry_offset)  # an earlier record first
                        raise DataError(
                            path, f"record {index + len(heads)} at byte {carry_offset + pos}: length CRC mismatch (corrupt file)"
                        )
                    break
                heads.append(pos)
                lens.append(length)
                pos += 16 + length
            if heads:
                yield _check_batch(path, data, heads, lens, index, carry_offset)
                index += len(heads)
            carry_offset += pos
            carry = data[pos:]
            if eof:
                if carry:
                    _raise_truncated(path, carry, index, carry_offset)
                return


def _raise_truncated(path: Path, rest: bytes, index: int, offset: int) -> None:
    if len(rest) < 12:
        raise DataError(path, f"truncated: record {index} at byte {offset} has an incomplete header ({len(rest)} of 12 bytes)")
    length = struct.unpack_from("<Q", rest, 0)[0]
    (stored,) = struct.unpack_from("<I", rest, 8)
    if masked_crc32c(rest[:8]) != stored:
        raise DataError(path, f"record {index} at byte {offset}: length CRC mismatch (corrupt file)")
    raise DataError(
        path, f"truncated: record {index} at byte {offset} needs {length + 16} bytes but the file ends after {len(rest)}"
    )


def _check_batch(path: Path, data: bytes, heads: list[int], lens: list[int], first: int, offset: int) -> RecordBatch:
    buf = np.frombuffer(data, dtype=np.uint8)
    h = np.asarray(heads, dtype=np.int64)
    ln = np.asarray(lens, dtype=np.int64)
    if len(h):
        # length CRCs first: a record after a corrupt length was located with a wrong length
        got = _mask(crc32c_many(buf, h, np.full(len(h), 8, dtype=np.int64)))
        stored = _read_u32(buf, h + 8)
        bad = np.flatnonzero(got != stored)
        if len(bad):
            b = int(bad[0])
            raise DataError(path, f"record {first + b} at byte {offset + int(h[b])}: length CRC mismatch (corrupt file)")
        got = _mask(crc32c_many(buf, h + 12, ln))
        stored = _read_u32(buf, h + 12 + ln)
        bad = np.flatnonzero(got != stored)
        if len(bad):
            b = int(bad[0])
            raise DataError(path, f"record {first + b} at byte {offset + int(h[b])}: data CRC mismatch (corrupt file)")
    return RecordBatch(first, data, h + 12, ln, h + offset)


def _read_u32(buf: np.ndarray, at: np.ndarray) -> np.ndarray:
    b = buf[at[:, None] + np.arange(4)[None, :]].astype(np.uint32)
    return b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16) | (b[:, 3] << 24)


def read_tfrecords(path: str | os.PathLike) -> list[bytes]:
    """All record payloads of a (small) TFRecord file, CRCs checked."""
    return [b.payload(i) for b in iter_tfrecord_batches(path) for i in range(len(b))]


def _frame(payload: bytes) -> bytes:
    head = struct.pack("<Q", len(payload))
    return head + struct.pack("<I", masked_crc32c(head)) + payload + struct.pack("<I", masked_crc32c(payload))


def write_tfrecords(path: str | os.PathLike, payloads: Iterable[bytes]) -> None:
    """Write payloads as a TFRecord file (atomically: no half-written file on error)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for p in payloads:
            f.write(_frame(bytes(p)))


# ------------------------------------------------------------------------------------------
# model_metrics.proto, wire format
# ------------------------------------------------------------------------------------------
class _ProtoError(ValueError):
    pass


_EVAL_FIELDS = ("current_epoch", "training_time", "train_accuracy", "validation_accuracy", "test_accuracy")
_FAST_EVAL = struct.Struct("<BdBdBdBdBd")  # fields 1..5 as fixed64, in field order
_FAST_TAGS = (0x09, 0x11, 0x19, 0x21, 0x29)
_F64 = struct.Struct("<d")


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _ProtoError("varint runs past the end of the message")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _ProtoError("varint longer than 10 bytes")


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of a message; value is int, bytes or raw fixed bytes."""
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise _ProtoError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > n:
                raise _ProtoError("fixed64 runs past the end of the message")
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > n:
                raise _ProtoError("length-delimited field runs past the end of the message")
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            if pos + 4 > n:
                raise _ProtoError("fixed32 runs past the end of the message")
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise _ProtoError(f"unsupported wire type {wire}")
        yield field, wire, value


def _decode_eval(buf: bytes) -> tuple[float, ...]:
    """The five doubles of an EvaluationData (NaN where absent)."""
    if len(buf) >= 45 and buf[0] == 0x09:
        v = _FAST_EVAL.unpack_from(buf, 0)
        if v[0::2] == _FAST_TAGS and (len(buf) == 45 or buf[45] == 0x32):
            return v[1::2]
    vals = [float("nan")] * 5
    for field, wire, value in _fields(buf):
        if 1 <= field <= 5:
            if wire != 1:
                raise _ProtoError(f"EvaluationData field {field} has wire type {wire}, expected fixed64")
            vals[field - 1] = _F64.unpack(value)[0]
    return tuple(vals)


def _decode_metrics(buf: bytes) -> tuple[list[tuple[float, ...]], int, float]:
    # fast path for the usual layout: evaluation_data entries (< 128 bytes each), then
    # trainable_parameters (varint), then optionally total_time; anything else -> generic
    pos, n = 0, len(buf)
    evals: list[tuple[float, ...]] = []
    while pos + 1 < n and buf[pos] == 0x0A and buf[pos + 1] < 0x80:
        end = pos + 2 + buf[pos + 1]
        if end > n:
            break
        evals.append(_decode_eval(buf[pos + 2 : end]))
        pos = end
    if pos < n and buf[pos] == 0x10:
        try:
            params, p2 = _varint(buf, pos + 1)
        except _ProtoError:
            params, p2 = -1, -1
        if p2 == n and params < 1 << 31:
            return evals, params, float("nan")
        if p2 + 9 == n and buf[p2] == 0x19 and params < 1 << 31:
            return evals, params, _F64.unpack_from(buf, p2 + 1)[0]
    return _decode_metrics_generic(buf)


def _decode_metrics_generic(buf: bytes) -> tuple[list[tuple[float, ...]], int, float]:
    evals: list[tuple[float, ...]] = []
    params, total = -1, float("nan")
    for field, wire, value in _fields(buf):
        if field == 1:
            if wire != 2:
                raise _ProtoError(f"evaluation_data has wire type {wire}, expected length-delimited")
            evals.append(_decode_eval(value))
        elif field == 2:
            if wire != 0:
                raise _ProtoError(f"trainable_parameters has wire type {wire}, expected varint")
            params = value - (1 << 64) if value >= 1 << 63 else value
        elif field == 3:
            if wire != 1:
                raise _ProtoError(f"total_time has wire type {wire}, expected fixed64")
            total = _F64.unpack(value)[0]
    return evals, params, total


def decode_model_metrics(data: bytes) -> dict[str, Any]:
    """A serialized ``ModelMetrics`` message as a dict (``evaluation_data`` a list of dicts)."""
    try:
        evals, params, total = _decode_metrics(bytes(data))
    except _ProtoError as exc:
        raise ValueError(f"invalid ModelMetrics protobuf: {exc}") from None
    return {
        "evaluation_data": [dict(zip(_EVAL_FIELDS, e)) for e in evals],
        "trainable_parameters": params,
        "total_time": total,
    }


def _enc_varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_model_metrics(
    evaluation_data: Sequence[Mapping[str, Any]], trainable_parameters: int, total_time: float | None = None
) -> bytes:
    """Serialize a ``ModelMetrics`` message (fields in number order, as protobuf writes them)."""
    out = bytearray()
    for ev in evaluation_data:
        msg = bytearray()
        for k, name in enumerate(_EVAL_FIELDS, start=1):
            if ev.get(name) is not None:
                msg += bytes([(k << 3) | 1]) + _F64.pack(float(ev[name]))
        if ev.get("checkpoint_path"):
            path = str(ev["checkpoint_path"]).encode("utf-8")
            msg += b"\x32" + _enc_varint(len(path)) + path
        out += b"\x0a" + _enc_varint(len(msg)) + msg
    out += b"\x10" + _enc_varint(int(trainable_parameters))
    if total_time is not None:
        out += b"\x19" + _F64.pack(float(total_time))
    return bytes(out)


# ------------------------------------------------------------------------------------------
# NAS-Bench-101 records
# ------------------------------------------------------------------------------------------
@dataclass
class NasbenchRecords:
    """One entry per record (one training run) of a NAS-Bench-101 tfrecord, as columns.

    Accuracies are fractions as stored; ``train_seconds`` etc. come from the last
    ``evaluation_data`` entry (the end of training, the official ``final_*``).
    """

    module_hash: np.ndarray          # 'S32'
    epochs: np.ndarray               # int32
    raw_adjacency: list[str]
    raw_operations: list[str]
    trainable_parameters: np.ndarray  # int64
    train_seconds: np.ndarray        # float64
    train_accuracy: np.ndarray
    validation_accuracy: np.ndarray
    test_accuracy: np.ndarray
    halfway_validation_accuracy: np.ndarray
    halfway_test_accuracy: np.ndarray

    def __len__(self) -> int:
        return len(self.module_hash)


def _parse_payloads(path: Path, batch: RecordBatch) -> tuple:
    """Decode the JSON + base64 + protobuf payloads of one batch into per-record values."""
    payloads = [batch.payload(i) for i in range(len(batch))]
    try:
        rows = json.loads(b"[" + b",".join(payloads) + b"]")  # one C-level parse for the whole chunk
    except (ValueError, UnicodeDecodeError):
        rows = None
    if rows is None or len(rows) != len(payloads):  # find the culprit record
        rows = []
        for i, p in enumerate(payloads):
            try:
                rows.append(json.loads(p))
            except (ValueError, UnicodeDecodeError) as exc:
                raise DataError(path, f"record {batch.first_index + i}: payload is not valid JSON ({exc})") from None
    n = len(rows)
    hashes, epochs, adjs, opss = [], np.empty(n, np.int32), [], []
    params = np.empty(n, np.int64)
    vals = np.empty((n, 6), np.float64)  # train_seconds, train, val, test, half val, half test
    nan = float("nan")
    b64 = binascii.a2b_base64
    for i, row in enumerate(rows):
        rec = batch.first_index + i
        if not (isinstance(row, list) and len(row) == 5):
            raise DataError(path, f"record {rec}: payload must be a JSON list [hash, epochs, adjacency, operations, metrics]")
        h, ep, adj, ops, metrics = row
        if not (isinstance(h, str) and len(h) == 32 and isinstance(ep, int) and isinstance(adj, str)
                and isinstance(ops, str) and isinstance(metrics, str)):
            raise DataError(path, f"record {rec}: payload fields have the wrong types (hash, epochs, adjacency, operations, metrics)")
        try:
            raw = b64(metrics.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
            raise DataError(path, f"record {rec}: metrics are not valid base64 ({exc})") from None
        try:
            evals, p, _ = _decode_metrics(raw)
        except _ProtoError as exc:
            raise DataError(path, f"record {rec}: metrics are not a valid ModelMetrics protobuf ({exc})") from None
        if not evals:
            raise DataError(path, f"record {rec}: ModelMetrics has no evaluation_data")
        final = evals[-1]
        half = evals[-2] if len(evals) >= 3 else (nan,) * 5
        hashes.append(h)
        epochs[i] = ep
        adjs.append(adj)
        opss.append(ops)
        params[i] = p
        vals[i] = (final[1], final[2], final[3], final[4], half[3], half[4])
    return hashes, epochs, adjs, opss, params, vals


def read_nasbench_tfrecord(path: str | os.PathLike, chunk_bytes: int = 1 << 26) -> NasbenchRecords:
    """Every record of an official NAS-Bench-101 tfrecord, decoded and checked.

    Raises:
        DataError: naming the file and the record number for a truncated file, a CRC mismatch,
            a payload that is not the official JSON list, bad base64 or a bad protobuf.
    """
    path = Path(path)
    parts = [_parse_payloads(path, batch) for batch in iter_tfrecord_batches(path, chunk_bytes)]
    if not parts:
        raise DataError(path, "no records (empty file)")
    try:
        hashes = np.array([h for p in parts for h in p[0]], dtype="S32")
    except UnicodeEncodeError:
        raise DataError(path, "a module hash is not ASCII hex") from None
    vals = np.concatenate([p[5] for p in parts])
    return NasbenchRecords(
        module_hash=hashes,
        epochs=np.concatenate([p[1] for p in parts]),
        raw_adjacency=[a for p in parts for a in p[2]],
        raw_operations=[o for p in parts for o in p[3]],
        trainable_parameters=np.concatenate([p[4] for p in parts]),
        train_seconds=vals[:, 0],
        train_accuracy=vals[:, 1],
        validation_accuracy=vals[:, 2],
        test_accuracy=vals[:, 3],
        halfway_validation_accuracy=vals[:, 4],
        halfway_test_accuracy=vals[:, 5],
    )


def write_nasbench_tfrecord(path: str | os.PathLike, records: Iterable[Mapping[str, Any]]) -> int:
    """Write training runs in the official NAS-Bench-101 tfrecord layout; returns the count.

    Each record is a mapping with ``adjacency`` (square 0/1 matrix, pruned), ``operations``
    (op names, ``input`` ... ``output``), ``epochs`` (int, e.g. 108), ``trainable_parameters``
    and ``evaluation_data`` (list of dicts with ``current_epoch``, ``training_time``,
    ``train_accuracy``, ``validation_accuracy``, ``test_accuracy`` as fractions, optional
    ``checkpoint_path``; the official files hold 3: start, half-way, end), optionally
    ``total_time`` and ``module_hash`` (computed with the official algorithm when absent).
    One record is one training run: write 3 records (repeats) per cell and budget to mimic the
    official file. The file is written atomically.
    """
    from .cells import cells_from_specs, module_hashes

    def payloads() -> Iterator[bytes]:
        for rec in records:
            matrix = np.asarray(rec["adjacency"], dtype=np.int64)
            ops = [str(o) for o in rec["operations"]]
            h = rec.get("module_hash")
            if h is None:
                h = str(module_hashes(cells_from_specs([matrix], [ops]))[0])
            metrics = encode_model_metrics(rec["evaluation_data"], int(rec["trainable_parameters"]), rec.get("total_time"))
            row = [
                h,
                int(rec["epochs"]),
                "".join(str(int(x)) for x in matrix.reshape(-1)),
                ",".join(ops),
                base64.b64encode(metrics).decode("ascii"),
            ]
            yield json.dumps(row).encode("utf-8")

    count = 0

    def counted() -> Iterator[bytes]:
        nonlocal count
        for p in payloads():
            count += 1
            yield p

    write_tfrecords(path, counted())
    return count
