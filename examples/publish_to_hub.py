# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""Convert an official Open-VCLIP checkpoint and publish it on the Hugging Face Hub, with the ratio and the CLIP
anchor of the official evaluation scripts (both read from `open_vclip_hf/pretrained.py`, so they cannot be mixed up).

    python examples/publish_to_hub.py open-vclip-b16 --swa openvclip-b16/swa_2_22.pth \\
        --clip-anchor ~/.cache/clip/ViT-B-16.pt --repo-id ORG/open-vclip-b16
    python examples/publish_to_hub.py open-vclip-l14 --swa openvclip-l14/swa_2_22.pth \\
        --clip-anchor ~/.cache/clip/ViT-L-14.pt --repo-id ORG/open-vclip-l14

Steps:
1. check that the anchor is OpenAI's TorchScript file for that backbone (its SHA-256 is part of OpenAI's download
   URL), unless it is a Hub id / folder such as `openai/clip-vit-base-patch16` (the same weights in fp32);
2. print the SHA-256 of `swa_2_22.pth` (the Drive folder publishes none: compare it with other downloads);
3. convert twice into `--work-dir`: patched with the official ratio (0.5 for B/16, 0.6 for L/14) and raw (r = 0);
4. push: the raw SWA weights to the branch `raw-swa`, then the patched weights, processor, remote code and model card
   to `main`, one atomic commit each.

Re-running resumes: finished conversions in `--work-dir` are reused, files already on the Hub are not sent again.
Log in first (`hf auth login`) or set `HF_TOKEN`.
"""

import argparse
import sys
from pathlib import Path


def publish(
    name: str,
    swa: Path,
    clip_anchor: str,
    repo_id: str,
    work_dir: Path,
    private: bool = False,
    raw_swa: bool = True,
    license: str | None = None,
) -> None:
    from open_vclip_hf import OpenVCLIPConfig
    from open_vclip_hf.convert import convert_checkpoint
    from open_vclip_hf.hub import push_to_hub, sha256sum
    from open_vclip_hf.pretrained import OFFICIAL_CHECKPOINTS, match_official_checkpoint

    official = OFFICIAL_CHECKPOINTS[name]
    anchor_path = Path(clip_anchor).expanduser()
    if anchor_path.is_file():
        digest = sha256sum(anchor_path)
        if digest != official.clip_openai_sha256:
            raise SystemExit(
                f"{anchor_path} is not OpenAI's {official.clip_openai_file} (SHA-256 {digest}, expected "
                f"{official.clip_openai_sha256}); download it from {official.clip_openai_url} or pass "
                f"--clip-anchor {official.clip_hf_id}"
            )
        clip_anchor = str(anchor_path)
    print(f"{official.backbone}: anchor {clip_anchor}, ratio {official.patch_ratio}")
    print(f"SHA-256 of {swa}: {sha256sum(swa)}")

    conversions = {work_dir / name: official.patch_ratio}
    if raw_swa:
        conversions[work_dir / f"{name}-raw-swa"] = 0.0
    for folder, ratio in conversions.items():
        done = (folder / "config.json").is_file() and OpenVCLIPConfig.from_pretrained(folder).patch_ratio == ratio
        if done:
            print(f"reusing {folder}")
            continue
        anchor = clip_anchor if ratio else None
        convert_checkpoint(swa, clip_anchor=anchor, ratio=ratio, output_dir=folder, overwrite=True)
        print(f"converted -> {folder} (r={ratio})")
    for folder in conversions:
        if match_official_checkpoint(OpenVCLIPConfig.from_pretrained(folder)) is not official:
            raise SystemExit(f"{folder} does not hold a {official.backbone} (is {swa} the {name} checkpoint?)")

    result = push_to_hub(
        work_dir / name,
        repo_id,
        private=private,
        raw_swa_dir=work_dir / f"{name}-raw-swa" if raw_swa else None,
        checkpoint=name,
        license=license,
    )
    print(f"published {result.url}")
    for revision, files in result.checksums.items():
        for path, digest in files.items():
            print(f"  {revision}/{path}  sha256 {digest}")


def main() -> None:
    from open_vclip_hf.pretrained import OFFICIAL_CHECKPOINTS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", choices=sorted(OFFICIAL_CHECKPOINTS), help="which official checkpoint")
    parser.add_argument("--swa", required=True, type=Path, help="its swa_2_22.pth from the official Drive folder")
    parser.add_argument(
        "--clip-anchor",
        required=True,
        help="OpenAI's TorchScript file (~/.cache/clip/ViT-B-16.pt, ViT-L-14.pt) or the matching Hub id",
    )
    parser.add_argument("--repo-id", required=True, help="ORG/NAME on the Hub")
    parser.add_argument("--work-dir", type=Path, default=Path("open-vclip-hub"), help="converted folders go here")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--no-raw-swa", action="store_true", help="do not publish the raw SWA weights (branch raw-swa)")
    parser.add_argument("--license", help="Hub license id for the card (default: other, see the card)")
    args = parser.parse_args()
    publish(
        args.checkpoint, args.swa, args.clip_anchor, args.repo_id, args.work_dir,
        private=args.private, raw_swa=not args.no_raw_swa, license=args.license,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
