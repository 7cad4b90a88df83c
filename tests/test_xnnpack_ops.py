"""The per-operator ExecuTorch profile's arithmetic, on hand-made Inspector tables (no export)."""

import pandas as pd

from benchmarks.perf import xnnpack_ops


def _frame(events: list[tuple[str, float, bool]]) -> pd.DataFrame:
    return pd.DataFrame({"event_name": [e[0] for e in events], "min (ms)": [e[1] for e in events],
                         "is_delegated_op": [e[2] for e in events]})


FP32 = _frame([("Method::init", 50.0, False), ("Convolution (NHWC, F32) DWConv #1", 2.0, True),
               ("Convolution (NHWC, F32) DWConv #2", 2.0, True), ("Fully Connected (NC, F32) GEMM #3", 6.0, True),
               ("Sigmoid (NC) #4", 0.4, True), ("DELEGATE_CALL", 11.0, False), ("native_call_mean.out", 0.02, False),
               ("DELEGATE_CALL", 0.01, False), ("Method::execute", 11.1, False)])
INT8 = _frame([("Convolution (NHWC, QC8) DWConv #1", 1.8, True), ("Convolution (NHWC, QC8) DWConv #2", 1.8, True),
               ("Fully Connected (NC, QS8, QC8W) GEMM #3", 2.0, True), ("Invalid Unary Op #4", 0.1, True),
               ("Convert (NC) #5", 0.1, True), ("DELEGATE_CALL", 6.5, False), ("native_call_mean.out", 0.02, False)])


def test_kinds_totals_and_the_limiting_kinds():
    fp32, int8 = xnnpack_ops.summarize(FP32), xnnpack_ops.summarize(INT8)
    assert fp32["kinds"]["depthwise conv"][:2] == (2, 4.0) and int8["kinds"]["sigmoid"][:2] == (1, 0.1)
    assert round(fp32["ops_ms"], 6) == 10.4 and fp32["delegate_ms"] == 11.01 and fp32["outside"] == {"mean.out": (1, 0.02)}
    rows = xnnpack_ops.rows_of("m", fp32, int8, runs=5, threads=1, command="cmd")
    by_kind = {r["kind"]: r for r in rows}
    assert rows[0]["kind"] == "pointwise conv / linear (GEMM)" and by_kind["pointwise conv / linear (GEMM)"]["fp32_over_int8"] == "3.00"
    assert by_kind["convert (quantize / dequantize)"]["fp32_ops"] == 0 and by_kind[xnnpack_ops.SUM_OF_OPS]["int8_ms"] == "5.800"
    assert [r["kind"] for r in rows[-3:]] == [xnnpack_ops.SUM_OF_OPS, xnnpack_ops.DELEGATE, xnnpack_ops.OUTSIDE]
    text = xnnpack_ops.explain(rows)
    # depthwise (4.0 -> 3.6) and convert (int8 only) gain < 1.5x: 3.7 of int8's 5.8 ms
    assert "take 3.70 ms, 64% of int8's operator time: depthwise conv 4.00 -> 3.60 ms (1.11x)" in text
    assert "Most of the saving is pointwise conv / linear (GEMM): 6.00 -> 2.00 ms" in text


def test_results_replace_an_entrys_rows(tmp_path):
    fp32, int8 = xnnpack_ops.summarize(FP32), xnnpack_ops.summarize(INT8)
    for name, command in (("a", "first"), ("b", "b"), ("a", "second")):
        xnnpack_ops.write_results(tmp_path, xnnpack_ops.rows_of(name, fp32, int8, 5, 1, command))
    rows = xnnpack_ops.read_rows(tmp_path / xnnpack_ops.CSV_FILE)
    assert [r["name"] for r in rows].count("a") == len(rows) // 2 and {r["command"] for r in rows} == {"b", "second"}
    page = (tmp_path / xnnpack_ops.REPORT).read_text()
    assert page.index("## b") < page.index("## a") and "outside the delegate (mean.out)" in page


def test_another_machines_rows_stay_in_their_own_section(tmp_path):
    fp32, int8 = xnnpack_ops.summarize(FP32), xnnpack_ops.summarize(INT8)
    xnnpack_ops.write_results(tmp_path, xnnpack_ops.rows_of("a", fp32, int8, 5, 1, "here"))
    rows = xnnpack_ops.read_rows(tmp_path / xnnpack_ops.CSV_FILE)
    assert {r["machine"] for r in rows} == {xnnpack_ops.machine()}
    elsewhere = [{**r, "machine": "Other CPU, 8 CPUs", "command": "there"} for r in rows]
    xnnpack_ops.write_results(tmp_path, elsewhere)  # measured on another machine: both kept
    xnnpack_ops.write_results(tmp_path, xnnpack_ops.rows_of("a", fp32, int8, 5, 1, "here again"))  # this one's replaced
    rows = xnnpack_ops.read_rows(tmp_path / xnnpack_ops.CSV_FILE)
    assert sorted({(r["machine"], r["command"]) for r in rows}) == sorted(
        {("Other CPU, 8 CPUs", "there"), (xnnpack_ops.machine(), "here again")})
    page = (tmp_path / xnnpack_ops.REPORT).read_text()
    assert page.count("## a") == 2 and "Machine: Other CPU, 8 CPUs." in page


def test_a_per_frame_profile_keeps_the_one_batch_one_beside_it(tmp_path):
    """A section per fp32 layout: the per-frame file's profile does not replace the one-batch
    file's (rows from before the layout was recorded count as one batch), and says its layouts."""
    fp32, int8 = xnnpack_ops.summarize(FP32), xnnpack_ops.summarize(INT8)
    old = [{k: v for k, v in r.items() if not k.endswith("_layout")}
           for r in xnnpack_ops.rows_of("a", fp32, int8, 5, 1, "before")]
    xnnpack_ops.write_results(tmp_path, old)
    per_frame = {"fp32": "per-frame", "int8": "frames"}
    for command in ("per frame", "per frame again"):
        xnnpack_ops.write_results(tmp_path, xnnpack_ops.rows_of("a", fp32, int8, 5, 1, command, per_frame))
    rows = xnnpack_ops.read_rows(tmp_path / xnnpack_ops.CSV_FILE)
    assert sorted({(r["command"], r["fp32_layout"]) for r in rows}) == [("before", ""), ("per frame again", "per-frame")]
    page = (tmp_path / xnnpack_ops.REPORT).read_text()
    assert page.count("## a") == 2
    assert "Layout (`zoo export --layout`): one batch of frames, both (measured before the layout was recorded)." in page
    assert "Layout (`zoo export --layout`): fp32 per-frame, int8 frames." in page
