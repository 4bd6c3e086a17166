#!/usr/bin/env python3
"""Export DINOv2 / DINOv3 and CLIP image encoders to ONNX for EBRCS (package models).

THIS SCRIPT CANNOT RUN ON THE EBRCS BUILD MACHINES: they have no access to the Hugging Face
model hub (nor PyPI). Run it on a machine with internet access and

    pip install torch transformers peft onnx        (onnxruntime too, for the check below)

then copy the .onnx files into the server's model directory (models/ by default) and point a
hybrid encoder at them. The Go side never needs Python.

What it writes (ONNX opset 17, dynamic batch dimension, float32):

  dino   pixel_values [N,3,224,224] -> last_hidden_state [N,T,D], pooler_output [N,D]
         facebook/dinov2-small|base|large (D = 384|768|1024, T = 1 + 16*16 = 257 at 224 px),
         or any DINOv3 checkpoint id (e.g. facebook/dinov3-vits16-pretrain-lvd1689m, gated:
         accept its licence on the hub and `huggingface-cli login` first; T = 1 + 4 register
         tokens + 14*14 patches = 201). Token 0 is the CLS token in both.
         EBRCS config: models.DINOv2EncoderConfig(path) (reduce "cls" on last_hidden_state),
         or output pooler_output with reduce "none".
         --lora DIR merges a PEFT LoRA adapter (adapter_config.json +
         adapter_model.safetensors, trained on the same base checkpoint) into the weights
         before export: PeftModel.from_pretrained(base, DIR).merge_and_unload(). The exported
         graph is then a plain DINO model with fine-tuned weights: no PEFT at inference.
  clip   pixel_values [N,3,224,224] -> image_embeds [N,P], last_hidden_state [N,50,H]
         the vision tower of openai/clip-vit-base-patch32 with its projection
         (CLIPVisionModelWithProjection; P = 512). EBRCS config: models.CLIPEncoderConfig(path).

Preprocessing is done in Go (package models) exactly as the reference libraries do it, so the
graphs take normalised pixels: "imagenet" for DINO (resize 256, centre crop 224, ImageNet
mean/std), "clip" for CLIP (resize 224, centre crop 224, CLIP mean/std).

After exporting, the script checks the ONNX graph (onnx.checker, input/output names), runs it
with onnxruntime when that is installed and compares it with PyTorch on a random batch of 2,
and prints the sha256 of every file written, to record in models/README.md.

Usage:
  export_dinov2_clip.py dino [--model facebook/dinov2-small] [--lora DIR] [--out FILE]
  export_dinov2_clip.py clip [--model openai/clip-vit-base-patch32] [--out FILE]
  export_dinov2_clip.py all  [--out-dir DIR]     # dinov2-small and clip-vit-base-patch32

Examples:
  export_dinov2_clip.py dino --model facebook/dinov2-base --out models/dinov2-base.onnx
  export_dinov2_clip.py dino --model facebook/dinov2-small --lora runs/lora-grocery \\
      --out models/dinov2-small-grocery.onnx
  export_dinov2_clip.py dino --model facebook/dinov3-vits16-pretrain-lvd1689m --out models/dinov3-s16.onnx
"""
import argparse
import hashlib
import inspect
import json
import os
import sys

OPSET = 17
SIZE = 224


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def written_files(path):
    """The .onnx file and any external data files next to it (graphs over 2 GB)."""
    import onnx

    files = [path]
    model = onnx.load(path, load_external_data=False)
    for init in model.graph.initializer:
        for entry in init.external_data:
            if entry.key == "location":
                loc = os.path.join(os.path.dirname(path), entry.value)
                if loc not in files:
                    files.append(loc)
    return files


def export(module, path, output_names):
    """torch.onnx.export with a dynamic batch dimension on every input and output."""
    import torch

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    dummy = torch.randn(1, 3, SIZE, SIZE)
    kwargs = {}
    # torch >= 2.9 defaults to the dynamo exporter; the TorchScript one gives the plain
    # opset-17 graphs ONNX Runtime 1.24 and the names below are known to work with.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    axes = {name: {0: "batch"} for name in ["pixel_values", *output_names]}
    with torch.no_grad():
        torch.onnx.export(
            module, (dummy,), path,
            input_names=["pixel_values"], output_names=output_names,
            dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True, **kwargs)


def check(module, path, output_names):
    """Validate the graph and, when onnxruntime is installed, compare it with PyTorch."""
    import numpy as np
    import onnx
    import torch

    onnx.checker.check_model(path)  # by path: works for external data too
    model = onnx.load(path, load_external_data=False)
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    if inputs != ["pixel_values"] or outputs != output_names:
        sys.exit(f"{path}: inputs {inputs}, outputs {outputs}; want ['pixel_values'], {output_names}")
    try:
        import onnxruntime as ort
    except ImportError:
        print(f"{path}: onnxruntime not installed, numerical check skipped")
        return
    x = torch.randn(2, 3, SIZE, SIZE)  # batch 2: the batch dimension really is dynamic
    with torch.no_grad():
        want = [t.numpy() for t in module(x)]
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = sess.run(output_names, {"pixel_values": x.numpy()})
    for name, g, w in zip(output_names, got, want):
        diff = float(np.max(np.abs(g - w)))
        print(f"{path}: {name} {list(g.shape)}, max |onnxruntime - torch| = {diff:.2e}")
        if diff > 1e-3:
            sys.exit(f"{path}: {name} differs from PyTorch by {diff}")


def dino_module(model_id, lora_dir):
    import torch
    from transformers import AutoModel

    # Eager attention exports to plain MatMul/Softmax on every torch version.
    base = AutoModel.from_pretrained(model_id, attn_implementation="eager")
    if lora_dir:
        from peft import PeftModel

        cfg_path = os.path.join(lora_dir, "adapter_config.json")
        if not os.path.exists(cfg_path):
            sys.exit(f"{lora_dir}: no adapter_config.json (not a PEFT adapter directory)")
        with open(cfg_path) as f:
            trained_on = json.load(f).get("base_model_name_or_path")
        if trained_on and trained_on != model_id:
            print(f"warning: {lora_dir} was trained on {trained_on}, merging into {model_id}")
        base = PeftModel.from_pretrained(base, lora_dir).merge_and_unload()
        print(f"merged LoRA adapter {lora_dir} into {model_id}")
    base.eval()

    class Dino(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            out = self.m(pixel_values=pixel_values)
            return out.last_hidden_state, out.pooler_output

    return Dino(base).eval()


def clip_module(model_id):
    import torch
    from transformers import CLIPVisionModelWithProjection

    base = CLIPVisionModelWithProjection.from_pretrained(model_id, attn_implementation="eager").eval()

    class ClipVision(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            out = self.m(pixel_values=pixel_values)
            return out.image_embeds, out.last_hidden_state

    return ClipVision(base).eval()


def require(*modules):
    missing = []
    for name in modules:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        sys.exit(f"missing Python packages: {', '.join(missing)}. This script runs on a machine with "
                 "internet access (pip install torch transformers peft onnx onnxruntime); the EBRCS "
                 "build machines cannot reach the model hub.")


def run(kind, model_id, out, lora_dir=None):
    require("torch", "transformers", "onnx", *(["peft"] if lora_dir else []))
    if kind == "dino":
        module, names = dino_module(model_id, lora_dir), ["last_hidden_state", "pooler_output"]
    else:
        module, names = clip_module(model_id), ["image_embeds", "last_hidden_state"]
    export(module, out, names)
    check(module, out, names)
    for path in written_files(out):
        print(f"{sha256(path)}  {path}")
    cfg = "DINOv2EncoderConfig" if kind == "dino" else "CLIPEncoderConfig"
    print(f"# EBRCS: models.{cfg}({os.path.basename(out)!r}), or in a hybrid config:")
    print(f"#   - kind: {'dinov2' if kind == 'dino' else 'clip'}\n#     path: {os.path.basename(out)}")


def default_name(model_id, lora_dir):
    name = model_id.rstrip("/").split("/")[-1]
    if lora_dir:
        name += "-" + os.path.basename(os.path.normpath(lora_dir))
    return name + ".onnx"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="kind", required=True)
    d = sub.add_parser("dino", help="DINOv2 / DINOv3 image model")
    d.add_argument("--model", default="facebook/dinov2-small",
                   help="facebook/dinov2-small|base|large or a DINOv3 checkpoint id")
    d.add_argument("--lora", help="PEFT LoRA adapter directory to merge before export")
    d.add_argument("--out", help="output .onnx (default: <model name>.onnx)")
    c = sub.add_parser("clip", help="CLIP vision tower with projection")
    c.add_argument("--model", default="openai/clip-vit-base-patch32")
    c.add_argument("--out", help="output .onnx (default: <model name>-vision.onnx)")
    a = sub.add_parser("all", help="dinov2-small and clip-vit-base-patch32")
    a.add_argument("--out-dir", default=".")
    args = p.parse_args(argv)

    if args.kind == "dino":
        run("dino", args.model, args.out or default_name(args.model, args.lora), args.lora)
    elif args.kind == "clip":
        run("clip", args.model, args.out or default_name(args.model, None).replace(".onnx", "-vision.onnx"))
    else:
        run("dino", "facebook/dinov2-small", os.path.join(args.out_dir, "dinov2-small.onnx"))
        run("clip", "openai/clip-vit-base-patch32", os.path.join(args.out_dir, "clip-vit-base-patch32-vision.onnx"))


if __name__ == "__main__":
    main()
