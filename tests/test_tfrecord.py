"""TFRecord framing, CRC32C and the ModelMetrics protobuf, without TensorFlow."""
from __future__ import annotations


import numpy as np
import pytest

from nar_core.errors import DataError
from nar_core.spaces.nb101.tfrecord import (
    crc32c,
    crc32c_many,
    decode_model_metrics,
    encode_model_metrics,
    iter_tfrecord_batches,
    masked_crc32c,
    read_tfrecords,
    write_tfrecords,
)


def test_crc32c_known_vectors():
    # RFC 3720 B.4 and the classic check value
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C


def test_tfrecord_masked_crc_known_values():
    # values other TFRecord/TensorBoard writers pin in their tests
    assert masked_crc32c(b"123456789") == 0xC78AB0E5
    assert masked_crc32c(b"foo") == 0xFEBE8A61
    assert masked_crc32c(b"") == 0xA282EAD8


def test_vectorised_crc_matches_scalar_on_random_slices():
    rng = np.random.default_rng(0)
    parts = [rng.integers(0, 256, int(rng.integers(0, 700)), dtype=np.uint8).tobytes() for _ in range(300)]
    buf = np.frombuffer(b"".join(parts), dtype=np.uint8)
    lengths = np.array([len(p) for p in parts])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    got = crc32c_many(buf, starts, lengths, block=37)
    assert [int(c) for c in got] == [crc32c(p) for p in parts]


def test_vectorised_crc_bounds_its_blocks_and_takes_long_slices_one_by_one():
    rng = np.random.default_rng(1)
    parts = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in [5, 0, 3000, 17, 70_000, 1, 900] * 3]
    buf = np.frombuffer(b"".join(parts), dtype=np.uint8)
    lengths = np.array([len(p) for p in parts])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    # max_bytes 1 KiB: the 3,000 and 70,000 byte slices take the scalar path, the rest small blocks
    got = crc32c_many(buf, starts, lengths, max_bytes=1 << 10)
    assert [int(c) for c in got] == [crc32c(p) for p in parts]


def test_write_read_round_trip_across_chunks(tmp_path):
    payloads = [bytes([i % 251]) * (i * 37 % 1000) for i in range(200)]
    path = tmp_path / "x.tfrecord"
    write_tfrecords(path, payloads)
    assert read_tfrecords(path) == payloads
    # tiny chunks: records straddle chunk borders and some exceed a chunk
    batches = list(iter_tfrecord_batches(path, chunk_bytes=300))
    assert [b.payload(i) for b in batches for i in range(len(b))] == payloads
    assert batches[0].first_index == 0 and sum(len(b) for b in batches) == 200


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d[:-5], "truncated: record 9"),
        (lambda d: d[:5], "truncated: record 0 at byte 0 has an incomplete header"),
        (lambda d: d[:50] + bytes([d[50] ^ 1]) + d[51:], "record 1 at byte 38: data CRC mismatch"),
        (lambda d: d[:38] + bytes([d[38] ^ 4]) + d[39:], "record 1 at byte 38: length CRC mismatch"),
        (lambda d: d[:-2] + bytes([d[-2] ^ 1]) + d[-1:], "record 9 .* data CRC mismatch"),
    ],
)
def test_corrupt_files_give_one_clear_error(tmp_path, damage, message):
    path = tmp_path / "c.tfrecord"
    write_tfrecords(path, [b"0123456789abcdefghijkl"] * 10)  # 38 bytes per record
    path.write_bytes(damage(path.read_bytes()))
    for chunk in (1 << 20, 64):
        with pytest.raises(DataError, match=message) as info:
            read_tfrecords_chunked(path, chunk)
        assert str(path) in str(info.value)


def read_tfrecords_chunked(path, chunk):
    return [b.payload(i) for b in iter_tfrecord_batches(path, chunk_bytes=chunk) for i in range(len(b))]


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot open"):
        read_tfrecords(tmp_path / "nope.tfrecord")


def _message_classes():
    """ModelMetrics / EvaluationData built with protobuf's descriptor API from model_metrics.proto."""
    pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FileDescriptorProto(name="nar_test_model_metrics.proto", package="nartest", syntax="proto2")
    ev = f.message_type.add(name="EvaluationData")
    T = descriptor_pb2.FieldDescriptorProto
    for num, name in enumerate(("current_epoch", "training_time", "train_accuracy", "validation_accuracy", "test_accuracy"), 1):
        ev.field.add(name=name, number=num, type=T.TYPE_DOUBLE, label=T.LABEL_OPTIONAL)
    ev.field.add(name="checkpoint_path", number=6, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    mm = f.message_type.add(name="ModelMetrics")
    mm.field.add(name="evaluation_data", number=1, type=T.TYPE_MESSAGE, label=T.LABEL_REPEATED, type_name=".nartest.EvaluationData")
    mm.field.add(name="trainable_parameters", number=2, type=T.TYPE_INT32, label=T.LABEL_OPTIONAL)
    mm.field.add(name="total_time", number=3, type=T.TYPE_DOUBLE, label=T.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("nartest.ModelMetrics"))


EVALS = [
    {"current_epoch": 0.0, "training_time": 0.0, "train_accuracy": 0.1, "validation_accuracy": 0.09, "test_accuracy": 0.1},
    {"current_epoch": 54.0, "training_time": 850.5, "train_accuracy": 0.8, "validation_accuracy": 0.79, "test_accuracy": 0.78,
     "checkpoint_path": "gs://x/model.ckpt-10530"},
    {"current_epoch": 108.0, "training_time": 1701.25, "train_accuracy": 1.0, "validation_accuracy": 0.9264, "test_accuracy": 0.9206},
]


def test_protobuf_encoding_matches_the_protobuf_library():
    ModelMetrics = _message_classes()
    mine = encode_model_metrics(EVALS, 8555530, 1900.0)
    theirs = ModelMetrics.FromString(mine)
    assert theirs.trainable_parameters == 8555530 and theirs.total_time == 1900.0
    assert theirs.evaluation_data[2].test_accuracy == 0.9206
    assert theirs.evaluation_data[1].checkpoint_path == "gs://x/model.ckpt-10530"
    assert theirs.SerializeToString() == mine


def test_protobuf_decoding_of_library_messages_including_unusual_layouts():
    ModelMetrics = _message_classes()
    msg = ModelMetrics(trainable_parameters=123456, total_time=5.5)
    for ev in EVALS:
        msg.evaluation_data.add(**ev)
    got = decode_model_metrics(msg.SerializeToString())
    assert got["trainable_parameters"] == 123456 and got["total_time"] == 5.5
    assert got["evaluation_data"][2]["validation_accuracy"] == 0.9264
    # missing fields and reordered fields take the generic path
    sparse = ModelMetrics()
    sparse.evaluation_data.add(test_accuracy=0.5)
    dec = decode_model_metrics(sparse.SerializeToString())
    assert dec["evaluation_data"][0]["test_accuracy"] == 0.5 and np.isnan(dec["evaluation_data"][0]["training_time"])
    assert dec["trainable_parameters"] == -1
    reordered = b"\x10\x05" + encode_model_metrics(EVALS[:1], 7)
    assert decode_model_metrics(reordered)["trainable_parameters"] == 7


def test_bad_protobuf_is_rejected():
    with pytest.raises(ValueError, match="ModelMetrics"):
        decode_model_metrics(b"\x0a\x50\x09")  # length runs past the end
    with pytest.raises(ValueError, match="wire type"):
        decode_model_metrics(b"\x0b\x00")  # wire type 3 (groups) is not used here
