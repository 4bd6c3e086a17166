// Package recognition wires the embedding models (package models) and the catalog (package
// data) into the shared services the pipeline elements and the server use.
//
// The encoders and catalogs are expensive (an ONNX Runtime session, an index in memory) and
// must be shared: one session per encoder for every pipeline, and one catalog per data
// directory, so that a product registered through the admin API is recognisable at once by
// every running pipeline. The registry here hands out those process-wide instances, keyed by
// what identifies them; they live until CloseAll (at shutdown).
package recognition

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/models"
)

// EmbedderConfig is an embedder configuration file (configs/embedders/*.yaml): the hybrid's
// recipe plus the match threshold and decision rules calibrated for it.
type EmbedderConfig struct {
	models.HybridConfig `yaml:",inline"`
	// Threshold is the cosine similarity from which a crop is taken to be its best product,
	// calibrated for this embedding (vectors of different models are not comparable, nor are
	// their scores). It applies to data.Catalog.Search's raw cosine scores.
	Threshold float64 `yaml:"threshold"`
	// Rules decide a visit from data.Catalog.Recognise's evidence (see Decide). Without
	// adapted rules, the catalog is not adapted for this embedder and scores by cosine.
	Rules Rules `yaml:"rules"`
}

// Embedder is a shared embedder: the hybrid model, its calibrated threshold and decision
// rules, and a batcher that coalesces crops arriving at the same moment from several
// pipelines.
type Embedder struct {
	*models.Hybrid
	Threshold float32
	Rules     Rules
	Batcher   *models.Batcher
	Source    string // the file it came from, or "default"
}

// EmbedQuery embeds a crop to recognise: the crop and its query views, averaged, in one
// batched run of the shared batcher (with whatever crops other pipelines submit at the same
// moment). The vector is what data.Catalog.Recognise takes. It returns models.ErrQueueFull
// at once when the batcher's queue is full.
func (e *Embedder) EmbedQuery(img image.Image) ([]float32, error) {
	return e.Batcher.Embed(img)
}

// EmbedQueryContext is EmbedQuery that stops waiting when ctx is done.
func (e *Embedder) EmbedQueryContext(ctx context.Context, img image.Image) ([]float32, error) {
	return e.Batcher.EmbedContext(ctx, img)
}

// CatalogOptions completes a catalog's options for this embedder: adapted matching only when
// its adapted rules were calibrated, and "none" answers cleared from the count thresholds.
func (e *Embedder) CatalogOptions(opts data.Options) data.Options {
	if !e.Rules.adapts() {
		opts.Adapt.Off = true
	}
	if opts.Adapt.ClearNone == 0 {
		opts.Adapt.ClearNone = e.Rules.Adapted.Count
	}
	if opts.Adapt.ClearNoneCosine == 0 {
		opts.Adapt.ClearNoneCosine = e.Rules.Cosine.Count
	}
	return opts
}

// recognitionNice is how many nice levels the embedders' worker threads (and the helpers
// preparing their batches) run below the live video (decode, analysis, overlay, encode), so
// that sessions showing products at the same moment slow recognition rather than every
// session's returned video. Measured with 16 sessions in step (web: BenchmarkLiveSessions),
// once the Go runtime had more processors than cores (internal/cores): client p95 126–132 ms
// at 5, 106–113 at 10, 105–107 at 19, every count exact and entry → count p95 about 2 s at
// each. 19 leaves recognition almost nothing when the machine is saturated: with a profiler
// running as well, visits ended before their vectors came and 0 of 16 carts were right; at 10
// all 16 were.
const recognitionNice = 10

// recognitionUrgentAfter: a crop that has waited this long is recognised at the video's own
// priority. A lowered recognition takes only the CPU the video leaves; when the machine has
// none left (16 sessions in step on 2 cores while the host was slow), the vectors came after
// the next visits had started and most carts missed a product. After a second the video
// yields instead: a few frames dropped (counted) rather than a product not counted.
const recognitionUrgentAfter = time.Second

var (
	mu        sync.Mutex
	embedders = map[string]*Embedder{}
	catalogs  = map[string]*sharedCatalog{}
)

type sharedCatalog struct {
	cat         *data.Catalog
	fingerprint string
}

// LoadEmbedderConfig reads an embedder configuration file; "" is the built-in default.
func LoadEmbedderConfig(path, modelDir string) (EmbedderConfig, error) {
	if path == "" {
		return DefaultEmbedderConfig(modelDir), nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return EmbedderConfig{}, err
	}
	var cfg EmbedderConfig
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return EmbedderConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(cfg.Encoders) == 0 {
		return EmbedderConfig{}, fmt.Errorf("%s: no encoders", path)
	}
	if cfg.Threshold <= 0 || cfg.Threshold > 1 {
		return EmbedderConfig{}, fmt.Errorf("%s: threshold must be in (0, 1], got %v", path, cfg.Threshold)
	}
	if cfg.Rules.Cosine == (Thresholds{}) {
		// Today's rule: count from the threshold, no ask band.
		t := float32(cfg.Threshold)
		cfg.Rules.Cosine = Thresholds{Count: t, Unknown: t}
	}
	if err := cfg.Rules.validate(); err != nil {
		return EmbedderConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// OpenEmbedder returns the shared embedder of a configuration file ("" = default) whose
// relative model paths are resolved in modelDir.
func OpenEmbedder(path, modelDir string) (*Embedder, error) {
	cfg, err := LoadEmbedderConfig(path, modelDir)
	if err != nil {
		return nil, err
	}
	absDir, _ := filepath.Abs(modelDir)
	key := fmt.Sprintf("%x", sha256.Sum256([]byte(fmt.Sprintf("%s\x00%#v", absDir, cfg))))
	mu.Lock()
	defer mu.Unlock()
	if e := embedders[key]; e != nil {
		return e, nil
	}
	h, err := models.NewHybrid(cfg.HybridConfig, modelDir)
	if err != nil {
		return nil, err
	}
	source := path
	if source == "" {
		source = "default"
	}
	e := &Embedder{
		Hybrid:    h,
		Threshold: float32(cfg.Threshold),
		Rules:     cfg.Rules,
		// Two workers: on this 2-core class of machine a single-threaded session costs the
		// same per crop at any batch size, so two crops at once go faster on two cores
		// than one batch of two (models.BenchmarkConcurrentCrops).
		Batcher: models.NewBatcher(h.EmbedQueries, models.BatcherConfig{Workers: 2, Nice: recognitionNice, UrgentAfter: recognitionUrgentAfter}),
		Source:  source,
	}
	embedders[key] = e
	return e, nil
}

// OpenCatalog returns the shared catalog of a data directory, opened with emb. A directory
// already open with a different embedder is an error: its vectors would not be comparable.
func OpenCatalog(dir string, emb *Embedder, opts data.Options) (*data.Catalog, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	if sc := catalogs[abs]; sc != nil {
		if sc.fingerprint != emb.Fingerprint() {
			return nil, fmt.Errorf("catalog %s is open with embedder %s, not %s", dir, short(sc.fingerprint), short(emb.Fingerprint()))
		}
		return sc.cat, nil
	}
	cat, err := data.Open(abs, emb.Hybrid, emb.CatalogOptions(opts))
	if err != nil {
		return nil, err
	}
	catalogs[abs] = &sharedCatalog{cat: cat, fingerprint: emb.Fingerprint()}
	return cat, nil
}

// CloseAll closes every shared catalog and embedder (at shutdown, and between tests).
func CloseAll() {
	mu.Lock()
	defer mu.Unlock()
	for k, sc := range catalogs {
		sc.cat.Close()
		delete(catalogs, k)
	}
	for k, e := range embedders {
		e.Batcher.Close()
		e.Hybrid.Close()
		delete(embedders, k)
	}
}

func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}
