package models

/*
#cgo CFLAGS: -O3 -std=gnu11
#include "resample.h"
*/
import "C"

import (
	"fmt"
	"image"
	"math"
	"unsafe"
)

// This file is a bicubic resampler that reproduces Pillow's Image.resize(size, BICUBIC) on
// 8-bit RGB images bit for bit. The reference preprocessing of every model we run (torchvision
// transforms, Hugging Face image processors) resizes with Pillow, so a model sees the pixels
// it was trained and evaluated on only if we make the same ones. Any other resampler (x/image's
// CatmullRom, a float implementation) differs by a few levels per pixel, which is enough to
// move embeddings measurably.
//
// Pillow's algorithm (libImaging/Resample.c), written here from its description:
//   - A separable convolution: a horizontal pass over the rows the vertical pass will read,
//     then a vertical pass. Each pass rounds and clips to uint8, exactly like Pillow's
//     intermediate image.
//   - Filter: Keys' cubic with a = -0.5 and support 2. When downscaling, the support is
//     stretched by the scale factor (antialiasing) and the argument shrunk by it.
//   - Per output sample, the weights are computed in float64, normalised to sum 1, then
//     converted to fixed point with precisionBits = 22 fractional bits (rounded half away from
//     zero). Accumulation is in int32 starting at 0.5 (1 << 21), and the result is shifted
//     right by 22 and clipped to [0, 255].
// Floating-point expressions keep Pillow's evaluation order and are wrapped in explicit
// float64 conversions, which forbid the Go compiler from fusing them into FMA instructions on
// platforms that have them (a fused multiply-add rounds once, C on x86-64 rounds twice).

const (
	// precisionBits is Pillow's PRECISION_BITS (32 - 8 - 2): 8 bits of pixel, 2 of headroom
	// for the negative lobes, the rest for the fraction.
	precisionBits = 22
	// bicubicSupport is the radius of the cubic filter, in input pixels at scale 1.
	bicubicSupport = 2.0
)

// bicubicFilter is Keys' cubic convolution kernel with a = -0.5, as Pillow evaluates it.
func bicubicFilter(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		// ((a + 2) * x - (a + 3)) * x * x + 1
		return float64(float64(float64(float64((a+2)*x)-(a+3))*x)*x) + 1
	}
	if x < 2 {
		// (((x - 5) * x + 8) * x - 4) * a
		return float64(float64(float64(float64(float64(x-5)*x)+8)*x)-4) * a
	}
	return 0
}

// resampleCoeffs are the fixed-point weights of one pass for output samples lo..hi-1 (as
// given to computeCoeffs): for output sample lo+i, the input samples start[i]..start[i]+n[i]-1
// contribute with weights k[i*ksize : i*ksize+n[i]].
type resampleCoeffs struct {
	ksize int
	start []int32
	n     []int32
	k     []int32
}

// computeCoeffs returns the weights for output samples lo..hi-1 of a resize from inSize
// samples to outSize (Pillow's precompute_coeffs followed by normalize_coeffs_8bpc, for the
// box [0, inSize]). Each sample's weights depend only on its own index, so computing just the
// ones a crop needs gives the same values, and keeps a degenerate input (a 1-pixel-wide
// sliver whose shorter side is scaled up 256 times) from allocating weights for millions of
// samples it will never produce.
func computeCoeffs(inSize, outSize, lo, hi int) resampleCoeffs {
	scale := float64(inSize) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := bicubicSupport * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := resampleCoeffs{
		ksize: ksize,
		start: make([]int32, hi-lo),
		n:     make([]int32, hi-lo),
		k:     make([]int32, (hi-lo)*ksize),
	}
	w := make([]float64, ksize)
	ss := 1.0 / filterscale
	for xx := lo; xx < hi; xx++ {
		center := float64(float64(float64(xx)+0.5) * scale)
		// (int) in C truncates toward zero; Go's conversion does the same.
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			w[x] = bicubicFilter(float64(float64(x+xmin)-center+0.5) * ss)
			ww += w[x]
		}
		i := xx - lo
		k := c.k[i*ksize : i*ksize+ksize]
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			// Round half away from zero, as normalize_coeffs_8bpc does.
			if v < 0 {
				k[x] = int32(-0.5 + float64(v*(1<<precisionBits)))
			} else {
				k[x] = int32(0.5 + float64(v*(1<<precisionBits)))
			}
		}
		c.start[i] = int32(xmin)
		c.n[i] = int32(xmax)
	}
	return c
}

// resizeRGB resizes src to outW x outH as Pillow's Image.resize((outW, outH), BICUBIC) does on
// an RGB image, and returns only the part of the result inside crop (which must lie within
// [0, outW) x [0, outH)). Each output pixel depends only on its own coordinates, so computing
// just the crop gives exactly the pixels a full resize followed by a crop would, for less work
// (the 224 x 224 centre of a 256-pixel resize is 77% of it).
func resizeRGB(src *rgbImage, outW, outH int, crop image.Rectangle) (*rgbImage, error) {
	if src.w <= 0 || src.h <= 0 {
		return nil, fmt.Errorf("cannot resize an empty %dx%d image", src.w, src.h)
	}
	if outW <= 0 || outH <= 0 {
		return nil, fmt.Errorf("invalid resize target %dx%d", outW, outH)
	}
	if !crop.In(image.Rect(0, 0, outW, outH)) || crop.Empty() {
		return nil, fmt.Errorf("crop %v outside the %dx%d resized image", crop, outW, outH)
	}
	cw, ch := crop.Dx(), crop.Dy()

	// Pillow skips a pass whose size does not change; a cubic at scale 1 is the identity
	// anyway (weights 1 at offset 0, 0 at +-1 and +-2), so skipping is only faster.
	needH := outW != src.w
	needV := outH != src.h

	// Rows of src the vertical pass reads for the output rows in the crop.
	var cv resampleCoeffs
	rowFirst, rowLast := crop.Min.Y, crop.Max.Y
	if needV {
		cv = computeCoeffs(src.h, outH, crop.Min.Y, crop.Max.Y)
		rowFirst, rowLast = src.h, 0
		for i := range cv.start {
			rowFirst = min(rowFirst, int(cv.start[i]))
			rowLast = max(rowLast, int(cv.start[i]+cv.n[i]))
		}
	}

	// Horizontal pass: the needed rows, the crop's columns.
	var tmp *rgbImage
	if needH {
		tmp = newRGB(cw, rowLast-rowFirst)
		horizontalPass(tmp, src, rowFirst, computeCoeffs(src.w, outW, crop.Min.X, crop.Max.X))
	} else {
		// Same width: the crop's columns are the source's.
		tmp = src.sub(image.Rect(crop.Min.X, rowFirst, crop.Max.X, rowLast))
	}
	if !needV {
		// tmp already holds exactly the crop's rows (rowFirst..rowLast = crop rows).
		return tmp.clone(), nil
	}
	out := newRGB(cw, ch)
	verticalPass(out, tmp, rowFirst, cv)
	return out, nil
}

// horizontalPass fills dst (dst.h rows starting at src row y0; the dst.w output columns of c)
// from src (resample.c).
func horizontalPass(dst, src *rgbImage, y0 int, c resampleCoeffs) {
	if dst.w == 0 || dst.h == 0 {
		return
	}
	// C reads what the weights say: check it lies in src (computeCoeffs keeps it there).
	if len(c.start) != dst.w || y0 < 0 || (y0+dst.h-1)*src.stride+src.w*3 > len(src.pix) {
		panic("resample: horizontal pass outside its image")
	}
	for x := range c.start {
		if c.start[x] < 0 || int(c.start[x]+c.n[x]) > src.w || int(c.n[x]) > c.ksize {
			panic("resample: horizontal pass outside its image")
		}
	}
	C.resample_horizontal((*C.uint8_t)(unsafe.Pointer(&src.pix[y0*src.stride])), C.int(src.stride),
		(*C.uint8_t)(unsafe.Pointer(&dst.pix[0])), C.int(dst.stride), C.int(dst.w), C.int(dst.h),
		(*C.int32_t)(unsafe.Pointer(&c.start[0])), (*C.int32_t)(unsafe.Pointer(&c.n[0])),
		(*C.int32_t)(unsafe.Pointer(&c.k[0])), C.int(c.ksize))
}

// verticalPass fills dst (the dst.h output rows of c) from src, whose row 0 is input row
// srcRow0 (resample.c).
func verticalPass(dst, src *rgbImage, srcRow0 int, c resampleCoeffs) {
	if dst.w == 0 || dst.h == 0 {
		return
	}
	rowBytes := dst.w * 3
	start := make([]int32, len(c.start))
	for y := range start {
		start[y] = c.start[y] - int32(srcRow0)
		if start[y] < 0 || int(start[y]+c.n[y]) > src.h || int(c.n[y]) > c.ksize {
			panic("resample: vertical pass outside its image")
		}
	}
	if len(start) != dst.h || rowBytes > src.w*3 || (src.h-1)*src.stride+rowBytes > len(src.pix) {
		panic("resample: vertical pass outside its image")
	}
	acc := make([]int32, rowBytes)
	C.resample_vertical((*C.uint8_t)(unsafe.Pointer(&src.pix[0])), C.int(src.stride),
		(*C.uint8_t)(unsafe.Pointer(&dst.pix[0])), C.int(dst.stride), C.int(rowBytes), C.int(dst.h),
		(*C.int32_t)(unsafe.Pointer(&start[0])), (*C.int32_t)(unsafe.Pointer(&c.n[0])),
		(*C.int32_t)(unsafe.Pointer(&c.k[0])), C.int(c.ksize), (*C.int32_t)(unsafe.Pointer(&acc[0])))
}
