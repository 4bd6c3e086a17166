package models

import (
	"fmt"
	"image"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/ebrcs/ebrcs/internal/cores"
)

// Reductions of a model output to one vector per image: the names EncoderConfig.Reduce takes.
const (
	// ReduceNone takes an [N, D] output as is (MobileNetV2's embedding, DINOv2's
	// pooler_output, CLIP's image_embeds).
	ReduceNone = "none"
	// ReduceCLS takes token 0 of an [N, T, D] output (a ViT's CLS token in last_hidden_state).
	ReduceCLS = "cls"
	// ReduceMean averages all T tokens of an [N, T, D] output (CLS token included).
	ReduceMean = "mean"
)

// EncoderConfig describes an ONNX image encoder. YAML keys are the snake_case field names;
// zero values take the defaults noted.
type EncoderConfig struct {
	// Name labels the encoder in logs and errors (default: the file's base name).
	Name string `yaml:"name,omitempty"`
	// Path is the ONNX file. Relative paths are resolved by the caller (NewHybrid: against its
	// model directory; OpenEncoder: against the working directory).
	Path string `yaml:"path,omitempty"`
	// Input is the image input tensor, [N, 3, Size, Size] float32 (default: the model's only
	// input).
	Input string `yaml:"input,omitempty"`
	// Output is the tensor the vectors come from (default: the model's only output).
	Output string `yaml:"output,omitempty"`
	// Size is the side of the square input (default 224).
	Size int `yaml:"size,omitempty"`
	// Preprocess is "imagenet" (default), "clip" or "imagenet-full" (see the Preprocess*
	// constants).
	Preprocess string `yaml:"preprocess,omitempty"`
	// Reduce is "none" (default) for an [N, D] output, "cls" or "mean" for [N, T, D].
	Reduce string `yaml:"reduce,omitempty"`
	// Threads is ONNX Runtime's intra-op thread count for this encoder's session (default 1:
	// the server runs several pipelines, each calling from its own goroutine, and one thread
	// per call uses the cores without oversubscribing them).
	Threads int `yaml:"threads,omitempty"`
}

// withDefaults fills the zero fields that have defaults (not Input and Output, which need
// the model).
func (c EncoderConfig) withDefaults() EncoderConfig {
	if c.Name == "" && c.Path != "" {
		c.Name = strings.TrimSuffix(filepath.Base(c.Path), filepath.Ext(c.Path))
	}
	if c.Size == 0 {
		c.Size = 224
	}
	if c.Preprocess == "" {
		c.Preprocess = PreprocessImageNet
	}
	if c.Reduce == "" {
		c.Reduce = ReduceNone
	}
	if c.Threads == 0 {
		c.Threads = 1
	}
	return c
}

func (c EncoderConfig) validate() error {
	if c.Path == "" {
		return fmt.Errorf("models: encoder %q: no model path", c.Name)
	}
	if c.Size < 0 || c.Threads < 0 {
		return fmt.Errorf("models: encoder %q: size and threads must not be negative", c.Name)
	}
	switch c.Preprocess {
	case PreprocessImageNet, PreprocessCLIP, PreprocessImageNetFull:
	default:
		return fmt.Errorf("models: encoder %q: unknown preprocess %q (want %q, %q or %q)", c.Name, c.Preprocess,
			PreprocessImageNet, PreprocessCLIP, PreprocessImageNetFull)
	}
	switch c.Reduce {
	case ReduceNone, ReduceCLS, ReduceMean:
	default:
		return fmt.Errorf("models: encoder %q: unknown reduce %q (want %q, %q or %q)", c.Name, c.Reduce, ReduceNone, ReduceCLS, ReduceMean)
	}
	return nil
}

// Encoder runs one ONNX image model: images in, one vector per image out. It is safe for
// concurrent use: ONNX Runtime sessions accept concurrent Run calls, and each call has its
// own tensors.
//
// Encoders are shared process-wide: OpenEncoder with the same configuration and the same
// model contents returns the same *Encoder, so N pipelines cost one session's memory.
type Encoder struct {
	cfg         EncoderConfig // defaults applied, Input/Output resolved, Path absolute
	key         string        // cache key
	fingerprint string
	pre         *preprocessor
	dim         int
	outRank     int // 2 ([N,D]) or 3 ([N,T,D])
	tokens      int // T of a rank-3 output when the model declares it, else 0
	batch       int // the model's fixed batch size, or 0 when the batch dimension is dynamic

	refs int // guarded by encoders.Mutex

	// mu guards session: Embed holds it for reading while it runs, the last Close for
	// writing, so a session is never destroyed under a running call.
	mu      sync.RWMutex
	session *ort.DynamicAdvancedSession

	runs atomic.Int64
}

// encoders is the process-wide cache of open encoders.
var encoders struct {
	sync.Mutex
	byKey map[string]*Encoder
}

// OpenEncoder returns the encoder for cfg, opening an ONNX Runtime session for it unless an
// encoder with the identical configuration and model contents (sha256) is already open, in
// which case that one is returned and its reference count incremented. Call Close once per
// OpenEncoder. OpenEncoder calls Init("") if ONNX Runtime is not initialised yet.
//
// The model's input and output are checked against cfg: a missing tensor name, a non-float
// tensor, an input that is not [N, 3, Size, Size] or an output whose rank does not fit Reduce
// is an error naming the file and the tensor.
func OpenEncoder(cfg EncoderConfig) (*Encoder, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("models: encoder %q: %w", cfg.Name, err)
	}
	cfg.Path = abs
	if err := Init(""); err != nil {
		return nil, err
	}
	digest, err := modelDigest(cfg.Path)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%+v|%s", cfg, digest)

	// One lock for lookups and opens: opening is rare (start-up, hot reload), and holding the
	// lock while a session loads guarantees two pipelines opening the same model at once get
	// one session, not two.
	encoders.Lock()
	defer encoders.Unlock()
	if e := encoders.byKey[key]; e != nil {
		e.refs++
		return e, nil
	}
	e, err := newEncoder(cfg, digest)
	if err != nil {
		return nil, err
	}
	e.key, e.refs = key, 1
	if encoders.byKey == nil {
		encoders.byKey = make(map[string]*Encoder)
	}
	encoders.byKey[key] = e
	return e, nil
}

func newEncoder(cfg EncoderConfig, digest string) (*Encoder, error) {
	pre, err := newPreprocessor(cfg.Preprocess, cfg.Size)
	if err != nil {
		return nil, fmt.Errorf("models: encoder %q: %w", cfg.Name, err)
	}
	e := &Encoder{pre: pre}
	inputs, outputs, err := ort.GetInputOutputInfo(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", cfg.Path, err)
	}
	in, err := pickTensor(cfg.Path, "input", cfg.Input, inputs)
	if err != nil {
		return nil, err
	}
	out, err := pickTensor(cfg.Path, "output", cfg.Output, outputs)
	if err != nil {
		return nil, err
	}
	cfg.Input, cfg.Output = in.Name, out.Name
	if err := e.checkShapes(cfg, in, out); err != nil {
		return nil, err
	}
	e.cfg = cfg

	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("models: session options: %w", err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(cfg.Threads); err != nil {
		return nil, fmt.Errorf("models: %s: %w", cfg.Path, err)
	}
	// Parallelism across operators does not help these chain-shaped graphs.
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("models: %s: %w", cfg.Path, err)
	}
	e.session, err = ort.NewDynamicAdvancedSession(cfg.Path, []string{cfg.Input}, []string{cfg.Output}, opts)
	if err != nil {
		return nil, fmt.Errorf("models: %s: creating session: %w", cfg.Path, err)
	}
	if e.dim <= 0 {
		// The model does not declare D: learn it from one run on a blank image.
		vecs, err := e.embedRGB([]*rgbImage{newRGB(cfg.Size, cfg.Size)})
		if err != nil {
			e.session.Destroy()
			return nil, err
		}
		e.dim = len(vecs[0])
	}
	e.fingerprint = fmt.Sprintf("onnx:sha256=%s;output=%s;preprocess=%s;size=%d;reduce=%s",
		digest, cfg.Output, cfg.Preprocess, cfg.Size, cfg.Reduce)
	return e, nil
}

// pickTensor finds the tensor named want ("" = the only one) among a model's inputs or
// outputs.
func pickTensor(path, kind, want string, infos []ort.InputOutputInfo) (ort.InputOutputInfo, error) {
	names := make([]string, len(infos))
	for i, info := range infos {
		names[i] = fmt.Sprintf("%q %v", info.Name, info.Dimensions)
		if info.Name == want {
			return info, nil
		}
	}
	if want == "" {
		if len(infos) == 1 {
			return infos[0], nil
		}
		return ort.InputOutputInfo{}, fmt.Errorf("models: %s has %d %ss (%s): name the one to use",
			path, len(infos), kind, strings.Join(names, ", "))
	}
	return ort.InputOutputInfo{}, fmt.Errorf("models: %s has no %s %q; its %ss are %s",
		path, kind, want, kind, strings.Join(names, ", "))
}

// checkShapes validates the declared input and output against cfg and records the output's
// layout. Dimensions the model leaves symbolic (-1) are accepted and checked on each run.
func (e *Encoder) checkShapes(cfg EncoderConfig, in, out ort.InputOutputInfo) error {
	if in.OrtValueType != ort.ONNXTypeTensor || in.DataType != ort.TensorElementDataTypeFloat {
		return fmt.Errorf("models: %s: input %q is %v, want a float32 tensor", cfg.Path, in.Name, in.String())
	}
	d := in.Dimensions
	fits := func(got, want int64) bool { return got <= 0 || got == want }
	if len(d) != 4 || !fits(d[1], 3) || !fits(d[2], int64(cfg.Size)) || !fits(d[3], int64(cfg.Size)) {
		return fmt.Errorf("models: %s: input %q has shape %v, want [N 3 %d %d] (size %d)", cfg.Path, in.Name, d, cfg.Size, cfg.Size, cfg.Size)
	}
	if d[0] > 0 {
		e.batch = int(d[0])
	}
	if out.OrtValueType != ort.ONNXTypeTensor || out.DataType != ort.TensorElementDataTypeFloat {
		return fmt.Errorf("models: %s: output %q is %v, want a float32 tensor", cfg.Path, out.Name, out.String())
	}
	o := out.Dimensions
	switch cfg.Reduce {
	case ReduceNone:
		if len(o) != 2 {
			return fmt.Errorf("models: %s: output %q has shape %v (rank %d), but reduce %q needs [N D] (rank 2); use reduce %q or %q for [N T D]",
				cfg.Path, out.Name, o, len(o), cfg.Reduce, ReduceCLS, ReduceMean)
		}
	default:
		if len(o) != 3 {
			return fmt.Errorf("models: %s: output %q has shape %v (rank %d), but reduce %q needs [N T D] (rank 3); use reduce %q for [N D]",
				cfg.Path, out.Name, o, len(o), cfg.Reduce, ReduceNone)
		}
		if o[1] > 0 {
			e.tokens = int(o[1])
		}
	}
	e.outRank = len(o)
	if last := o[len(o)-1]; last > 0 {
		e.dim = int(last)
	}
	return nil
}

// Dim is the length of the vectors Embed returns.
func (e *Encoder) Dim() int { return e.dim }

// Config returns the encoder's configuration, defaults applied and tensor names resolved.
func (e *Encoder) Config() EncoderConfig { return e.cfg }

// Fingerprint identifies what the vectors depend on: the model's contents (sha256, external
// data included), the output tensor, the preprocessing, the input size and the reduction.
// Name, Path, Input and Threads do not change the vectors and are left out.
func (e *Encoder) Fingerprint() string { return e.fingerprint }

// Runs is the number of ONNX Runtime calls made so far (for tests and metrics).
func (e *Encoder) Runs() int64 { return e.runs.Load() }

// Close releases this reference; the session is destroyed when the last one is released,
// after any Embed in progress returns. Call it once per OpenEncoder: the *Encoder is shared,
// so an extra Close releases somebody else's reference.
func (e *Encoder) Close() error {
	encoders.Lock()
	if e.refs <= 0 {
		encoders.Unlock()
		return nil
	}
	e.refs--
	last := e.refs == 0
	if last {
		delete(encoders.byKey, e.key)
	}
	encoders.Unlock()
	if !last {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.session.Destroy()
	e.session = nil
	return err
}

// Embed runs images through the model as one batch (one ONNX Runtime call) and returns one
// raw vector per image, reduced as configured but not normalised.
func (e *Encoder) Embed(imgs []image.Image) ([][]float32, error) {
	rgbs := make([]*rgbImage, len(imgs))
	err := parallelFor(len(imgs), func(i int) error {
		m, err := toRGB(imgs[i])
		rgbs[i] = m
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("models: encoder %q: %w", e.cfg.Name, err)
	}
	return e.embedRGB(rgbs)
}

// embedRGB is Embed on converted images (the hybrid converts once for all its encoders).
func (e *Encoder) embedRGB(imgs []*rgbImage) ([][]float32, error) {
	n := len(imgs)
	if n == 0 {
		return nil, nil
	}
	per := e.pre.tensorLen()
	input := make([]float32, n*per)
	err := parallelFor(n, func(i int) error {
		return e.pre.fill(input[i*per:(i+1)*per], imgs[i])
	})
	if err != nil {
		return nil, fmt.Errorf("models: encoder %q: %w", e.cfg.Name, err)
	}
	out, shape, err := e.runBatch(input, n)
	if err != nil {
		return nil, err
	}
	return e.reduce(out, shape), nil
}

// parallelFor runs fn(0..n-1) spread over the available cores and returns the first error
// (by index), naming the image. ONNX Runtime uses one thread per call by default, so
// converting and preprocessing a batch's images in parallel is what lets a batch finish
// sooner than its images one by one.
func parallelFor(n int, fn func(i int) error) error {
	errs := make([]error, n)
	workers := min(n, cores.N())
	if workers <= 1 {
		for i := range n {
			errs[i] = fn(i)
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		// The helpers join the caller's priority group: a recognition worker's batch stays
		// behind the live video, its preprocessing included, and is raised whole.
		group := callerGroup()
		for range workers {
			wg.Go(func() {
				group.run(func() {
					for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
						errs[i] = fn(i)
					}
				})
			})
		}
		wg.Wait()
	}
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("image %d: %w", i, err)
		}
	}
	return nil
}

// runBatch runs n preprocessed images and returns the output tensor's data and shape
// ([n, D] or [n, T, D]). A model with a fixed batch size is run in chunks of that size, the
// last one padded with blank images.
func (e *Encoder) runBatch(input []float32, n int) ([]float32, ort.Shape, error) {
	if e.batch <= 0 || e.batch == n {
		return e.run(input, n)
	}
	per := e.pre.tensorLen()
	var out []float32
	var shape ort.Shape
	for i := 0; i < n; i += e.batch {
		chunk := make([]float32, e.batch*per)
		copy(chunk, input[i*per:min(n, i+e.batch)*per])
		data, s, err := e.run(chunk, e.batch)
		if err != nil {
			return nil, nil, err
		}
		perOut := len(data) / e.batch
		out = append(out, data[:(min(n, i+e.batch)-i)*perOut]...)
		shape = s
	}
	shape[0] = int64(n)
	return out, shape, nil
}

// run is one ONNX Runtime call on an [n, 3, S, S] input.
func (e *Encoder) run(input []float32, n int) ([]float32, ort.Shape, error) {
	s := int64(e.cfg.Size)
	in, err := ort.NewTensor(ort.NewShape(int64(n), 3, s, s), input)
	if err != nil {
		return nil, nil, fmt.Errorf("models: encoder %q: input tensor: %w", e.cfg.Name, err)
	}
	defer in.Destroy()

	// When the output's shape is known, ONNX Runtime writes straight into a Go buffer;
	// otherwise it allocates the output and onnxruntime_go copies it out.
	outputs := []ort.Value{nil}
	var outShape ort.Shape
	switch {
	case e.outRank == 2 && e.dim > 0:
		outShape = ort.NewShape(int64(n), int64(e.dim))
	case e.outRank == 3 && e.dim > 0 && e.tokens > 0:
		outShape = ort.NewShape(int64(n), int64(e.tokens), int64(e.dim))
	}
	if outShape != nil {
		t, err := ort.NewTensor(outShape, make([]float32, outShape.FlattenedSize()))
		if err != nil {
			return nil, nil, fmt.Errorf("models: encoder %q: output tensor: %w", e.cfg.Name, err)
		}
		outputs[0] = t
	}

	e.mu.RLock()
	if e.session == nil {
		e.mu.RUnlock()
		if outputs[0] != nil {
			outputs[0].Destroy()
		}
		return nil, nil, ErrClosed
	}
	err = e.session.Run([]ort.Value{in}, outputs)
	e.mu.RUnlock()
	e.runs.Add(1)
	if outputs[0] != nil {
		defer outputs[0].Destroy()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("models: %s: running %q -> %q on %d images: %w", e.cfg.Path, e.cfg.Input, e.cfg.Output, n, err)
	}
	t, ok := outputs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, nil, fmt.Errorf("models: %s: output %q is not a float32 tensor", e.cfg.Path, e.cfg.Output)
	}
	shape := t.GetShape()
	if len(shape) != e.outRank || shape[0] != int64(n) || (e.dim > 0 && shape[len(shape)-1] != int64(e.dim)) {
		return nil, nil, fmt.Errorf("models: %s: output %q came back with shape %v for %d images (want rank %d, last dimension %d)",
			e.cfg.Path, e.cfg.Output, shape, n, e.outRank, e.dim)
	}
	if e.outRank == 3 && (shape[1] < 1 || (e.tokens > 0 && shape[1] != int64(e.tokens))) {
		return nil, nil, fmt.Errorf("models: %s: output %q has no tokens (shape %v)", e.cfg.Path, e.cfg.Output, shape)
	}
	return t.GetData(), shape, nil
}

// reduce splits an output of the given shape ([n, D] or [n, T, D]) into one vector per image.
func (e *Encoder) reduce(data []float32, shape ort.Shape) [][]float32 {
	n := int(shape[0])
	out := make([][]float32, n)
	d := int(shape[len(shape)-1])
	if len(shape) == 2 {
		// The buffer is ours (made for this call): slice it, capacity-limited so that one
		// vector cannot be appended into the next.
		for i := range out {
			out[i] = data[i*d : (i+1)*d : (i+1)*d]
		}
		return out
	}
	tokens := int(shape[1])
	perImage := tokens * d
	// Copy into a fresh slab so the vectors do not keep the whole [N, T, D] output alive.
	slab := make([]float32, n*d)
	var acc []float64
	for i := range out {
		v := slab[i*d : (i+1)*d : (i+1)*d]
		img := data[i*perImage : (i+1)*perImage]
		switch e.cfg.Reduce {
		case ReduceCLS:
			copy(v, img[:d])
		case ReduceMean:
			// Summed in float64: 257 tokens in float32 would lose a few bits.
			acc = append(acc[:0], make([]float64, d)...)
			for t := 0; t < tokens; t++ {
				for j, x := range img[t*d : (t+1)*d] {
					acc[j] += float64(x)
				}
			}
			for j := range v {
				v[j] = float32(acc[j] / float64(tokens))
			}
		}
		out[i] = v
	}
	return out
}

// l2Normalize scales v to unit length in place (a zero vector stays zero).
func l2Normalize(v []float32) {
	s := 0.0
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := 1 / math.Sqrt(s)
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
}
