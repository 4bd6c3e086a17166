package models

import (
	"fmt"
	"image"
	"strings"
	"sync"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// benchPhotos are real 348 x 348 GroceryStore photos, decoded (as *image.YCbCr, what a JPEG
// gives).
var benchPhotoFiles = []string{
	"train/Fruit/Banana/Banana_001.jpg",
	"train/Fruit/Kiwi/Kiwi_001.jpg",
	"train/Packages/Milk/Arla-Standard-Milk/Arla-Standard-Milk_001.jpg",
	"train/Fruit/Lemon/Lemon_001.jpg",
	"train/Vegetables/Tomato/Vine-Tomato/Vine-Tomato_001.jpg",
	"train/Packages/Juice/Bravo-Apple-Juice/Bravo-Apple-Juice_001.jpg",
	"train/Fruit/Kiwi/Kiwi_002.jpg",
	"train/Fruit/Banana/Banana_002.jpg",
}

func benchPhotos(b *testing.B, n int) []image.Image {
	out := make([]image.Image, n)
	for i := range out {
		out[i] = groceryPhoto(b, benchPhotoFiles[i%len(benchPhotoFiles)])
	}
	return out
}

func openB(b *testing.B, cfg EncoderConfig) *Encoder {
	e, err := OpenEncoder(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

func perIter(d time.Duration, n int) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }

// BenchmarkDefaultEncoder times the default encoder on one real photo, single thread, and in
// the same loop the same input tensor through a bare onnxruntime_go session (same options),
// interleaved so that both see the same machine state. Metrics, per crop:
//
//	total_ms       Embed on the decoded photo: conversion, resize, crop, normalise, run
//	preprocess_ms  conversion + resize + crop + normalise alone
//	run_ms         our run path on a pre-built tensor (tensor wrapping, Run, output checks)
//	bare_run_ms    a plain session Run on pre-built input and output tensors
//	run_ratio      run_ms / bare_run_ms
func BenchmarkDefaultEncoder(b *testing.B) {
	cfg := DefaultEncoderConfig(defaultModelDir(b))
	e := openB(b, cfg)
	photo := benchPhotos(b, 1)[0]

	opts, err := ort.NewSessionOptions()
	if err != nil {
		b.Fatal(err)
	}
	defer opts.Destroy()
	opts.SetIntraOpNumThreads(1)
	opts.SetInterOpNumThreads(1)
	bare, err := ort.NewDynamicAdvancedSession(cfg.Path, []string{"input"}, []string{"embedding"}, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Destroy()
	input := make([]float32, e.pre.tensorLen())
	m, _ := toRGB(photo)
	if err := e.pre.fill(input, m); err != nil {
		b.Fatal(err)
	}
	in, err := ort.NewTensor(ort.NewShape(1, 3, 224, 224), input)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(1, 1280))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Destroy()
	scratch := make([]float32, len(input))

	var total, pre, run, bareRun time.Duration
	timed := func(acc *time.Duration, f func() error) {
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		*acc += time.Since(t0)
	}
	embed := func() error { _, err := e.Embed([]image.Image{photo}); return err }
	preprocess := func() error {
		m, err := toRGB(photo)
		if err != nil {
			return err
		}
		return e.pre.fill(scratch, m)
	}
	ours := func() error {
		data, shape, err := e.runBatch(input, 1)
		if err == nil {
			_ = e.reduce(data, shape)
		}
		return err
	}
	plain := func() error { return bare.Run([]ort.Value{in}, []ort.Value{out}) }
	i := 0
	for b.Loop() {
		timed(&total, embed)
		timed(&pre, preprocess)
		// Alternate which run goes first, so that neither always finds the caches warmed
		// by the other.
		if i%2 == 0 {
			timed(&run, ours)
			timed(&bareRun, plain)
		} else {
			timed(&bareRun, plain)
			timed(&run, ours)
		}
		i++
	}
	b.ReportMetric(perIter(total, b.N), "total_ms")
	b.ReportMetric(perIter(pre, b.N), "preprocess_ms")
	b.ReportMetric(perIter(run, b.N), "run_ms")
	b.ReportMetric(perIter(bareRun, b.N), "bare_run_ms")
	b.ReportMetric(float64(run)/float64(bareRun), "run_ratio")
}

// BenchmarkBatchSize: ms per crop when the default encoder embeds 1, 2, 4 or 8 real photos
// per call. "total" is Embed from decoded photos (single-thread session; preprocessing is
// spread over the cores); "run" is the ONNX Runtime call alone on a pre-built tensor, with a
// single-thread session, and "run-2threads" with a two-thread one.
func BenchmarkBatchSize(b *testing.B) {
	e := openB(b, DefaultEncoderConfig(defaultModelDir(b)))
	cfg2 := DefaultEncoderConfig(defaultModelDir(b))
	cfg2.Threads = 2
	e2 := openB(b, cfg2)
	for _, n := range []int{1, 2, 4, 8} {
		photos := benchPhotos(b, n)
		b.Run(fmt.Sprintf("total/batch=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := e.Embed(photos); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(perIter(b.Elapsed(), b.N*n), "ms/crop")
		})
		per := e.pre.tensorLen()
		input := make([]float32, n*per)
		for i, p := range photos {
			m, _ := toRGB(p)
			if err := e.pre.fill(input[i*per:(i+1)*per], m); err != nil {
				b.Fatal(err)
			}
		}
		for _, v := range []struct {
			name string
			enc  *Encoder
		}{{"run", e}, {"run-2threads", e2}} {
			enc := v.enc
			b.Run(fmt.Sprintf("%s/batch=%d", v.name, n), func(b *testing.B) {
				for b.Loop() {
					if _, _, err := enc.runBatch(input, n); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(perIter(b.Elapsed(), b.N*n), "ms/crop")
			})
		}
	}
}

// BenchmarkConcurrentCrops: 4 goroutines (pipelines) embedding one crop at a time, either
// each calling the shared encoder directly (ONNX Runtime runs the calls in parallel, one
// thread each) or through a Batcher (one worker, batches of what is queued).
func BenchmarkConcurrentCrops(b *testing.B) {
	e := openB(b, DefaultEncoderConfig(defaultModelDir(b)))
	photos := benchPhotos(b, 4)
	const goroutines = 4
	run := func(b *testing.B, embed func(image.Image) error) {
		for b.Loop() {
			var wg sync.WaitGroup
			for g := 0; g < goroutines; g++ {
				wg.Go(func() {
					for i := 0; i < 4; i++ {
						if err := embed(photos[(g+i)%len(photos)]); err != nil {
							b.Error(err)
						}
					}
				})
			}
			wg.Wait()
		}
		b.ReportMetric(perIter(b.Elapsed(), b.N*goroutines*4), "ms/crop")
	}
	b.Run("direct", func(b *testing.B) {
		run(b, func(img image.Image) error { _, err := e.Embed([]image.Image{img}); return err })
	})
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("batcher/workers=%d", workers), func(b *testing.B) {
			bt := NewBatcher(e.Embed, BatcherConfig{Workers: workers})
			defer bt.Close()
			run(b, func(img image.Image) error { _, err := bt.Embed(img); return err })
			s := bt.Stats()
			b.ReportMetric(float64(s.Items)/float64(s.Batches), "crops/batch")
		})
	}
}

// BenchmarkPreprocess: each preset on a decoded 348 x 348 photo (conversion included).
func BenchmarkPreprocess(b *testing.B) {
	photo := benchPhotos(b, 1)[0]
	for _, name := range []string{PreprocessImageNet, PreprocessCLIP, PreprocessImageNetFull} {
		b.Run(name, func(b *testing.B) {
			p, err := newPreprocessor(name, 224)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]float32, p.tensorLen())
			for b.Loop() {
				m, _ := toRGB(photo)
				if err := p.fill(dst, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkColorHistogram: the built-in colour encoder on a 348 x 348 photo.
func BenchmarkColorHistogram(b *testing.B) {
	m, _ := toRGB(benchPhotos(b, 1)[0])
	for b.Loop() {
		colorHistogram{}.embedRGB([]*rgbImage{m})
	}
}

// BenchmarkHybrid: MobileNetV2 + colour, one query, with and without two query views.
func BenchmarkHybrid(b *testing.B) {
	dir := defaultModelDir(b)
	photo := benchPhotos(b, 1)
	for _, views := range [][]string{nil, {"hflip", "crop90"}} {
		b.Run(fmt.Sprintf("views=%d", len(views)), func(b *testing.B) {
			h, err := NewHybrid(HybridConfig{
				Encoders:   []EncoderSpec{{Kind: KindMobileNetV2}, {Kind: KindColor, Weight: 0.5}},
				QueryViews: views,
			}, dir)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			for b.Loop() {
				if _, err := h.EmbedQueries(photo); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResize: the Pillow-exact resize alone, 348 x 348 -> 256 x 256 cropped to 224.
func BenchmarkResize(b *testing.B) {
	m, _ := toRGB(benchPhotos(b, 1)[0])
	for b.Loop() {
		if _, err := resizeRGB(m, 256, 256, image.Rect(16, 16, 240, 240)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkToRGB: conversion of a decoded JPEG (YCbCr 4:2:0) to packed RGB.
func BenchmarkToRGB(b *testing.B) {
	photo := benchPhotos(b, 1)[0]
	for b.Loop() {
		toRGB(photo)
	}
}

// BenchmarkRealSizeEncoders: the original system's encoders at real size (DINOv2 ViT-S/14,
// CLIP ViT-B/32 vision; random weights from ../shared/models/bench, so only the cost is
// real), one 348 x 348 photo per call, one and two threads, preprocessing included.
func BenchmarkRealSizeEncoders(b *testing.B) {
	dir := b.TempDir()
	photo := benchPhotos(b, 1)
	for _, m := range []struct {
		graph string
		cfg   func(string) EncoderConfig
	}{
		{"dinov2-vits14.graph.onnx", DINOv2EncoderConfig},
		{"clip-vitb32-vision.graph.onnx", CLIPEncoderConfig},
	} {
		path := realSizeGraph(b, dir, m.graph)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", strings.TrimSuffix(m.graph, ".graph.onnx"), threads), func(b *testing.B) {
				cfg := m.cfg(path)
				cfg.Threads = threads
				e := openB(b, cfg)
				for b.Loop() {
					if _, err := e.Embed(photo); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(perIter(b.Elapsed(), b.N), "ms/crop")
			})
		}
	}
}
