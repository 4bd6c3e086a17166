#!/usr/bin/python3
"""Reference preprocessing computed with Pillow and numpy, for models' exactness tests.

The Go tests write raw RGB images and a JSON manifest, run this script with Debian's
python3-pil and python3-numpy, and compare their own output with what it writes:

  {"cases": [
    {"kind": "resize", "in": "a.rgb", "w": 640, "h": 480, "out_w": 341, "out_h": 256, "out": "a.out"},
    {"kind": "tensor", "in": "a.rgb", "w": 640, "h": 480, "preset": "imagenet", "size": 224,
     "out": "a.f32", "pixels": "a.px"}
  ]}

"resize" is Image.resize((out_w, out_h), BICUBIC) on the RGB image: the uint8 pixels, row
major, RGB. "tensor" is the whole transform written independently of the Go code, as the
reference libraries do it: torchvision (Resize(256) on the shorter side, CenterCrop(224) with
int(round((h - 224) / 2.0)), ToTensor, Normalize) for "imagenet"; Hugging Face's
CLIPImageProcessor (shortest edge 224, center_crop with (h - 224) // 2, CLIP mean/std) for
"clip"; a plain resize to 224 x 224 for "imagenet-full". It writes the float32 CHW tensor
("out") and the uint8 crop it was made from ("pixels").

usage: pil_reference.py MANIFEST.json
"""
import json
import sys

import numpy as np
from PIL import Image

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
CLIP = ([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711])


def load(case):
    with open(case["in"], "rb") as f:
        data = f.read()
    return Image.frombytes("RGB", (case["w"], case["h"]), data)


def resize_shorter(img, short):
    # torchvision.transforms.functional._compute_resized_output_size (and HF's
    # get_resize_output_image_size with default_to_square=False): same formula.
    w, h = img.size
    s, l = (w, h) if w <= h else (h, w)
    new_s, new_l = short, int(short * l / s)
    new_w, new_h = (new_s, new_l) if w <= h else (new_l, new_s)
    if (new_w, new_h) == (w, h):
        return img
    return img.resize((new_w, new_h), Image.BICUBIC)


def tensor(case):
    img = load(case)
    size = case["size"]
    preset = case["preset"]
    if preset == "imagenet":
        img = resize_shorter(img, size * 256 // 224)
        w, h = img.size
        top = int(round((h - size) / 2.0))
        left = int(round((w - size) / 2.0))
        img = img.crop((left, top, left + size, top + size))
        mean, std = IMAGENET
    elif preset == "clip":
        img = resize_shorter(img, size)
        arr = np.asarray(img)
        h, w = arr.shape[:2]
        top = (h - size) // 2
        left = (w - size) // 2
        img = Image.fromarray(arr[top:top + size, left:left + size])
        mean, std = CLIP
    elif preset == "imagenet-full":
        img = img.resize((size, size), Image.BICUBIC)
        mean, std = IMAGENET
    else:
        sys.exit(f"unknown preset {preset!r}")
    px = np.asarray(img, dtype=np.uint8)
    x = px.astype(np.float32) / np.float32(255)
    x = (x - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
    x = np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)
    x.tofile(case["out"])
    px.tofile(case["pixels"])


def main(path):
    with open(path) as f:
        manifest = json.load(f)
    for case in manifest["cases"]:
        if case["kind"] == "resize":
            out = load(case).resize((case["out_w"], case["out_h"]), Image.BICUBIC)
            with open(case["out"], "wb") as f:
                f.write(out.tobytes())
        elif case["kind"] == "tensor":
            tensor(case)
        else:
            sys.exit(f"unknown case kind {case['kind']!r}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
