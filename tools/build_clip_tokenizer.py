# Copyright 2026 The open_vclip_hf authors. Licensed under the Apache License, Version 2.0.
"""
Rebuild `open_vclip_hf/assets/clip_tokenizer/{vocab.json,merges.txt}` from OpenAI's CLIP BPE file.

The BPE file `bpe_simple_vocab_16e6.txt.gz` ships inside the `open_clip_torch` wheel (and in OpenAI's `clip`
package). Get it without installing anything:

    pip download --no-deps open_clip_torch -d /tmp/oc
    python tools/build_clip_tokenizer.py /tmp/oc/open_clip_torch-*.whl

The vocabulary is laid out exactly as OpenAI's `simple_tokenizer.SimpleTokenizer` builds it (and as the
`openai/clip-vit-*` Hub repositories store it), so that token ids equal `clip.tokenize` / `open_clip.tokenize`
(method doc §2: the class embeddings use OpenAI's tokenizer with context length 77):

1. the 256 printable stand-ins of the bytes (`bytes_to_unicode().values()`, in that order),
2. the same 256 followed by the end-of-word marker `</w>`,
3. the merged symbol of each of the first 49152 - 256 - 2 = 48894 merges (`lines[1 : 49152 - 256 - 2 + 1]`),
4. `<|startoftext|>`, `<|endoftext|>`,

49408 tokens in all.
"""

import argparse
import gzip
import json
import zipfile
from pathlib import Path

BPE_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
NUM_MERGES = 49152 - 256 - 2
SPECIAL_TOKENS = ["<|startoftext|>", "<|endoftext|>"]
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "open_vclip_hf" / "assets" / "clip_tokenizer"


def bytes_to_unicode() -> dict[int, str]:
    """OpenAI's reversible map from the 256 byte values to printable unicode characters."""
    byte_values = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    byte_values += list(range(ord("®"), ord("ÿ") + 1))
    characters = byte_values[:]
    extra = 0
    for byte in range(2**8):
        if byte not in byte_values:
            byte_values.append(byte)
            characters.append(2**8 + extra)
            extra += 1
    return dict(zip(byte_values, map(chr, characters), strict=True))


def read_bpe_lines(source: Path) -> list[str]:
    """Lines of the BPE file, read from the `.txt.gz` itself or from inside an `open_clip_torch` wheel."""
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            compressed = wheel.read(BPE_MEMBER)
    else:
        compressed = source.read_bytes()
    return gzip.decompress(compressed).decode("utf-8").split("\n")


def build_vocab_and_merges(bpe_lines: list[str]) -> tuple[dict[str, int], list[str]]:
    merges = bpe_lines[1 : NUM_MERGES + 1]
    byte_tokens = list(bytes_to_unicode().values())
    tokens = byte_tokens + [token + "</w>" for token in byte_tokens]
    tokens += ["".join(merge.split()) for merge in merges]
    tokens += SPECIAL_TOKENS
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != len(tokens) or len(tokens) != 49408:
        raise ValueError(f"Expected 49408 distinct tokens, got {len(vocab)} distinct out of {len(tokens)}.")
    return vocab, merges


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="open_clip_torch wheel or bpe_simple_vocab_16e6.txt.gz")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()

    vocab, merges = build_vocab_and_merges(read_bpe_lines(args.source))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with open(args.output_dir / "vocab.json", "w", encoding="utf-8") as file:
        json.dump(vocab, file, ensure_ascii=False)
    with open(args.output_dir / "merges.txt", "w", encoding="utf-8") as file:
        file.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    print(f"Wrote {len(vocab)} tokens and {len(merges)} merges to {args.output_dir}")


if __name__ == "__main__":
    main()
