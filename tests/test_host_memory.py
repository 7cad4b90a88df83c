"""zoo.host_memory: big CPU buffers reuse freed memory instead of faulting in fresh pages."""

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import resource, sys, torch
    from zoo.host_memory import keep_freed_memory

    def faults_per_cycle():  # a 64 MiB buffer, written, freed: 14 times; the last 3 cycles' page faults
        # (kept memory is reused once the heap has settled: until then small allocations made
        # between two buffers can push the next one onto fresh pages; on this VM the 2nd to the
        # 5th buffer sometimes faulted, in 20 runs never a later one)
        counts = []
        for _ in range(14):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            buffer = torch.empty(16 << 20)
            buffer.fill_(1.0)
            del buffer
            counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        return max(counts[-3:])

    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    print(faults_per_cycle())
""")


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_big_buffer_is_reused_without_page_faults():
    default = _faults("default")
    if default < 1000:
        pytest.skip(f"this kernel maps big blocks in huge pages ({default} faults per 64 MiB): nothing to save")
    # 16,384 pages of 4 KiB each time by default; none once freed memory is kept
    assert default > 10000
    assert _faults("keep") < 100


def test_optimize_lists_the_step_on_cpu_only_when_asked():
    import torch

    import zoo
    from zoo.host_memory import keep_freed_memory

    if not keep_freed_memory():
        pytest.skip("not glibc: the step is never in effect")

    model = zoo.create_model("i3d_tiny_8x4_demo")
    x = torch.randn(1, 3, 8, 32, 32)
    assert "host_memory" in zoo.optimize(model, x, compile=False).fast_paths
    model = zoo.create_model("i3d_tiny_8x4_demo")
    assert "host_memory" not in zoo.optimize(model, x, compile=False, host_memory=False).fast_paths


def test_ablation_times_both_settings_in_their_own_processes(tmp_path):
    from benchmarks.perf import host_memory_ablation
    from zoo.host_memory import keep_freed_memory

    if not keep_freed_memory():
        pytest.skip("not glibc: there is no 'on' to time")

    assert host_memory_ablation.main(["i3d_tiny_8x4_demo", "--batch", "2", "--rounds", "1", "--reps", "1",
                                      "--eager", "--out", str(tmp_path)]) == 0
    import csv

    (row,) = list(csv.DictReader(open(tmp_path / "host_memory.csv")))
    assert (row["name"], row["batch"], row["input"], row["rounds"]) == ("i3d_tiny_8x4_demo", "2", "3x8x32x32", "1")
    assert float(row["off_s"]) > 0 and float(row["on_s"]) > 0
    assert abs(float(row["speedup"]) - float(row["off_s"]) / float(row["on_s"])) < 1e-3 * float(row["speedup"])
    assert "| i3d_tiny_8x4_demo |" in (tmp_path / "host_memory.md").read_text()
