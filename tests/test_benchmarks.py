"""The benchmarks run from their README commands and count FLOPs as the reference does."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests import helpers
from tests.helpers import ROOT

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import gpu_hlo  # noqa: E402  (benchmarks/gpu_hlo.py)
import train_step as bench  # noqa: E402  (benchmarks/train_step.py)


@pytest.mark.parametrize("size,generator,discriminator,iteration", [
    (64, 6.19, 0.35, 116.7), (128, 24.78, 1.51, 468.8), (256, 99.10, 6.29, 1879.2)])
def test_analytic_flops_are_the_reference_table(size, generator, discriminator, iteration):
    # GFLOP of one forward of each default network and of one image-iteration, as
    # torch.utils.flop_counter counts the official model (docs/performance.md).
    assert round(2 * bench.generator_macs(size, 64, 9) / 1e9, 2) == generator
    assert round(2 * bench.discriminator_macs(size, 64, 3) / 1e9, 2) == discriminator
    assert round(bench.iteration_flops(size, 64, 9, 64, 3) / 1e9, 1) == iteration


# An optimized GPU module as XLA prints it: a fusion body (launches nothing) and the entry.
_HLO = """HloModule jit_step, is_scheduled=true

%fused_select.4 (param_0: bf16[8,4,4,16], param_1: f32[8,1,1,16]) -> bf16[8,4,4,16] {
  %param_0 = bf16[8,4,4,16]{3,2,1,0} parameter(0)
  %copy.9 = bf16[8,4,4,16]{3,2,1,0} copy(%param_0)
  ROOT %select_n.5 = bf16[8,4,4,16]{3,2,1,0} select(%gt, %copy.9, %zero)
}

ENTRY %main.1 (p0: bf16[8,4,4,16], p1: f32[8,1,1,16]) -> (f32[8,16], bf16[8,4,4,16]) {
  %p0 = bf16[8,4,4,16]{3,2,1,0} parameter(0)
  %p1 = f32[8,1,1,16]{3,2,1,0} parameter(1)
  %loop_select_fusion.4 = bf16[8,4,4,16]{3,2,1,0} fusion(%p0, %p1), kind=kLoop, calls=%fused_select.4, metadata={op_name="jit(step)/transpose(jvp(G))/select_n"}
  %input_reduce_fusion.2 = (f32[8,16]{1,0}, f32[8,16]{1,0}) fusion(%loop_select_fusion.4, /*index=1*/%p1), kind=kInput, calls=%fused_reduce.2
  %cudnn-conv.1 = (bf16[8,4,4,16]{3,2,1,0}, u8[0]{0}) custom-call(%loop_select_fusion.4, %p0), custom_call_target="__cudnn$convForward"
  ROOT %tuple = (f32[8,16]{1,0}, bf16[8,4,4,16]{3,2,1,0}) tuple(%input_reduce_fusion.2, %cudnn-conv.1)
}
"""


def test_gpu_hlo_counts_each_kernels_operand_and_output_bytes():
    assert gpu_hlo.shape_bytes("(f32[2,3]{1,0}, bf16[4])") == 32
    rows = gpu_hlo.kernels(_HLO)
    act, stats = 8 * 4 * 4 * 16 * 2, 8 * 16 * 4  # bytes of a bf16 activation, of f32 [8, 16]
    assert rows == [  # the copy in the fusion body and the tuple launch nothing
        ("select_fusion", "jit(step)/transpose(jvp(G))/select_n", act + act + stats),
        ("reduce_fusion", "", 2 * stats + act + stats),
        ("__cudnn$convForward", "", act + act + act)]
    assert gpu_hlo.by_kind(rows + rows[:1]) == {"select_fusion": (2, 2 * (2 * act + stats)),
                                                "__cudnn$convForward": (1, 3 * act),
                                                "reduce_fusion": (1, act + 3 * stats)}


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *args],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, **helpers.FAST_COMPILE_ENV})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_train_step_benchmark_prints_its_table_and_writes_json(tmp_path):
    out = tmp_path / "step.json"
    proc = _run("train_step.py", "--sizes=32", "--ngf=8", "--ndf=8", "--netG=resnet_6blocks",
                "--steps=2", "--warmup=1", "--peak_tflops_float32=0.5", f"--out={out}")
    (row,) = json.loads(out.read_text())["rows"]
    assert (row["size"], row["batch"], row["dtype"]) == (32, 1, "float32")
    assert row["ms_per_step"] > 0 and row["compile_s"] > 0
    flops = bench.iteration_flops(32, 8, 6, 8, 3)
    assert row["gflop_per_image"] == round(flops / 1e9, 1)
    # Rounded to 0.01 in the JSON: at ~500 ms per step that is more than 1e-3 of 2 images/s.
    assert row["images_per_s"] == pytest.approx(1e3 / row["ms_per_step"], rel=1e-3, abs=0.006)
    tflops = flops / (row["ms_per_step"] / 1e3) / 1e12
    assert row["mfu"] == pytest.approx(tflops / 0.5, abs=1e-4)  # against the given peak
    table = [line for line in proc.stdout.splitlines() if re.match(r"32 \| 1 \| float32 \|", line)]
    assert len(table) == 1 and str(row["ms_per_step"]) in table[0]


def test_input_pipeline_benchmark_prints_pairs_per_second():
    batch = 8
    proc = _run("input_pipeline.py", "--sizes=72:64", f"--batch_size={batch}", "--batches=4",
                "--threads=1")
    (row,) = [line for line in proc.stdout.splitlines() if line.startswith("72 -> 64 |")]
    pairs_per_s, ms_per_batch = (float(x) for x in row.split("|")[1:3])
    assert pairs_per_s > 0 and ms_per_batch > 0
    assert pairs_per_s == pytest.approx(batch / (ms_per_batch / 1e3), rel=0.05)


def test_checkpoint_overlap_benchmark_prints_each_mode_against_no_saves(tmp_path):
    out = tmp_path / "overlap.json"
    proc = _run("checkpoint_overlap.py", "--size=32", "--ngf=8", "--ndf=8",
                "--netG=resnet_6blocks", "--steps=2", "--every=1", "--rounds=1", f"--out={out}")
    rows = [line.split(" | ") for line in proc.stdout.splitlines() if line.startswith(
        ("none |", "sync |", "async |"))]
    assert [r[0] for r in rows] == ["none", "sync", "async"] and rows[0][2] == "1.000"
    times = json.loads(out.read_text())["ms_per_step"]
    assert all(len(times[mode]) == 1 and times[mode][0] > 0 for mode in ("none", "sync", "async"))


def test_tiled_memory_benchmark_prints_whole_against_tiled_peaks():
    proc = _run("tiled_memory.py", "--ngf=8", "--n_blocks=6", "--tile=176", "--sizes=176,704")
    rows = [line.split() for line in proc.stdout.splitlines() if re.match(r"\s*\d+x\d+ ", line)]
    assert [r[0] for r in rows] == ["176x176", "704x704"]
    (_, _, tile_small, windows_small, _), (_, whole, tile, windows, _) = rows
    assert windows_small == "1" and windows == str(18 ** 2)  # cores: 104, 16 of 32, 88
    # the window program's peak does not grow with the image; the whole image's does
    assert tile == tile_small and float(whole) > 4 * float(tile)
