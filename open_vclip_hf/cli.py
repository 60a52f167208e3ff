# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""`open-vclip` command line: argument parsing and printing only; the work is done by the library, imported lazily
so that `open-vclip --help` is instant."""

import argparse
import sys


def _convert(args: argparse.Namespace) -> None:
    from .convert import convert_checkpoint

    model = convert_checkpoint(
        args.src,
        clip_anchor=args.clip_anchor,
        ratio=args.ratio,
        output_dir=args.out,
        overwrite=args.overwrite,
        num_frames=args.num_frames,
    )
    vision = model.config.vision_config
    print(
        f"converted {args.src} -> {args.out}\n"
        f"  ViT-{_backbone_name(vision)}: {vision.num_hidden_layers} layers, width {vision.hidden_size}, "
        f"image {vision.image_size}, {model.num_parameters() / 1e6:.1f}M parameters\n"
        f"  patch ratio r={args.ratio}" + (f" toward {args.clip_anchor}" if args.clip_anchor else " (not patched)")
    )


def _backbone_name(vision_config) -> str:
    names = {768: "B", 1024: "L", 1280: "H"}
    return f"{names.get(vision_config.hidden_size, '?')}/{vision_config.patch_size}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="open-vclip",
        description="Open-VCLIP (Weng et al., ICML 2023): zero-shot video classification with transformers.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = commands.add_parser(
        "convert",
        help="convert an official swa_2_22.pth / OpenAI CLIP checkpoint into a save_pretrained folder",
        description="Convert an official Open-VCLIP checkpoint (swa_2_22.pth), a PySlowFast epoch checkpoint, an "
        "OpenAI CLIP state dict or an OpenAI TorchScript .pt into a transformers folder (safetensors), optionally "
        "patched toward CLIP: θ = r·θ_CLIP + (1−r)·θ (r = 0.5 for B/16, 0.6 for L/14).",
    )
    convert.add_argument("src", help="checkpoint file")
    convert.add_argument("--out", required=True, help="output folder (written atomically)")
    convert.add_argument("--clip-anchor", help="θ_CLIP: OpenAI .pt file, CLIP save_pretrained folder or Hub id")
    convert.add_argument("--ratio", type=float, default=0.0, help="weight r of the CLIP anchor (default 0)")
    convert.add_argument("--num-frames", type=int, default=8, help="frames sampled per video by default (8)")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    convert.set_defaults(func=_convert)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (OSError, ValueError, RuntimeError) as error:  # user errors: a message, not a traceback
        print(f"open-vclip {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
