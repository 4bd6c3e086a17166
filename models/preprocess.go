package models

import (
	"fmt"
	"image"
	"math"
)

// Preprocessing presets: the names an EncoderConfig's Preprocess field takes.
const (
	// PreprocessImageNet is torchvision's classic evaluation transform, used by the ONNX Model
	// Zoo's MobileNetV2 and by DINOv2: Resize(256 * size / 224, BICUBIC) on the shorter side,
	// CenterCrop(size), ToTensor, Normalize(ImageNet mean, std).
	PreprocessImageNet = "imagenet"
	// PreprocessCLIP is CLIP's transform as Hugging Face's CLIPImageProcessor applies it:
	// shorter side to size (BICUBIC), centre crop size, CLIP's mean and std.
	PreprocessCLIP = "clip"
	// PreprocessImageNetFull squashes the whole image to size x size (BICUBIC) with ImageNet
	// mean and std: nothing is cropped, so a product near the border of a tight crop keeps
	// all its pixels, at the cost of distorting its aspect ratio.
	PreprocessImageNetFull = "imagenet-full"
)

// preprocessor turns packed RGB images into one model input: float32, CHW, size x size.
type preprocessor struct {
	name string
	size int
	// resizeShort is the target of the shorter side (0: squash the whole image to size).
	resizeShort int
	// roundCrop selects torchvision's crop offset, int(round((h - size) / 2.0)) with Python's
	// round-half-to-even; otherwise Hugging Face's (h - size) // 2.
	roundCrop bool
	// lut[c][v] is the normalised value of 8-bit level v in channel c, computed in float32
	// in the same order as torchvision (v / 255, then - mean, then / std), so the values are
	// the ones PyTorch and numpy produce in float32.
	lut [3][256]float32
}

var (
	imageNetMean = [3]float32{0.485, 0.456, 0.406}
	imageNetStd  = [3]float32{0.229, 0.224, 0.225}
	clipMean     = [3]float32{0.48145466, 0.4578275, 0.40821073}
	clipStd      = [3]float32{0.26862954, 0.26130258, 0.27577711}
)

// newPreprocessor returns the preset's preprocessor for a model input of size x size.
func newPreprocessor(name string, size int) (*preprocessor, error) {
	if size <= 0 {
		return nil, fmt.Errorf("input size %d must be positive", size)
	}
	p := &preprocessor{name: name, size: size}
	var mean, std [3]float32
	switch name {
	case PreprocessImageNet:
		// 256 for 224, as in torchvision's reference scripts (resize_size / crop_size).
		p.resizeShort = size * 256 / 224
		p.roundCrop = true
		mean, std = imageNetMean, imageNetStd
	case PreprocessCLIP:
		p.resizeShort = size
		p.roundCrop = false
		mean, std = clipMean, clipStd
	case PreprocessImageNetFull:
		mean, std = imageNetMean, imageNetStd
	default:
		return nil, fmt.Errorf("unknown preprocess %q (want %q, %q or %q)",
			name, PreprocessImageNet, PreprocessCLIP, PreprocessImageNetFull)
	}
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			x := float32(v) / 255
			x = x - mean[c]
			p.lut[c][v] = x / std[c]
		}
	}
	return p, nil
}

// shortSideSize is the size torchvision's Resize(short) gives a w x h image:
// (short, int(short * long / short_side)) with Python's true division, then truncation.
func shortSideSize(w, h, short int) (int, int) {
	if w <= h {
		return short, int(float64(short*h) / float64(w))
	}
	return int(float64(short*w) / float64(h)), short
}

// cropOffset is where a centre crop of size out of n starts.
func cropOffset(n, size int, roundHalfEven bool) int {
	if roundHalfEven {
		// torchvision: int(round((n - size) / 2.0)); Python 3 rounds halves to even.
		return int(math.RoundToEven(float64(n-size) / 2.0))
	}
	// Hugging Face image_transforms.center_crop: (n - size) // 2 (floor; n >= size here).
	return (n - size) / 2
}

// geometry returns the resize target and the crop window (in the resized image) for a
// w x h input.
func (p *preprocessor) geometry(w, h int) (outW, outH int, crop image.Rectangle) {
	if p.resizeShort == 0 {
		return p.size, p.size, image.Rect(0, 0, p.size, p.size)
	}
	outW, outH = shortSideSize(w, h, p.resizeShort)
	x0 := cropOffset(outW, p.size, p.roundCrop)
	y0 := cropOffset(outH, p.size, p.roundCrop)
	return outW, outH, image.Rect(x0, y0, x0+p.size, y0+p.size)
}

// pixels returns the size x size uint8 RGB image the model's input is made of.
func (p *preprocessor) pixels(img *rgbImage) (*rgbImage, error) {
	outW, outH, crop := p.geometry(img.w, img.h)
	return resizeRGB(img, outW, outH, crop)
}

// tensorLen is the number of float32 values one image takes in the input tensor.
func (p *preprocessor) tensorLen() int { return 3 * p.size * p.size }

// fill writes img's model input into dst (len tensorLen) as CHW float32.
func (p *preprocessor) fill(dst []float32, img *rgbImage) error {
	px, err := p.pixels(img)
	if err != nil {
		return err
	}
	p.toTensor(dst, px)
	return nil
}

// toTensor converts size x size packed RGB into normalised CHW float32.
func (p *preprocessor) toTensor(dst []float32, px *rgbImage) {
	plane := p.size * p.size
	r := dst[0*plane : 1*plane : 1*plane]
	g := dst[1*plane : 2*plane : 2*plane]
	b := dst[2*plane : 3*plane : 3*plane]
	lr, lg, lb := &p.lut[0], &p.lut[1], &p.lut[2]
	i := 0
	for y := 0; y < px.h; y++ {
		row := px.pix[y*px.stride : y*px.stride+px.w*3]
		for x := 0; x+2 < len(row); x += 3 {
			r[i] = lr[row[x]]
			g[i] = lg[row[x+1]]
			b[i] = lb[row[x+2]]
			i++
		}
	}
}
