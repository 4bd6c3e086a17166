package models

import "path/filepath"

// DefaultModelFile is the default encoder's model, put in the model directory by
// `make models` (see models/README.md).
const DefaultModelFile = "mobilenetv2-12-int8-emb.onnx"

// DefaultEncoderConfig is the default encoder: the ONNX Model Zoo's pretrained MobileNetV2
// (int8), its 1280-d pooled features (output "embedding"), torchvision's ImageNet
// preprocessing, one thread.
func DefaultEncoderConfig(modelDir string) EncoderConfig {
	return EncoderConfig{
		Name:       "mobilenetv2-int8",
		Path:       filepath.Join(modelDir, DefaultModelFile),
		Input:      "input",
		Output:     "embedding",
		Size:       224,
		Preprocess: PreprocessImageNet,
		Reduce:     ReduceNone,
		Threads:    1,
	}
}

// DINOv2EncoderConfig is a DINOv2 (or DINOv3) image model exported as Hugging Face
// transformers' Dinov2Model is by export_dinov2_clip.py and common public exports: input
// "pixel_values" [N, 3, 224, 224], output "last_hidden_state" [N, 1 + patches, D], of which the
// CLS token (token 0) is the embedding; ImageNet preprocessing as in DINOv2's evaluation.
// For an export that only has "pooler_output" [N, D], set Output to it and Reduce to "none".
func DINOv2EncoderConfig(path string) EncoderConfig {
	return EncoderConfig{
		Name:       "dinov2",
		Path:       path,
		Input:      "pixel_values",
		Output:     "last_hidden_state",
		Size:       224,
		Preprocess: PreprocessImageNet,
		Reduce:     ReduceCLS,
		Threads:    1,
	}
}

// CLIPEncoderConfig is a CLIP vision tower with its projection (transformers'
// CLIPVisionModelWithProjection, e.g. openai/clip-vit-base-patch32): input "pixel_values"
// [N, 3, 224, 224], output "image_embeds" [N, 512], CLIP's preprocessing.
func CLIPEncoderConfig(path string) EncoderConfig {
	return EncoderConfig{
		Name:       "clip",
		Path:       path,
		Input:      "pixel_values",
		Output:     "image_embeds",
		Size:       224,
		Preprocess: PreprocessCLIP,
		Reduce:     ReduceNone,
		Threads:    1,
	}
}
