"""NAS-Bench-201 readers: official .pth (via nas_201_api), cell-info JSON, CSV; their error paths."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nar_core.benchmarks import Benchmark, find_source, load_benchmark
from nar_core.errors import DataError, NarError
from nar_core.paths import default_data_dir
from nar_core.spaces import canonical_dataset
from nar_core.spaces.nb201.cells import NUM_CELLS, index_to_ops, index_to_str, op_matrix
from nar_core.spaces.nb201.encoding import cell_info_costs, network_cost
from nar_core.spaces.nb201.reader import read_nb201_cell_info, read_nb201_csv, read_nb201_pth

from nb201_official_files import SEEDS, official_accuracy, official_latency, official_pth_dict, write_official_pth

DATA = default_data_dir()
EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "nar_cell_info_examples" / "nasbench201_vertice_example.json"
INDICES = (0, 6111, 15624)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NAR_CACHE_DIR", str(tmp_path / "user_cache"))


def _mean(index, dataset, setname, hp="200"):
    return np.mean([official_accuracy(index, dataset, setname, s, "12" if hp == "12" else "200") for s in SEEDS])


# --- official .pth ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pth_file(tmp_path_factory) -> Path:
    return write_official_pth(tmp_path_factory.mktemp("pth") / "NAS-Bench-201-v1_1-096897.pth", INDICES)


def test_pth_reader_maps_the_official_sets(pth_file):
    b = read_nb201_pth(pth_file)
    assert b.space == "nb201" and b.keys.tolist() == list(INDICES)
    np.testing.assert_array_equal(b.cell_arrays["ops"], index_to_ops(np.array(INDICES)))
    expect = {
        "cifar10_val": ("cifar10-valid", "x-valid", "200"),
        "cifar10_valid_test": ("cifar10-valid", "ori-test", "200"),
        "cifar10_test": ("cifar10", "ori-test", "200"),
        "cifar100_val": ("cifar100", "x-valid", "200"),
        "cifar100_test": ("cifar100", "x-test", "200"),
        "imagenet16_val": ("ImageNet16-120", "x-valid", "200"),
        "imagenet16_test": ("ImageNet16-120", "x-test", "200"),
        "cifar10_val_12ep": ("cifar10-valid", "x-valid", "12"),
        "cifar100_val_12ep": ("cifar100", "x-valid", "12"),
        "imagenet16_val_12ep": ("ImageNet16-120", "x-valid", "12"),
    }
    for col, (ds, setname, hp) in expect.items():
        np.testing.assert_allclose(b.column(col), [_mean(i, ds, setname, hp) for i in INDICES], err_msg=col)
    np.testing.assert_allclose(b.column("latency_ms/nb201_api"), [1000 * official_latency(i, "cifar10-valid") for i in INDICES])
    np.testing.assert_allclose(b.column("latency_ms/nb201_api_imagenet16"), [1000 * official_latency(i, "ImageNet16-120") for i in INDICES])
    assert "latency_ms" not in b.columns  # that name is the GTX 1080 Ti latency of NARQ2T


def test_load_benchmark_on_pth_adds_costs_and_caches(pth_file, tmp_path):
    b = load_benchmark("nb201", pth_file)
    f, p = network_cost(index_to_ops(np.array(INDICES)), "cifar100")
    np.testing.assert_array_equal(b.column("cifar100_flops"), f)
    np.testing.assert_array_equal(b.column("cifar100_params"), p)
    again = load_benchmark("nb201", pth_file)
    assert again.meta["cache"]["status"] == "hit"
    for name in b.columns:
        np.testing.assert_array_equal(again.column(name), b.column(name))
    # a data dir holding the official file finds it
    assert find_source("nb201", pth_file.parent) == pth_file


@pytest.mark.parametrize("problem", ["truncated", "garbled", "missing_key", "wrong_version", "not_a_dict", "empty"])
def test_bad_pth_gives_one_data_error_and_no_cache(tmp_path, pth_file, problem):
    import torch

    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    if problem == "truncated":
        path.write_bytes(pth_file.read_bytes()[: pth_file.stat().st_size // 2])
    elif problem == "garbled":
        path.write_bytes(os.urandom(4096))
    elif problem == "missing_key":
        d = official_pth_dict([0])
        del d["arch2infos"]
        torch.save(d, path)
    elif problem == "wrong_version":  # another benchmark's architecture list (e.g. NATS size space)
        d = official_pth_dict([0])
        d["meta_archs"] = d["meta_archs"][:100]
        torch.save(d, path)
    elif problem == "not_a_dict":
        torch.save([1, 2, 3], path)
    else:
        path.write_bytes(b"")
    with pytest.raises(DataError) as info:
        load_benchmark("nb201", path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    leftovers = [p.name for p in tmp_path.rglob("*") if p.is_file() and p != path]
    assert leftovers == []


def test_pth_with_a_wrong_order_is_rejected(tmp_path):
    import torch

    d = official_pth_dict([0])
    d["meta_archs"][0], d["meta_archs"][1] = d["meta_archs"][1], d["meta_archs"][0]
    torch.save(d, tmp_path / "x.pth")
    with pytest.raises(DataError, match="architecture 0 is"):
        read_nb201_pth(tmp_path / "x.pth")


# --- cell-information JSON --------------------------------------------------------------------
def _cell_info(indices) -> dict:
    out = {}
    for i in indices:
        ops = index_to_ops(np.array([i]))
        entry = {"cell_adjacency": op_matrix(ops)[0].tolist()}
        for k, ds in enumerate(("cifar10", "cifar100", "imagenet16")):
            entry[f"{ds}_val_acc"] = 50.0 + i / 1000 + k
            entry[f"{ds}_test_acc"] = 60.0 + i / 1000 + k
            entry[f"{ds}_latency"] = 0.01 + k / 1000
            entry.update(cell_info_costs(ops, ds))
        entry["arch_str"] = index_to_str(i)
        out[str(i)] = entry
    return out


def test_cell_info_reader_on_the_authors_example():
    if not EXAMPLE.is_file():
        pytest.skip(f"{EXAMPLE} not found")
    b = read_nb201_cell_info(EXAMPLE)
    assert b.keys.tolist() == [0]
    assert b.column("cifar10_val")[0] == pytest.approx(81.98266665690103)
    assert b.column("imagenet16_test")[0] == pytest.approx(26.633333287556965)
    assert b.column("latency_ms/nb201_api")[0] == pytest.approx(13.9359758611311)


def test_cell_info_reader_round_trip(tmp_path):
    path = tmp_path / "nb201_cell_info.json"
    path.write_text(json.dumps(_cell_info([15624, 3, 6111])))
    b = load_benchmark("nb201", path)
    assert b.keys.tolist() == [3, 6111, 15624]  # sorted by index
    np.testing.assert_allclose(b.column("cifar100_test"), [61.003, 67.111, 76.624])
    np.testing.assert_allclose(b.column("latency_ms/nb201_api_cifar100"), [11.0] * 3)
    assert b.row_of_key(6111) == 1


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["3"].pop("cifar100_test_acc"), "cell 3: missing key(s) cifar100_test_acc"),
        (lambda d: d["3"].pop("cell_adjacency"), "missing key(s) cell_adjacency"),
        (lambda d: d["3"]["cifar10-valid_opt_flops"]["cells6"].__setitem__(1, 1), "cifar10-valid_opt_flops[cells6]"),
        (lambda d: d["3"].__setitem__("ImageNet16-120_total_params", 1), "ImageNet16-120_total_params = 1 differs"),
        (lambda d: d.__setitem__("4", d.pop("3")), "is the cell of index 3, not 4"),
        (lambda d: d["3"]["cell_adjacency"][3].__setitem__(0, 2), "is not a NAS-Bench-201 cell"),
        (lambda d: d["3"].__setitem__("arch_str", index_to_str(4)), "arch_str"),
        (lambda d: d.__setitem__("99999", d.pop("3")), "out of range"),
        (lambda d: d["3"].__setitem__("cifar10_val_acc", "high"), "is not a number"),
    ],
)
def test_bad_cell_info_gives_a_clear_error(tmp_path, mutate, message):
    data = _cell_info([3])
    mutate(data)
    path = tmp_path / "info.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError) as info:
        load_benchmark("nb201", path)
    assert message in str(info.value) and str(path) in str(info.value)
    assert [p for p in tmp_path.rglob("*.npz")] == []


def test_cell_info_with_one_architecture_twice_is_refused(tmp_path):
    entries = _cell_info([3, 6111])
    first, second = json.dumps({"3": entries["3"]}), json.dumps({"6111": entries["6111"]})
    path = tmp_path / "info.json"
    path.write_text(first[:-1] + ", " + second[1:-1] + ", " + first[1:])  # {"3": ..., "6111": ..., "3": ...}
    with pytest.raises(DataError, match=r"info.json: architecture '3' appears twice \(entries 0 and 2 of the "
                                        "top-level object"):
        load_benchmark("nb201", path)


def test_not_json(tmp_path):
    path = tmp_path / "info.json"
    path.write_text('{"0": {')
    with pytest.raises(DataError, match="not valid JSON"):
        read_nb201_cell_info(path)


# --- CSV --------------------------------------------------------------------------------------
def _write_csv_dir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    idx = np.arange(NUM_CELLS)
    frame = pd.DataFrame({"index": idx, "arch_str": index_to_str(idx)})
    for k, col in enumerate(["cifar10_valid_val", "cifar10_valid_test", "cifar10_test", "cifar100_val",
                             "cifar100_test", "imagenet16_val", "imagenet16_test"]):
        frame[col] = (idx * 7 + k) % 1000 / 10.0
    frame.to_csv(folder / "nb201_accuracy.csv", index=False)
    pd.DataFrame({"index": idx, "1080ti_256": idx / 100, "pixel3": idx / 10}).to_csv(folder / "nb201_latency_ms.csv", index=False)
    pd.DataFrame({"index": idx, "edgetpu_latency": np.where(idx % 2 == 0, -1, 1.5)}).to_csv(
        folder / "nb201_hw_ImageNet16-120.csv", index=False)
    return folder


def test_csv_reader_fixture(tmp_path):
    folder = _write_csv_dir(tmp_path / "data" / "nb201")
    b = load_benchmark("nb201", tmp_path / "data")  # the shared layout <dir>/nb201/
    assert len(b) == NUM_CELLS and b.keys.tolist()[:3] == [0, 1, 2]
    assert b.column("cifar10_val")[10] == pytest.approx(7.0)
    assert b.column("cifar10_test")[10] == pytest.approx(7.2)
    assert b.column("latency_ms")[10] == pytest.approx(0.1)
    assert b.column("latency_ms/pixel3")[10] == pytest.approx(1.0)
    hw = b.column("hw/imagenet16/edgetpu_latency")
    assert np.isnan(hw[0]) and hw[1] == 1.5
    # a cache was written next to the source (the directory is writable)
    assert (folder / ".nb201_accuracy.csv.nb201.csv2.npz").is_file()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.drop(index=77), "has 15624 rows, expected 15625"),
        (lambda f: f.assign(arch_str=f["arch_str"].where(f["index"] != 5, f["arch_str"][6])), "row 5: arch string"),
        (lambda f: f.assign(arch_str=f["arch_str"].where(f["index"] != 9, "|conv~0|")), "row 9: arch string '|conv~0|' is invalid"),
        (lambda f: f.drop(columns=["cifar100_val"]), "missing column(s) cifar100_val"),
        (lambda f: f.assign(cifar10_test=f["cifar10_test"].astype(object).where(f["index"] != 3, "high")), f"column 'cifar10_test', architecture 3 ({index_to_str(3)}): 'high' is not a number"),
        (lambda f: f.iloc[::-1], "rows must be in official index order"),
        # impossible values: never cached as valid (nar data info would report 1e9 as the best cell)
        (lambda f: f.assign(cifar10_test=f["cifar10_test"].where(f["index"] != 4, 1e9)),
         f"column 'cifar10_test', architecture 4 ({index_to_str(4)}): value 1000000000.0 is not an accuracy in % (allowed 0 to 100)"),
        (lambda f: f.assign(cifar100_val=f["cifar100_val"].where(f["index"] != 8, -3.0)),
         "column 'cifar100_val', architecture 8 (|"),
        (lambda f: f.assign(imagenet16_test=f["imagenet16_test"].where(f["index"] != 11)),
         f"column 'imagenet16_test', architecture 11 ({index_to_str(11)}): value is missing (empty or NaN)"),
        (lambda f: f.assign(cifar10_valid_val=f["cifar10_valid_val"].astype(object).where(f["index"] != 2, "nan")),
         "column 'cifar10_valid_val', architecture 2 (|"),
    ],
)
def test_bad_csv_gives_a_clear_error(tmp_path, mutate, message):
    folder = _write_csv_dir(tmp_path / "nb201")
    acc = folder / "nb201_accuracy.csv"
    mutate(pd.read_csv(acc)).to_csv(acc, index=False)
    with pytest.raises(DataError) as info:
        load_benchmark("nb201", folder)
    assert message in str(info.value) and str(acc) in str(info.value)
    assert list(tmp_path.rglob("*.npz")) == [] and not any(p.name.startswith(".nb") for p in folder.iterdir())


def test_bad_optional_csv_names_its_file(tmp_path):
    folder = _write_csv_dir(tmp_path / "nb201")
    lat = folder / "nb201_latency_ms.csv"
    pd.read_csv(lat).head(100).to_csv(lat, index=False)
    with pytest.raises(DataError, match="nb201_latency_ms.csv: has 100 rows"):
        read_nb201_csv(folder)


def test_negative_latency_and_hw_values_name_file_column_and_row(tmp_path):
    folder = _write_csv_dir(tmp_path / "nb201")
    lat = folder / "nb201_latency_ms.csv"
    frame = pd.read_csv(lat)
    frame.loc[7, "pixel3"] = -0.5
    frame.to_csv(lat, index=False)
    with pytest.raises(DataError, match=r"nb201_latency_ms.csv: column 'pixel3', architecture 7: value -0.5 is not a non-negative cost"):
        read_nb201_csv(folder)
    _write_csv_dir(folder)
    hw = folder / "nb201_hw_ImageNet16-120.csv"
    frame = pd.read_csv(hw)
    frame.loc[3, "edgetpu_latency"] = -7  # -1 is the file's "not measured"; other negatives are broken
    frame.to_csv(hw, index=False)
    with pytest.raises(DataError, match=r"nb201_hw_ImageNet16-120.csv: column 'edgetpu_latency', architecture 3: value -7"):
        read_nb201_csv(folder)


def test_missing_data(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        load_benchmark("nb201", tmp_path / "nowhere")
    with pytest.raises(DataError, match="no nb201 data found"):
        load_benchmark("nb201", tmp_path)
    (tmp_path / "x.parquet").write_text("")
    with pytest.raises(DataError, match="unknown NAS-Bench-201 file type"):
        load_benchmark("nb201", tmp_path / "x.parquet")
    with pytest.raises(NarError, match="unknown search space"):
        load_benchmark("nb999", tmp_path)
    with pytest.raises(NarError, match="unknown dataset"):
        canonical_dataset("mnist", "nb201")


# --- the real shared data ---------------------------------------------------------------------
@pytest.mark.skipif(not (DATA / "nb201" / "nb201_accuracy.csv").is_file(), reason=f"shared NAS-Bench-201 CSVs not found under {DATA}")
def test_real_csv_data_matches_the_readme_facts():
    b = load_benchmark("nb201", DATA)
    assert isinstance(b, Benchmark) and len(b) == NUM_CELLS
    facts = {
        "cifar10_val": (6111, 91.6067), "cifar10_valid_test": (1459, 91.5233), "cifar10_test": (6111, 94.3733),
        "cifar100_val": (9930, 73.4933), "cifar100_test": (9930, 73.5133),
        "imagenet16_val": (10676, 46.7333), "imagenet16_test": (857, 47.3111),
    }
    for col, (index, value) in facts.items():
        row, best = b.best(col)
        assert (int(b.keys[row]), round(best, 4)) == (index, value), col
    # architecture 0 carries exactly the values of the authors' cell-information example
    if EXAMPLE.is_file():
        ex = json.loads(EXAMPLE.read_text())["0"]
        assert b.column("cifar10_val")[0] == pytest.approx(ex["cifar10_val_acc"], abs=1e-5)
        assert b.column("imagenet16_test")[0] == pytest.approx(ex["imagenet16_test_acc"], abs=1e-5)
        assert b.column("cifar10_flops")[0] == ex["cifar10-valid_total_flops"]
    assert b.column("latency_ms")[0] == pytest.approx(17.25528)
    assert np.isnan(b.column("hw/cifar10/edgetpu_latency")).sum() > 0


# --- NATS-Bench topology (optional dependency) ------------------------------------------------
def test_nats_tss_directory(tmp_path):
    pytest.importorskip("nats_bench", reason="nats_bench (official NATS-Bench API) not installed")
    from nb201_official_files import write_nats_tss_dir

    folder = write_nats_tss_dir(tmp_path / "NATS-tss-v1_0-3ffb9-simple", [7, 6111])
    b = load_benchmark("nb201", folder)
    assert b.meta["format"] == "nats-tss" and b.keys.tolist() == [7, 6111]
    np.testing.assert_allclose(b.column("cifar100_test"), [_mean(i, "cifar100", "x-test") for i in (7, 6111)])
    np.testing.assert_allclose(b.column("imagenet16_val_12ep"), [_mean(i, "ImageNet16-120", "x-valid", "12") for i in (7, 6111)])
    assert find_source("nb201", tmp_path) == folder
    (folder / "000007.pickle.pbz2").write_bytes(b"BZh9 broken")
    with pytest.raises(DataError, match="000007.pickle.pbz2"):
        load_benchmark("nb201", folder)
