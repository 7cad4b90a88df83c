"""The depthwise micro-benchmark: the shapes it reads from a model, its sums, and its three exports."""

import pytest
import torch
from torch import nn

from benchmarks.perf import xnnpack_dwconv
from benchmarks.perf.xnnpack_dwconv import DepthwiseShape


def test_depthwise_shapes_are_read_from_a_forward_pass():
    net = nn.Sequential(
        nn.Conv3d(3, 8, (5, 1, 1), padding=(2, 0, 0), groups=1),  # not depthwise: in 3 != groups
        nn.Conv3d(8, 8, (3, 3, 3), stride=(1, 2, 2), padding=1, groups=8),  # 16x16 -> 8x8
        nn.Conv3d(8, 8, (3, 3, 3), padding=1, groups=8),
        nn.Conv3d(8, 8, (3, 3, 3), padding=1, groups=8),  # same shape as the one before: counted twice
        nn.Conv3d(8, 8, (5, 1, 1), padding=(2, 0, 0), groups=8),
        nn.Conv3d(8, 16, 1),
    )
    shapes = xnnpack_dwconv.depthwise_shapes(net, torch.zeros(1, 3, 4, 16, 16))
    assert shapes == [DepthwiseShape(8, 4, 16, 16, 3, 2, 3, 1), DepthwiseShape(8, 4, 8, 8, 3, 1, 3, 2),
                      DepthwiseShape(8, 4, 8, 8, 1, 1, 5, 1)]


def _row(count, taps, dw32, dw8, b32, b8, mixed):
    return {"count": str(count), "taps": str(taps), "dw_fp32_us": str(dw32), "dw_int8_us": str(dw8),
            "block_fp32_us": str(b32), "block_int8_us": str(b8), "block_mixed_us": str(mixed)}


def test_totals_weigh_each_shape_by_its_taps():
    rows = [_row(2, 3, 100.0, 200.0, 1000.0, 500.0, 450.0), _row(1, 5, 40.0, 20.0, 800.0, 400.0, 500.0)]
    t = xnnpack_dwconv.entry_totals(rows)
    assert t["convs"] == 11
    assert t["dw_fp32_ms"] == pytest.approx((6 * 100 + 5 * 40) / 1e3) and t["dw_int8_ms"] == pytest.approx((6 * 200 + 5 * 20) / 1e3)
    assert t["mixed_minus_int8_ms"] == pytest.approx((6 * -50 + 5 * 100) / 1e3)  # -0.3 + 0.5
    text = xnnpack_dwconv.explain(rows)
    assert "int8 depthwise convolutions take 1.30 ms against fp32's 0.80 (fp32 / int8 0.62x); int8 is slower at 1 of 2" in text
    assert "faster than the int8 block at 1 of 2 shapes; over the entry's taps, mixed precision costs 0.20 ms" in text


def test_results_replace_an_entrys_rows_of_this_machine(tmp_path):
    common = {"channels": 8, "frames": 4, "height": 8, "width": 8, "kernel": 3, "stride": 1, "runs": 2, "threads": 1,
              "executorch": "x", "machine": xnnpack_dwconv.machine()}
    first = [common | _row(1, 3, 10.0, 20.0, 100.0, 50.0, 60.0) | {"name": "a", "command": "first"}]
    other = [{**first[0], "name": "b", "command": "b"}]
    again = [{**first[0], "command": "again"}]
    for rows in (first, other, again):
        xnnpack_dwconv.write_results(tmp_path, rows)
    rows = xnnpack_dwconv.read_rows(tmp_path / xnnpack_dwconv.CSV_FILE)
    assert [(r["name"], r["command"]) for r in rows] == [("b", "b"), ("a", "again")]
    page = (tmp_path / xnnpack_dwconv.REPORT).read_text()
    assert "| 8 | 4 | 8 x 8 | 3 / 1 | 1 x 3 | 10.0 | 20.0 | 0.50x | 100.0 | 50.0 | 60.0 |" in page


def test_the_three_exports_run_the_depthwise_convolution_in_their_precision(tmp_path):
    pytest.importorskip("executorch.devtools")
    from benchmarks.perf.xnnpack_ops import profile

    shape = DepthwiseShape(8, 2, 8, 8, 3, 1, 3)
    names, pointwise = {}, {}
    for precision in xnnpack_dwconv.PRECISIONS:
        kinds = profile(xnnpack_dwconv.write_block(shape, precision, tmp_path / "block.pte"), runs=2)["kinds"]
        names[precision] = kinds["depthwise conv"][2]
        pointwise[precision] = set().union(*(k[2] for kind, k in kinds.items() if "pointwise" in kind))
    assert all("F32" in n for n in names["fp32"]) and all("F32" in n for n in names["int8, depthwise fp32"])
    assert all("QC8" in n or "QS8" in n for n in names["int8"])
    # the mixed block is int8 but for its depthwise convolution
    assert pointwise["int8, depthwise fp32"] and not any("F32" in n for n in pointwise["int8, depthwise fp32"])
