#!/usr/bin/python3
"""Derive the embedding variant of the ONNX Model Zoo's MobileNetV2-int8.

The Model Zoo's mobilenetv2-12-int8.onnx outputs only the 1000 ImageNet logits. EBRCS matches
products by their 1280-d pooled features (the classifier's input), which exist in the graph as
the quantized tensor '472_quantized'. This script adds one node that dequantizes it,

    DequantizeLinear('472_quantized', '464_scale', '464_zero_point') -> 'embedding'

and exposes 'embedding' [N, 1280] as a second graph output. Nothing else changes.

Usage: derive_embedding.py IN.onnx OUT.onnx   (needs Debian's python3-onnx)
"""
import sys

import onnx
from onnx import helper, TensorProto


def main(src: str, dst: str) -> None:
    model = onnx.load(src)
    graph = model.graph
    names = {o for n in graph.node for o in n.output} | {i.name for i in graph.initializer}
    for needed in ("472_quantized", "464_scale", "464_zero_point"):
        if needed not in names:
            sys.exit(f"{src}: tensor {needed!r} not found: is this mobilenetv2-12-int8.onnx?")
    if any(o.name == "embedding" for o in graph.output):
        sys.exit(f"{src}: already has an 'embedding' output")
    graph.node.append(helper.make_node(
        "DequantizeLinear", ["472_quantized", "464_scale", "464_zero_point"], ["embedding"],
        name="embedding_dequant"))
    graph.output.append(helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch_size", 1280]))
    onnx.checker.check_model(model)
    onnx.save(model, dst)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
