package models

import (
	"fmt"
	"image"
	"math"
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
	start []int
	n     []int
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
		start: make([]int, hi-lo),
		n:     make([]int, hi-lo),
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
		c.start[i] = xmin
		c.n[i] = xmax
	}
	return c
}

// clip8 turns an accumulator into a pixel value: drop the fraction, clamp to [0, 255].
func clip8(ss int32) byte {
	v := ss >> precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return byte(v)
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
			rowFirst = min(rowFirst, cv.start[i])
			rowLast = max(rowLast, cv.start[i]+cv.n[i])
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
// from src.
func horizontalPass(dst, src *rgbImage, y0 int, c resampleCoeffs) {
	const half = int32(1) << (precisionBits - 1)
	for y := 0; y < dst.h; y++ {
		srow := src.pix[(y0+y)*src.stride : (y0+y)*src.stride+src.w*3]
		drow := dst.pix[y*dst.stride : y*dst.stride+dst.w*3]
		for x := 0; x < dst.w; x++ {
			start, n := c.start[x], c.n[x]
			k := c.k[x*c.ksize : x*c.ksize+n]
			in := srow[start*3 : (start+n)*3]
			ss0, ss1, ss2 := half, half, half
			for i, kw := range k {
				p := in[i*3 : i*3+3 : i*3+3]
				ss0 += int32(p[0]) * kw
				ss1 += int32(p[1]) * kw
				ss2 += int32(p[2]) * kw
			}
			d := drow[x*3 : x*3+3 : x*3+3]
			d[0], d[1], d[2] = clip8(ss0), clip8(ss1), clip8(ss2)
		}
	}
}

// verticalPass fills dst (the dst.h output rows of c) from src, whose row 0 is input row
// srcRow0.
func verticalPass(dst, src *rgbImage, srcRow0 int, c resampleCoeffs) {
	const half = int32(1) << (precisionBits - 1)
	rowBytes := dst.w * 3
	acc := make([]int32, rowBytes)
	for y := 0; y < dst.h; y++ {
		start, n := c.start[y]-srcRow0, c.n[y]
		k := c.k[y*c.ksize : y*c.ksize+n]
		for i := range acc {
			acc[i] = half
		}
		// Row by row rather than pixel by pixel: the same sums in the same order (integer
		// addition is exact, so the order does not matter anyway), with sequential memory
		// access.
		for i, kw := range k {
			srow := src.pix[(start+i)*src.stride : (start+i)*src.stride+rowBytes]
			acc := acc[:len(srow)]
			for j, p := range srow {
				acc[j] += int32(p) * kw
			}
		}
		drow := dst.pix[y*dst.stride : y*dst.stride+rowBytes]
		for j, s := range acc {
			drow[j] = clip8(s)
		}
	}
}
