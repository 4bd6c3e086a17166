#!/usr/bin/python3
"""Small ONNX models with the input/output names and shapes of DINOv2 and CLIP exports, for
the models package's tests (Debian's python3-onnx 1.12, opset 17; fixed random weights).

  fake-dinov2.onnx          pixel_values [N,3,224,224] -> last_hidden_state [N,257,32],
                            pooler_output [N,32] (= token 0, as in transformers' Dinov2Model)
  fake-clip.onnx            pixel_values [N,3,224,224] -> image_embeds [N,24]
  fake-clip-batch1.onnx     the same with the batch dimension fixed to 1
  fake-clip-dynamic-d.onnx  the same with the output's last dimension left symbolic
  fake-dinov2-external.onnx fake-dinov2 with its weights in fake-dinov2-external.data

Patch tokens are 14x14 patches projected to 32 features (a ViT-S/14's layout: 16 x 16 = 256
patches + CLS = 257 tokens); the CLS token is tanh of a projection of the patches' mean, so
token 0 differs from the mean over tokens. image_embeds projects 32x32 average-pooled pixels.
Every output depends on every part of the input.

usage: make_test_models.py OUT_DIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def save(graph, path, **kw):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save_model(model, path, **kw)


def dinov2(rng):
    nodes = [
        helper.make_node("Reshape", ["pixel_values", "patch_shape"], ["p6"]),
        helper.make_node("Transpose", ["p6"], ["pt"], perm=[0, 2, 4, 1, 3, 5]),
        helper.make_node("Reshape", ["pt", "token_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w_patch"], ["patches"]),
        helper.make_node("ReduceMean", ["patches"], ["pmean"], axes=[1], keepdims=1),
        helper.make_node("MatMul", ["pmean", "w_cls"], ["c0"]),
        helper.make_node("Add", ["c0", "b_cls"], ["c1"]),
        helper.make_node("Tanh", ["c1"], ["cls"]),
        helper.make_node("Concat", ["cls", "patches"], ["last_hidden_state"], axis=1),
        helper.make_node("Reshape", ["cls", "pool_shape"], ["pooler_output"]),
    ]
    inits = [
        const("patch_shape", np.array([-1, 3, 16, 14, 16, 14], np.int64)),
        const("token_shape", np.array([-1, 256, 588], np.int64)),
        const("pool_shape", np.array([-1, 32], np.int64)),
        const("w_patch", rng.normal(0, 0.05, (588, 32)).astype(np.float32)),
        const("w_cls", rng.normal(0, 0.3, (32, 32)).astype(np.float32)),
        const("b_cls", rng.normal(0, 0.1, (32,)).astype(np.float32)),
    ]
    return helper.make_graph(
        nodes, "fake_dinov2",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", 257, 32]),
         helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch", 32])],
        inits)


def clip(rng, batch="batch", dim=24):
    nodes = [
        helper.make_node("Reshape", ["pixel_values", "pool6"], ["p6"]),
        helper.make_node("ReduceMean", ["p6"], ["pooled"], axes=[3, 5], keepdims=0),
        helper.make_node("Reshape", ["pooled", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w_proj"], ["image_embeds"]),
    ]
    inits = [
        const("pool6", np.array([-1, 3, 7, 32, 7, 32], np.int64)),
        const("flat_shape", np.array([-1, 147], np.int64)),
        const("w_proj", rng.normal(0, 0.2, (147, 24)).astype(np.float32)),
    ]
    return helper.make_graph(
        nodes, "fake_clip",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [batch, 3, 224, 224])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, [batch, dim])],
        inits)


def main(out):
    os.makedirs(out, exist_ok=True)
    save(dinov2(np.random.default_rng(1)), os.path.join(out, "fake-dinov2.onnx"))
    save(clip(np.random.default_rng(2)), os.path.join(out, "fake-clip.onnx"))
    save(clip(np.random.default_rng(2), batch=1), os.path.join(out, "fake-clip-batch1.onnx"))
    save(clip(np.random.default_rng(2), dim="d"), os.path.join(out, "fake-clip-dynamic-d.onnx"))
    save(dinov2(np.random.default_rng(1)), os.path.join(out, "fake-dinov2-external.onnx"),
         save_as_external_data=True, all_tensors_to_one_file=True,
         location="fake-dinov2-external.data", size_threshold=1024)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
