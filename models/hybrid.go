package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"gopkg.in/yaml.v3"

	"github.com/ebrcs/ebrcs/data"
)

// Encoder kinds a HybridConfig entry can name.
const (
	// KindONNX is an ONNX model described entirely by the entry's EncoderConfig (the default
	// when Kind is empty).
	KindONNX = "onnx"
	// KindMobileNetV2 is DefaultEncoderConfig(modelDir); set fields override it.
	KindMobileNetV2 = "mobilenetv2"
	// KindDINOv2 is DINOv2EncoderConfig(path); set fields override it.
	KindDINOv2 = "dinov2"
	// KindCLIP is CLIPEncoderConfig(path); set fields override it.
	KindCLIP = "clip"
	// KindColor is the built-in HSV colour histogram (no model file; takes no other field).
	KindColor = "color"
)

// EncoderSpec is one encoder of a hybrid and its weight.
type EncoderSpec struct {
	// Kind picks a built-in encoder or preset (the Kind* constants); "" means "onnx".
	Kind string `yaml:"kind,omitempty"`
	// The model, for ONNX kinds; for presets, the fields that are set override the preset's.
	EncoderConfig `yaml:",inline"`
	// Weight scales this encoder's normalised vector in the concatenation; 0 (unset) means 1.
	Weight float64 `yaml:"weight,omitempty"`
}

// HybridConfig is the recipe of the embedding the catalog and the recogniser share. Example:
//
//	encoders:
//	  - kind: mobilenetv2
//	  - kind: color
//	    weight: 0.5
//	catalog_views: [hflip, crop80]
//	query_views: [hflip]
type HybridConfig struct {
	// Encoders are concatenated in this order.
	Encoders []EncoderSpec `yaml:"encoders"`
	// CatalogViews are augmentations applied to catalog images: EmbedCatalog returns the
	// image's vector and one per view (see views.go for the names).
	CatalogViews []string `yaml:"catalog_views,omitempty"`
	// QueryViews are test-time augmentations: a query's vector is the normalised mean of the
	// vectors of the image and of each view.
	QueryViews []string `yaml:"query_views,omitempty"`
}

// DefaultHybridConfig is the embedding used until the accuracy work tunes it: MobileNetV2
// alone, weight 1, no views. The model path is made absolute so that NewHybrid does not
// resolve it against modelDir a second time.
func DefaultHybridConfig(modelDir string) HybridConfig {
	cfg := DefaultEncoderConfig(modelDir)
	if abs, err := filepath.Abs(cfg.Path); err == nil {
		cfg.Path = abs
	}
	return HybridConfig{Encoders: []EncoderSpec{{EncoderConfig: cfg, Weight: 1}}}
}

// ParseHybridConfig reads a HybridConfig from YAML, rejecting unknown keys (a misspelt
// "wieght" must not silently become weight 1).
func ParseHybridConfig(doc []byte) (HybridConfig, error) {
	var cfg HybridConfig
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return HybridConfig{}, fmt.Errorf("models: hybrid config: %w", err)
	}
	return cfg, nil
}

// part is one encoder of a hybrid: an *Encoder or a built-in one.
type part interface {
	embedRGB(imgs []*rgbImage) ([][]float32, error)
	Dim() int
	Fingerprint() string
	Close() error
}

type hybridPart struct {
	part   part
	weight float64
	onnx   bool // runs through ONNX Runtime (worth running concurrently with the others)
}

// Hybrid is the project's data.Embedder: several encoders, each one's vector L2-normalised
// and multiplied by its weight, concatenated and normalised again (the original system's
// rule), optionally with augmented views for catalog images and queries. Safe for concurrent
// use.
type Hybrid struct {
	parts        []hybridPart
	catalogViews []view
	queryViews   []view
	dim          int
	description  string
	fingerprint  string
	closed       atomic.Bool
	closeOnce    sync.Once
}

var _ data.Embedder = (*Hybrid)(nil)

// NewHybrid opens the encoders of cfg (shared with any other user of the same models, see
// OpenEncoder). Relative model paths are resolved against modelDir.
func NewHybrid(cfg HybridConfig, modelDir string) (*Hybrid, error) {
	if len(cfg.Encoders) == 0 {
		return nil, errors.New("models: hybrid config has no encoders")
	}
	h := &Hybrid{}
	var err error
	if h.catalogViews, err = parseViews(cfg.CatalogViews); err != nil {
		return nil, fmt.Errorf("models: catalog_views: %w", err)
	}
	if h.queryViews, err = parseViews(cfg.QueryViews); err != nil {
		return nil, fmt.Errorf("models: query_views: %w", err)
	}
	var desc strings.Builder
	desc.WriteString("hybrid:v1")
	for i, spec := range cfg.Encoders {
		p, err := openPart(spec, modelDir)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("models: hybrid encoder %d: %w", i, err)
		}
		w := spec.Weight
		if w == 0 {
			w = 1
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			p.Close()
			h.Close()
			return nil, fmt.Errorf("models: hybrid encoder %d: weight %v must be positive", i, spec.Weight)
		}
		_, isONNX := p.(*Encoder)
		h.parts = append(h.parts, hybridPart{part: p, weight: w, onnx: isONNX})
		h.dim += p.Dim()
		fmt.Fprintf(&desc, "|w=%s %s", strconv.FormatFloat(w, 'g', -1, 64), p.Fingerprint())
	}
	// Query views are left out: they change how crops are embedded, never a catalog photo's
	// vectors, so a catalog stays valid when they change. The field keeps its former place,
	// empty, so that catalogs stored before query views were used keep their vectors.
	fmt.Fprintf(&desc, "|catalog_views=%s|query_views=", viewNames(h.catalogViews))
	h.description = desc.String()
	sum := sha256.Sum256([]byte(h.description))
	h.fingerprint = "hybrid:v1:" + hex.EncodeToString(sum[:16])
	return h, nil
}

// openPart builds one encoder from its spec.
func openPart(spec EncoderSpec, modelDir string) (part, error) {
	c := spec.EncoderConfig
	var preset EncoderConfig
	switch spec.Kind {
	case "", KindONNX:
		preset = c
	case KindMobileNetV2:
		// Path "" + file = the bare file name, resolved against modelDir below.
		preset = overlay(DefaultEncoderConfig(""), c)
	case KindDINOv2:
		preset = overlay(DINOv2EncoderConfig(c.Path), c)
	case KindCLIP:
		preset = overlay(CLIPEncoderConfig(c.Path), c)
	case KindColor:
		if c != (EncoderConfig{}) {
			return nil, fmt.Errorf("kind %q takes no model fields (got %+v)", KindColor, c)
		}
		return colorHistogram{}, nil
	default:
		return nil, fmt.Errorf("unknown kind %q (want %q, %q, %q, %q or %q)", spec.Kind,
			KindONNX, KindMobileNetV2, KindDINOv2, KindCLIP, KindColor)
	}
	if preset.Path == "" {
		kind := spec.Kind
		if kind == "" {
			kind = KindONNX
		}
		return nil, fmt.Errorf("kind %q needs a model path", kind)
	}
	if !filepath.IsAbs(preset.Path) {
		preset.Path = filepath.Join(modelDir, preset.Path)
	}
	return OpenEncoder(preset)
}

// overlay returns base with the non-zero fields of over.
func overlay(base, over EncoderConfig) EncoderConfig {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&base.Name, over.Name)
	set(&base.Path, over.Path)
	set(&base.Input, over.Input)
	set(&base.Output, over.Output)
	set(&base.Preprocess, over.Preprocess)
	set(&base.Reduce, over.Reduce)
	if over.Size != 0 {
		base.Size = over.Size
	}
	if over.Threads != 0 {
		base.Threads = over.Threads
	}
	return base
}

// Dim is the length of every vector: the sum of the encoders' dimensions.
func (h *Hybrid) Dim() int { return h.dim }

// Fingerprint is a short hash of Description: it changes with any encoder's fingerprint
// (model contents, output, preprocessing, reduction), any weight and any catalog view (not
// with query views, which change no stored photo vector).
func (h *Hybrid) Fingerprint() string { return h.fingerprint }

// Description is the readable text Fingerprint hashes, for logs.
func (h *Hybrid) Description() string { return h.description }

// Close releases the hybrid's encoders. Embedding afterwards returns ErrClosed.
func (h *Hybrid) Close() error {
	var errs []error
	h.closeOnce.Do(func() {
		h.closed.Store(true)
		for _, p := range h.parts {
			errs = append(errs, p.part.Close())
		}
	})
	return errors.Join(errs...)
}

// EmbedCatalog embeds a product image: its own vector first, then one per catalog view, all
// in one call per encoder.
func (h *Hybrid) EmbedCatalog(img image.Image) ([][]float32, error) {
	m, err := toRGB(img)
	if err != nil {
		return nil, fmt.Errorf("models: catalog image: %w", err)
	}
	items := make([]*rgbImage, 0, 1+len(h.catalogViews))
	items = append(items, m)
	for _, v := range h.catalogViews {
		items = append(items, v.apply(m))
	}
	return h.embed(items)
}

// EmbedQueries embeds crops to recognise, one vector each. All crops and all their views go
// through each encoder in one batch (one ONNX Runtime call per encoder): the caller bounds the
// batch (a 224-pixel input takes 0.6 MB per image and view).
func (h *Hybrid) EmbedQueries(imgs []image.Image) ([][]float32, error) {
	if len(imgs) == 0 {
		return nil, nil
	}
	per := 1 + len(h.queryViews)
	items := make([]*rgbImage, len(imgs)*per)
	err := parallelFor(len(imgs), func(i int) error {
		m, err := toRGB(imgs[i])
		if err != nil {
			return err
		}
		items[i*per] = m
		for j, v := range h.queryViews {
			items[i*per+1+j] = v.apply(m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("models: query %w", err)
	}
	vecs, err := h.embed(items)
	if err != nil {
		return nil, err
	}
	if per == 1 {
		return vecs, nil
	}
	out := make([][]float32, len(imgs))
	for i := range out {
		mean := make([]float32, h.dim)
		for _, v := range vecs[i*per : (i+1)*per] {
			for j, x := range v {
				mean[j] += x
			}
		}
		l2Normalize(mean)
		out[i] = mean
	}
	return out, nil
}

// embed runs every item through every encoder and combines the results.
func (h *Hybrid) embed(items []*rgbImage) ([][]float32, error) {
	if h.closed.Load() {
		return nil, ErrClosed
	}
	results := make([][][]float32, len(h.parts))
	errs := make([]error, len(h.parts))
	// ONNX encoders run concurrently when there are several (DINOv2 + CLIP: the slower one
	// sets the latency instead of the sum); the cheap built-ins run inline.
	var wg sync.WaitGroup
	group := callerGroup() // the other encoders join the caller's priority group too
	nONNX := 0
	for _, p := range h.parts {
		if p.onnx {
			nONNX++
		}
	}
	for i, p := range h.parts {
		if p.onnx && nONNX > 1 {
			wg.Go(func() { group.run(func() { results[i], errs[i] = p.part.embedRGB(items) }) })
		} else {
			results[i], errs[i] = p.part.embedRGB(items)
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make([][]float32, len(items))
	slab := make([]float32, len(items)*h.dim)
	for j := range out {
		v := slab[j*h.dim : (j+1)*h.dim : (j+1)*h.dim]
		off := 0
		for i, p := range h.parts {
			if len(results[i]) != len(items) {
				return nil, fmt.Errorf("models: %s returned %d vectors for %d images", p.part.Fingerprint(), len(results[i]), len(items))
			}
			src := results[i][j]
			if len(src) != p.part.Dim() {
				return nil, fmt.Errorf("models: %s returned %d values, want %d", p.part.Fingerprint(), len(src), p.part.Dim())
			}
			combineInto(v[off:off+len(src)], src, p.weight)
			off += len(src)
		}
		l2Normalize(v)
		out[j] = v
	}
	return out, nil
}

// combineInto writes weight * src / |src| into dst.
func combineInto(dst, src []float32, weight float64) {
	s := 0.0
	for _, x := range src {
		s += float64(x) * float64(x)
	}
	scale := 0.0
	if s > 0 {
		scale = weight / math.Sqrt(s)
	}
	for i, x := range src {
		dst[i] = float32(float64(x) * scale)
	}
}
