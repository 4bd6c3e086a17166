package models

import (
	"errors"
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// randomImages returns n distinct random images of various sizes.
func randomImages(seed uint64, n int) []image.Image {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	out := make([]image.Image, n)
	for i := range out {
		out[i] = testImage(rng, 200+rng.IntN(200), 200+rng.IntN(200), i).toImage()
	}
	return out
}

// bareRun runs a model on already preprocessed input with a plain onnxruntime_go session
// and returns the named output: the reference the encoder is checked against.
func bareRun(t *testing.T, path, input, output string, data []float32, n, size int) ([]float32, ort.Shape) {
	t.Helper()
	s, err := ort.NewDynamicAdvancedSession(path, []string{input}, []string{output}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	in, err := ort.NewTensor(ort.NewShape(int64(n), 3, int64(size), int64(size)), data)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	outs := []ort.Value{nil}
	if err := s.Run([]ort.Value{in}, outs); err != nil {
		t.Fatal(err)
	}
	defer outs[0].Destroy()
	tensor := outs[0].(*ort.Tensor[float32])
	return append([]float32(nil), tensor.GetData()...), tensor.GetShape()
}

// preprocessed returns the model input the encoder builds for imgs.
func preprocessed(t *testing.T, e *Encoder, imgs []image.Image) []float32 {
	t.Helper()
	per := e.pre.tensorLen()
	out := make([]float32, len(imgs)*per)
	for i, img := range imgs {
		m, err := toRGB(img)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.pre.fill(out[i*per:(i+1)*per], m); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func openT(t *testing.T, cfg EncoderConfig) *Encoder {
	t.Helper()
	e, err := OpenEncoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestDINOv2Reductions: on a model shaped like a DINOv2 export, reduce "cls" returns token 0
// of last_hidden_state and "mean" its average over the 257 tokens, exactly as the model
// computes them; pooler_output with reduce "none" is the same CLS token; any batch size works.
func TestDINOv2Reductions(t *testing.T) {
	path := fakeModel(t, "fake-dinov2.onnx")
	cls := openT(t, DINOv2EncoderConfig(path))
	meanCfg := DINOv2EncoderConfig(path)
	meanCfg.Reduce = ReduceMean
	mean := openT(t, meanCfg)
	poolCfg := DINOv2EncoderConfig(path)
	poolCfg.Output, poolCfg.Reduce = "pooler_output", ReduceNone
	pool := openT(t, poolCfg)
	if cls.Dim() != 32 || mean.Dim() != 32 || pool.Dim() != 32 {
		t.Fatalf("dims %d %d %d, want 32", cls.Dim(), mean.Dim(), pool.Dim())
	}

	imgs := randomImages(1, 5)
	want, shape := bareRun(t, path, "pixel_values", "last_hidden_state", preprocessed(t, cls, imgs), len(imgs), 224)
	if !shape.Equals(ort.NewShape(5, 257, 32)) {
		t.Fatalf("reference shape %v", shape)
	}
	for _, n := range []int{1, 3, 5} {
		gotCLS, err := cls.Embed(imgs[:n])
		if err != nil {
			t.Fatal(err)
		}
		gotMean, err := mean.Embed(imgs[:n])
		if err != nil {
			t.Fatal(err)
		}
		gotPool, err := pool.Embed(imgs[:n])
		if err != nil {
			t.Fatal(err)
		}
		if len(gotCLS) != n || len(gotMean) != n || len(gotPool) != n {
			t.Fatalf("batch %d: got %d, %d, %d vectors", n, len(gotCLS), len(gotMean), len(gotPool))
		}
		for i := 0; i < n; i++ {
			tokens := want[i*257*32 : (i+1)*257*32]
			if d := maxAbsDiff(gotCLS[i], tokens[:32]); d > 1e-6 {
				t.Errorf("batch %d image %d: cls differs from token 0 by %g", n, i, d)
			}
			avg := make([]float32, 32)
			for tok := 0; tok < 257; tok++ {
				for j := 0; j < 32; j++ {
					avg[j] += tokens[tok*32+j] / 257
				}
			}
			if d := maxAbsDiff(gotMean[i], avg); d > 1e-5 {
				t.Errorf("batch %d image %d: mean differs from the token average by %g", n, i, d)
			}
			if d := maxAbsDiff(gotPool[i], gotCLS[i]); d > 1e-6 {
				t.Errorf("batch %d image %d: pooler_output differs from the CLS token by %g", n, i, d)
			}
		}
	}
	// Token 0 is not the mean, and different images give different vectors.
	v, _ := cls.Embed(imgs[:2])
	m, _ := mean.Embed(imgs[:1])
	if maxAbsDiff(v[0], m[0]) < 1e-3 || maxAbsDiff(v[0], v[1]) < 1e-3 {
		t.Error("outputs do not depend on the reduction or on the input")
	}
}

// TestCLIPImageEmbeds: a CLIP-shaped model's image_embeds, with CLIP preprocessing, equals the
// model's own output for each batch size, and a batch equals its images one by one.
func TestCLIPImageEmbeds(t *testing.T) {
	path := fakeModel(t, "fake-clip.onnx")
	e := openT(t, CLIPEncoderConfig(path))
	if e.Dim() != 24 {
		t.Fatalf("dim %d, want 24", e.Dim())
	}
	imgs := randomImages(2, 4)
	want, _ := bareRun(t, path, "pixel_values", "image_embeds", preprocessed(t, e, imgs), len(imgs), 224)
	got, err := e.Embed(imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range imgs {
		if d := maxAbsDiff(got[i], want[i*24:(i+1)*24]); d > 1e-6 {
			t.Errorf("image %d differs from the model's output by %g", i, d)
		}
		one, err := e.Embed(imgs[i : i+1])
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(one[0], got[i]); d > 1e-5 {
			t.Errorf("image %d alone differs from in a batch by %g", i, d)
		}
	}
	if maxAbsDiff(got[0], got[1]) < 1e-3 {
		t.Error("different images gave the same vector")
	}
}

// TestFixedBatchAndDynamicDim: a model whose batch is fixed to 1 is run once per image; a
// model that does not declare its output dimension gets it from a probe run.
func TestFixedBatchAndDynamicDim(t *testing.T) {
	ref := openT(t, CLIPEncoderConfig(fakeModel(t, "fake-clip.onnx")))
	fixed := openT(t, CLIPEncoderConfig(fakeModel(t, "fake-clip-batch1.onnx")))
	dyn := openT(t, CLIPEncoderConfig(fakeModel(t, "fake-clip-dynamic-d.onnx")))
	if dyn.Dim() != 24 {
		t.Fatalf("probed dim %d, want 24", dyn.Dim())
	}
	imgs := randomImages(3, 3)
	want, err := ref.Embed(imgs)
	if err != nil {
		t.Fatal(err)
	}
	before := fixed.Runs()
	for _, e := range []*Encoder{fixed, dyn} {
		got, err := e.Embed(imgs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if d := maxAbsDiff(got[i], want[i]); d > 1e-5 {
				t.Errorf("%s image %d differs by %g", e.cfg.Name, i, d)
			}
		}
	}
	if runs := fixed.Runs() - before; runs != 3 {
		t.Errorf("fixed batch 1: %d runs for 3 images, want 3", runs)
	}
}

// TestEncoderErrors: names and shapes that do not match the model are refused when the
// encoder opens, with the file and the tensor in the message.
func TestEncoderErrors(t *testing.T) {
	dino := fakeModel(t, "fake-dinov2.onnx")
	clip := fakeModel(t, "fake-clip.onnx")
	cases := []struct {
		name string
		cfg  EncoderConfig
		want []string
	}{
		{"wrong input", EncoderConfig{Path: clip, Input: "pixels", Output: "image_embeds"},
			[]string{clip, `no input "pixels"`, `"pixel_values"`}},
		{"wrong output", EncoderConfig{Path: dino, Input: "pixel_values", Output: "last_hidden", Reduce: ReduceCLS},
			[]string{dino, `no output "last_hidden"`, `"last_hidden_state"`, `"pooler_output"`}},
		{"rank 3 with reduce none", EncoderConfig{Path: dino, Input: "pixel_values", Output: "last_hidden_state", Reduce: ReduceNone},
			[]string{dino, `output "last_hidden_state"`, "rank 3", `reduce "none"`}},
		{"rank 2 with reduce cls", EncoderConfig{Path: clip, Output: "image_embeds", Reduce: ReduceCLS},
			[]string{clip, `output "image_embeds"`, "rank 2", `reduce "cls"`}},
		{"size", EncoderConfig{Path: clip, Size: 160},
			[]string{clip, `input "pixel_values"`, "[N 3 160 160]"}},
		{"ambiguous output", EncoderConfig{Path: dino, Reduce: ReduceCLS},
			[]string{dino, "2 outputs", "name the one"}},
		{"missing file", EncoderConfig{Path: filepath.Join(t.TempDir(), "nope.onnx")},
			[]string{"nope.onnx", "no such file"}},
		{"preprocess", EncoderConfig{Path: clip, Preprocess: "inception"},
			[]string{"unknown preprocess", "inception"}},
		{"reduce", EncoderConfig{Path: clip, Reduce: "max"},
			[]string{`unknown reduce "max"`}},
		{"no path", EncoderConfig{Name: "x"},
			[]string{"no model path"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := OpenEncoder(c.cfg)
			if err == nil {
				e.Close()
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// An empty Input/Output is fine when the model has only one.
	e := openT(t, EncoderConfig{Path: clip, Preprocess: PreprocessCLIP})
	if c := e.Config(); c.Input != "pixel_values" || c.Output != "image_embeds" {
		t.Errorf("resolved %q -> %q", c.Input, c.Output)
	}
}

// TestEncoderShared: opening the same configuration returns the same encoder (one session per
// model in the process), reference-counted; a different configuration gets its own.
func TestEncoderShared(t *testing.T) {
	cfg := CLIPEncoderConfig(fakeModel(t, "fake-clip.onnx"))
	a, err := OpenEncoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenEncoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("same config, two encoders")
	}
	other := cfg
	other.Threads = 2
	c := openT(t, other)
	if c == a {
		t.Fatal("different threads, same encoder")
	}
	if c.Fingerprint() != a.Fingerprint() {
		t.Errorf("threads changed the fingerprint: %s vs %s", c.Fingerprint(), a.Fingerprint())
	}
	imgs := randomImages(4, 1)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Embed(imgs); err != nil {
		t.Fatalf("after one of two Close calls: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Embed(imgs); !errors.Is(err, ErrClosed) {
		t.Fatalf("after the last Close: %v, want ErrClosed", err)
	}
	d := openT(t, cfg)
	if d == a {
		t.Fatal("a closed encoder was handed out again")
	}
	if _, err := d.Embed(imgs); err != nil {
		t.Fatal(err)
	}
}

// TestEncoderConcurrent: concurrent Embed calls on one shared encoder give the same vectors as
// sequential ones (run under -race too).
func TestEncoderConcurrent(t *testing.T) {
	e := openT(t, DINOv2EncoderConfig(fakeModel(t, "fake-dinov2.onnx")))
	imgs := randomImages(5, 6)
	want, err := e.Embed(imgs)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := range imgs {
				got, err := e.Embed(imgs[i : i+1])
				if err != nil {
					t.Error(err)
					return
				}
				if d := maxAbsDiff(got[0], want[i]); d > 1e-5 {
					t.Errorf("image %d differs by %g under concurrency", i, d)
				}
			}
		})
	}
	wg.Wait()
}

// TestFingerprints: the fingerprint covers the model's contents, external weights included,
// and the settings that change the vectors.
func TestFingerprints(t *testing.T) {
	path := fakeModel(t, "fake-dinov2.onnx")
	base := openT(t, DINOv2EncoderConfig(path))
	if !strings.Contains(base.Fingerprint(), mustSHA(t, path)) {
		t.Errorf("fingerprint %s lacks the file's sha256", base.Fingerprint())
	}
	seen := map[string]string{base.Fingerprint(): "base"}
	for name, mod := range map[string]func(*EncoderConfig){
		"mean":     func(c *EncoderConfig) { c.Reduce = ReduceMean },
		"clip":     func(c *EncoderConfig) { c.Preprocess = PreprocessCLIP },
		"full":     func(c *EncoderConfig) { c.Preprocess = PreprocessImageNetFull },
		"pooler":   func(c *EncoderConfig) { c.Output, c.Reduce = "pooler_output", ReduceNone },
		"external": func(c *EncoderConfig) { c.Path = fakeModel(t, "fake-dinov2-external.onnx") },
	} {
		cfg := DINOv2EncoderConfig(path)
		mod(&cfg)
		fp := openT(t, cfg).Fingerprint()
		if prev, dup := seen[fp]; dup {
			t.Errorf("%s and %s share fingerprint %s", name, prev, fp)
		}
		seen[fp] = name
	}

	// External data: the digest covers the weights file; other weights, other fingerprint.
	ext := fakeModel(t, "fake-dinov2-external.onnx")
	locs, err := externalDataFiles(ext)
	if err != nil || len(locs) != 1 || locs[0] != "fake-dinov2-external.data" {
		t.Fatalf("external data files %v, %v", locs, err)
	}
	if locs, err := externalDataFiles(path); err != nil || len(locs) != 0 {
		t.Fatalf("self-contained model: external data files %v, %v", locs, err)
	}
	dir := t.TempDir()
	copyFile(t, ext, filepath.Join(dir, "m.onnx"))
	copyFile(t, strings.TrimSuffix(ext, ".onnx")+".data", filepath.Join(dir, "fake-dinov2-external.data"))
	d1, err := modelDigest(filepath.Join(dir, "m.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "fake-dinov2-external.data"))
	raw[100] ^= 1
	os.WriteFile(filepath.Join(dir, "fake-dinov2-external.data"), raw, 0o644)
	d2, err := modelDigest(filepath.Join(dir, "m.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if d1 == d2 || d1 == mustSHA(t, ext) {
		t.Errorf("external weights not in the digest: %s, %s", d1, d2)
	}
	// And the external-data model computes what the self-contained one does.
	imgs := randomImages(6, 2)
	a, _ := base.Embed(imgs)
	b, err := openT(t, DINOv2EncoderConfig(ext)).Embed(imgs)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(a[1], b[1]); d != 0 {
		t.Errorf("external-data model differs by %g", d)
	}
}

// TestHuggingFaceTinyExports runs the tiny models exported from transformers' own DINOv2 and
// CLIP code (../shared/models/test): the real export structure, tiny random weights.
func TestHuggingFaceTinyExports(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "models", "test")
	imgs := randomImages(7, 3)
	dino := filepath.Join(dir, "tiny-dinov2.onnx")
	cls := openT(t, DINOv2EncoderConfig(dino))
	poolCfg := DINOv2EncoderConfig(dino)
	poolCfg.Output, poolCfg.Reduce = "pooler_output", ReduceNone
	pool := openT(t, poolCfg)
	a, err := cls.Embed(imgs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pool.Embed(imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range imgs {
		// transformers' Dinov2Model: pooler_output = layernorm(sequence)[:, 0].
		if d := maxAbsDiff(a[i], b[i]); d > 1e-5 || len(a[i]) != 32 {
			t.Errorf("tiny-dinov2 image %d: CLS of last_hidden_state vs pooler_output: %g (dim %d)", i, d, len(a[i]))
		}
	}
	clip := openT(t, CLIPEncoderConfig(filepath.Join(dir, "tiny-clip-vision.onnx")))
	v, err := clip.Embed(imgs)
	if err != nil {
		t.Fatal(err)
	}
	if clip.Dim() != 24 || len(v) != 3 || len(v[0]) != 24 || maxAbsDiff(v[0], v[1]) < 1e-6 {
		t.Errorf("tiny-clip-vision: dim %d, %d vectors", clip.Dim(), len(v))
	}
}

func TestORTLibraryPath(t *testing.T) {
	t.Setenv(ORTLibraryEnv, "")
	if got := ortLibraryPath(""); got != DefaultORTLibrary {
		t.Errorf("default %q", got)
	}
	t.Setenv(ORTLibraryEnv, "/opt/ort/libonnxruntime.so")
	if got := ortLibraryPath(""); got != "/opt/ort/libonnxruntime.so" {
		t.Errorf("env %q", got)
	}
	if got := ortLibraryPath("/x.so"); got != "/x.so" {
		t.Errorf("argument %q", got)
	}
	// Already initialised (TestMain): concurrent calls, any path, all succeed.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Go(func() {
			if err := Init("/does/not/matter.so"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ORTLibrary() == "" {
		t.Error("ORTLibrary() is empty after Init")
	}
}

func mustSHA(t *testing.T, path string) string {
	t.Helper()
	s, err := fileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// realSizeGraph writes random weights for one of ../shared/models/bench's real-size graphs
// (DINOv2 ViT-S/14, CLIP ViT-B/32 vision) into dir and returns the graph's path there.
func realSizeGraph(t testing.TB, dir, name string) string {
	t.Helper()
	bench := filepath.Join(sharedDir(t), "models", "bench")
	runPython(t, filepath.Join(bench, "make_weights.py"), filepath.Join(bench, name), dir)
	return filepath.Join(dir, name)
}

// TestRealSizeDINOv2Graph: the real DINOv2 ViT-S/14 export graph (random weights, kept as
// external data) opens with DINOv2EncoderConfig, gives 384-d CLS vectors for a batch, and its
// fingerprint covers the weights file.
func TestRealSizeDINOv2Graph(t *testing.T) {
	path := realSizeGraph(t, t.TempDir(), "dinov2-vits14.graph.onnx")
	e := openT(t, DINOv2EncoderConfig(path))
	if e.Dim() != 384 {
		t.Fatalf("dim %d, want 384", e.Dim())
	}
	v, err := e.Embed(randomImages(8, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 2 || len(v[0]) != 384 || maxAbsDiff(v[0], v[1]) == 0 {
		t.Fatalf("%d vectors of %d", len(v), len(v[0]))
	}
	if strings.Contains(e.Fingerprint(), mustSHA(t, path)) {
		t.Error("fingerprint is the graph file's sha256 alone: external weights not covered")
	}
}
