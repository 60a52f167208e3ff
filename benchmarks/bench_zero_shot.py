# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Zero-shot classification throughput over 400 labels: Open-VCLIP with cached class embeddings vs X-CLIP.

Open-VCLIP is a bi-encoder: the 400 class embeddings (28-template prompt ensemble) are computed once, then a batch of
videos costs one vision pass and a (videos x 400) matrix product. `XCLIPModel` conditions the text on each video
(prompt generator) and its API re-runs the text tower on all 400 labels in every call. Both models are ViT-B/16 sized
with random weights and see the same frames; X-CLIP gets the 400 label names as prompts, tokenised
  * "longest": padded to the longest label (`padding=True`, transformers' X-CLIP example), and
  * "77": padded to 77 tokens, as the official X-CLIP code (`clip.tokenize`) does.
Throughput = videos per second in calls of `--videos-per-call` videos. Target: Open-VCLIP >= 3x X-CLIP.

    .venv/bin/python benchmarks/bench_zero_shot.py [--videos-per-call 1,4] [--repeats 3] [--device cpu]
"""

import argparse
import time

import torch
from _common import (
    KINETICS_LIKE_LABELS,
    add_common_arguments,
    apply_common_arguments,
    b16_open_vclip_and_clip,
    b16_xclip,
    devices_to_run,
    interleaved_timings,
    load_average,
    peak_memory,
    print_header,
    tokenizer,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos-per-call", default="1,4", help="comma-separated batch sizes (default 1,4)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--templates", type=int, default=28, help="prompt templates for Open-VCLIP (28 or 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per case, median reported (default 3)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", help="cpu or cuda (default: cpu, and cuda where present)")
    add_common_arguments(parser)
    args = parser.parse_args()
    apply_common_arguments(args)

    from open_vclip_hf import PROMPT_TEMPLATES, build_class_embeddings

    labels = list(KINETICS_LIKE_LABELS)
    templates = PROMPT_TEMPLATES if args.templates == 28 else PROMPT_TEMPLATES[7 : 7 + args.templates]
    tok = tokenizer()
    xclip_text = {
        "longest": tok(labels, padding=True, return_tensors="pt"),
        "77": tok(labels, padding="max_length", max_length=77, return_tensors="pt"),
    }

    for device in devices_to_run(args.device):
        open_vclip, clip = b16_open_vclip_and_clip()
        del clip
        open_vclip = open_vclip.to(device)
        xclip = b16_xclip(num_frames=args.frames).to(device)
        print_header(f"zero-shot over {len(labels)} labels, ViT-B/16, {args.frames} frames", device)
        longest = xclip_text["longest"]["input_ids"].shape[1]
        print(f"   X-CLIP prompt lengths: {longest} tokens (padded to the longest label) or 77")

        start = time.perf_counter()
        with torch.inference_mode():
            class_embeds = build_class_embeddings(open_vclip, tok, labels, templates)
        one_time = time.perf_counter() - start
        print(
            f"   one-time: Open-VCLIP class embeddings, {len(labels)} labels x {len(templates)} templates = "
            f"{len(labels) * len(templates)} prompts: {one_time:.1f} s"
        )

        for per_call in [int(n) for n in args.videos_per_call.split(",")]:
            videos = torch.randn(per_call, args.frames, 3, 224, 224, generator=torch.Generator().manual_seed(per_call))
            videos = videos.to(device)
            text = {key: value.to(device) for key, value in xclip_text.items()}
            cases = {
                "Open-VCLIP, cached class embeddings": lambda: open_vclip(
                    pixel_values=videos, text_embeds=class_embeds
                ),
                "X-CLIP, labels padded to the longest": lambda: xclip(pixel_values=videos, **text["longest"]),
                "X-CLIP, labels padded to 77 tokens": lambda: xclip(pixel_values=videos, **text["77"]),
            }
            timings = interleaved_timings(cases, repeats=args.repeats, warmup=args.warmup, device=device)
            print(f"   -- {per_call} video(s) per call")
            for name, timing in timings.items():
                print(f"   {name:<38} {timing}   {per_call / timing.wall_median:6.3f} videos/s")
            ours = timings["Open-VCLIP, cached class embeddings"]
            for name in list(cases)[1:]:
                wall = timings[name].wall_median / ours.wall_median
                cpu = timings[name].cpu_median / ours.cpu_median
                print(f"   Open-VCLIP throughput / {name}: {wall:.2f}x wall, {cpu:.2f}x cpu   (target >= 3x)")
            for name, run in cases.items():
                print(f"   memory {name:<38} {peak_memory(run, device)}")
        print(f"   load average at end {load_average()}\n")


if __name__ == "__main__":
    main()
