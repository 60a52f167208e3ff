# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""ONNX Runtime vs PyTorch for the B/16 video tower (same random weights, same frames).

Exports the random-weight B/16 model once into `benchmarks/.cache/onnx_b16` (`open_vclip_hf.onnx.export_onnx`, which
also checks the outputs against PyTorch), then times `OpenVCLIPOnnxModel.get_video_features` against
`OpenVCLIPModel.get_video_features`.

    .venv/bin/python benchmarks/bench_onnx.py [--batch 1] [--frames 8] [--repeats 7]
"""

import argparse
import time
from pathlib import Path

import torch
from _common import (
    add_common_arguments,
    apply_common_arguments,
    b16_open_vclip_and_clip,
    interleaved_timings,
    load_average,
    peak_memory,
    print_header,
    ratio_line,
)

EXPORT_DIR = Path(__file__).parent / ".cache" / "onnx_b16"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    add_common_arguments(parser)
    args = parser.parse_args()
    apply_common_arguments(args)

    from open_vclip_hf.onnx import OpenVCLIPOnnxModel, export_onnx

    model, clip = b16_open_vclip_and_clip()
    del clip
    print_header("ONNX Runtime vs PyTorch, B/16 video tower", "cpu")
    if not (EXPORT_DIR / "vision_model.onnx").is_file():
        start = time.perf_counter()
        differences = export_onnx(model, EXPORT_DIR)
        print(f"   export + check: {time.perf_counter() - start:.0f} s, max |ONNX - PyTorch| {differences}")
    import onnxruntime

    # No busy-waiting of onnxruntime's idle threads: they would steal the CPU from the PyTorch calls in between.
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    onnx_model = OpenVCLIPOnnxModel.from_pretrained(EXPORT_DIR, session_options=options)

    print(f"   onnxruntime {onnxruntime.__version__}, providers {onnx_model.vision_session.get_providers()}")

    videos = torch.randn(args.batch, args.frames, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = model.get_video_features(videos).pooler_output
        difference = onnx_model.get_video_features(videos).pooler_output - expected
    print(f"   max |ONNX - PyTorch| video embedding, {args.batch} x {args.frames} frames: {difference.abs().max():.2e}")
    cases = {
        "PyTorch get_video_features": lambda: model.get_video_features(videos),
        "onnxruntime get_video_features": lambda: onnx_model.get_video_features(videos),
    }
    timings = interleaved_timings(cases, repeats=args.repeats, warmup=args.warmup)
    for name, timing in timings.items():
        print(f"   {name:<32} {timing}")
    torch_timing, onnx_timing = timings.values()
    print("   " + ratio_line("onnxruntime / PyTorch", onnx_timing, torch_timing))
    # onnxruntime keeps its memory arena between runs: measure the first run of a fresh session.
    fresh = OpenVCLIPOnnxModel.from_pretrained(EXPORT_DIR, session_options=options)
    cases["onnxruntime get_video_features"] = lambda: fresh.get_video_features(videos)
    for name, run in cases.items():
        print(f"   memory {name:<25} {peak_memory(run)}")
    print(f"   load average at end {load_average()}")


if __name__ == "__main__":
    main()
