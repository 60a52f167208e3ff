# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Video tower vs CLIP's image tower on the same frames.

`OpenVCLIPModel.get_video_features` on a batch of 8-frame videos against `CLIPModel.get_image_features` on the same
frames (the same random ViT-B/16 weights). Neighbour-frame attention triples the keys and values, which adds ~8 % of
FLOPs at B/16 (attention matrices x3, the projections and MLPs unchanged); the target is <= 1.10x.

    .venv/bin/python benchmarks/bench_video_tower.py [--batch 1] [--frames 8] [--repeats 7] [--device cpu]
"""

import argparse

import torch
from _common import (
    add_common_arguments,
    apply_common_arguments,
    b16_open_vclip_and_clip,
    devices_to_run,
    interleaved_timings,
    load_average,
    peak_memory,
    print_header,
    ratio_line,
)


def flops_ratio(tokens: int = 197, width: int = 768, mlp: int = 3072) -> float:
    """Multiply-adds of one ViT layer with 3x keys over the plain layer (per frame; LayerNorms etc. ignored)."""
    dense = tokens * (4 * width * width + 2 * width * mlp)
    attention = 2 * tokens * tokens * width  # q.k^T and weights.v
    return (dense + 3 * attention) / (dense + attention)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1, help="videos per call (default 1)")
    parser.add_argument("--frames", type=int, default=8, help="frames per video (default 8)")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per case, median reported (default 7)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", help="cpu or cuda (default: cpu, and cuda where present)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd towers")
    add_common_arguments(parser)
    args = parser.parse_args()
    apply_common_arguments(args)

    for device in devices_to_run(args.device):
        dtype = getattr(torch, args.dtype)
        open_vclip, clip = b16_open_vclip_and_clip()
        open_vclip, clip = open_vclip.to(device, dtype), clip.to(device, dtype)
        videos = torch.randn(args.batch, args.frames, 3, 224, 224, generator=torch.Generator().manual_seed(0))
        videos = videos.to(device, dtype)
        frames = videos.flatten(0, 1)

        cases = {
            "CLIPModel.get_image_features (B*T images)": lambda: clip.get_image_features(frames),
            "OpenVCLIPModel.get_video_features (B videos)": lambda: open_vclip.get_video_features(videos),
        }
        if args.compile:
            compiled_clip = torch.compile(clip.get_image_features, fullgraph=True)
            compiled_ovc = torch.compile(open_vclip.get_video_features, fullgraph=True)
            cases["compiled CLIP"] = lambda: compiled_clip(frames)
            cases["compiled Open-VCLIP"] = lambda: compiled_ovc(videos)

        print_header(f"video tower, {args.batch} x {args.frames} frames, ViT-B/16, {args.dtype}", device)
        timings = interleaved_timings(cases, repeats=args.repeats, warmup=args.warmup, device=device)
        for name, timing in timings.items():
            print(f"   {name:<46} {timing}")
        names = list(timings)
        print("   " + ratio_line("Open-VCLIP / CLIP", timings[names[1]], timings[names[0]], target="<= 1.10x"))
        if args.compile:
            print("   " + ratio_line("compiled Open-VCLIP / compiled CLIP", timings[names[3]], timings[names[2]]))
        print(f"   FLOPs ratio (dense layers + attention): {flops_ratio():.3f}x")
        per_frame = timings[names[1]].wall_median / (args.batch * args.frames)
        print(f"   Open-VCLIP: {per_frame * 1e3:.1f} ms per frame, {1 / (per_frame * args.frames):.2f} clips/s")
        for name, run in list(cases.items())[:2]:
            print(f"   memory {name:<39} {peak_memory(run, device)}")
        print(f"   load average at end {load_average()}\n")


if __name__ == "__main__":
    main()
