// Package models turns images into vectors with ONNX Runtime: the encoders EBRCS recognises
// products with, and the hybrid embedder (data.Embedder) the catalog and the recogniser share.
//
//   - Init loads ONNX Runtime once per process.
//   - OpenEncoder opens an ONNX image model (EncoderConfig) as a process-wide shared, reference-
//     counted Encoder: MobileNetV2 (DefaultEncoderConfig), DINOv2/DINOv3
//     (DINOv2EncoderConfig) or CLIP (CLIPEncoderConfig) exports.
//   - Preprocessing reproduces torchvision's and Hugging Face's transforms exactly, with a
//     bicubic resampler that is byte-identical to Pillow's (resample.go), so a model sees the
//     pixels it was evaluated on.
//   - NewHybrid combines encoders (each L2-normalised, weighted, concatenated, renormalised),
//     with augmented views for catalog images and queries; a built-in colour histogram is a
//     cheap second encoder.
//   - Batcher coalesces crops from concurrent pipelines into batches, with a bounded queue.
//
// The DINOv2/CLIP models are exported on a machine with internet access by
// export_dinov2_clip.py; see README.md in this directory.
package models

// DefaultDir is where the model files are looked for unless told otherwise (make models puts
// the default model there).
const DefaultDir = "models"
