package data

import (
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Index kinds accepted by Options.Index.
const (
	// IndexFlat is exact search (FAISS IndexFlatIP under an IDMap): every query compares
	// against every vector. Exact and cheap to update, linear in the catalog size.
	IndexFlat = "flat"
	// IndexHNSW is approximate search on a FAISS HNSW graph (inner product): sub-linear, but
	// building it is slow and it cannot delete vectors (see RemoveProduct).
	IndexHNSW = "hnsw"
	// IndexAuto picks flat below Options.HNSWThreshold vectors and HNSW at or above it.
	IndexAuto = "auto"
)

// Defaults for the zero values of Options.
const (
	// DefaultMaxImages is the original system's limit of images per product.
	DefaultMaxImages = 3
	// DefaultMaxPixels bounds the decoded size of one image (40 MP is a large phone photo;
	// decoding it takes ~160 MB as RGBA). Checked from the header before decoding.
	DefaultMaxPixels = 40_000_000
	// DefaultMaxImageBytes bounds the encoded size of one image, since the bytes are stored
	// in SQLite and read back on every re-embedding.
	DefaultMaxImageBytes = 32 << 20
	// DefaultHNSWThreshold: below it, exact search is affordable and always right; above it
	// HNSW's speed is needed. Exact search is linear: at dimension 1280 on one core of the
	// 2-core development machine it measured 6 ms per query at 10k vectors and 58 ms at 100k
	// (Debian's FAISS has no AVX2 kernels), so a store with many checkout pipelines on small
	// hardware may want a lower threshold, at the price of HNSW's slow build (see the
	// package benchmarks).
	DefaultHNSWThreshold = 200_000
	// DefaultHNSWM is the number of graph neighbours per HNSW node (FAISS "HNSW32").
	DefaultHNSWM = 32
	// DefaultEfSearch is HNSW's search beam width: higher is slower and closer to exact.
	DefaultEfSearch = 64
)

// Options configure a Catalog. The zero value of every field means its default.
type Options struct {
	// MaxImages per product (default DefaultMaxImages).
	MaxImages int
	// MaxPixels per image, width×height, checked before decoding (default DefaultMaxPixels).
	MaxPixels int
	// MaxImageBytes per encoded image (default DefaultMaxImageBytes).
	MaxImageBytes int
	// Index is IndexFlat, IndexHNSW or IndexAuto (default IndexAuto).
	Index string
	// HNSWThreshold: in IndexAuto mode, the number of vectors from which HNSW is used
	// (default DefaultHNSWThreshold).
	HNSWThreshold int
	// HNSWM: HNSW graph degree (default DefaultHNSWM).
	HNSWM int
	// EfSearch: HNSW search beam width (default DefaultEfSearch).
	EfSearch int
	// Match is MatchPrototype (default) or MatchNearest: how Search scores a product.
	Match string
	// MaxLearnedViews per product (default DefaultMaxLearnedViews): beyond it, the oldest
	// learned view of the product goes.
	MaxLearnedViews int
	// MaxNoneViews is the size of the "none" memory (default DefaultMaxNoneViews): beyond it,
	// the oldest "none" answer goes.
	MaxNoneViews int
	// Adapt configures catalog-adapted matching (Recognise).
	Adapt AdaptOptions
	// RecordURL, when set (postgres://...), makes that PostgreSQL database the catalog of
	// record, shared by every node: the data directory then holds this node's replica of it,
	// which Search and Recognise run from (see record.go and replica.go).
	RecordURL string
	// Logger receives progress (re-embedding, rebuilds) and problems that do not fail a call
	// (an index file that could not be written). Default: discard.
	Logger *slog.Logger
}

// Defaults of AdaptOptions and of the learning limits, measured on the GroceryStore train and
// val photos with the default embedder (see the recognition issue's notes and README).
const (
	// DefaultAlpha: the share of the within-class covariance replaced by its mean variance
	// (shrinkage). 0.1–0.3 measured alike; 0 is singular below 1280 vectors.
	DefaultAlpha = 0.2
	// DefaultMinProducts: with fewer products the catalog's own mean is a poor centre (one
	// product's prototype is then zero, two are antipodal) and Recognise scores by cosine.
	// On the val photos, adapted matching decided 11% of known products "unknown" at 2
	// products, 4% at 3 and 3–5% from 4, against 1–2% for the cosine rules; from 4 products
	// on it counts more of them right (67% against 55% at 4, 64% against 43% at 10).
	DefaultMinProducts = 4
	// DefaultLearnedWeight: a learned view weighs as much as two catalog photos in its
	// product's prototype (one photo weighs 1 whatever its number of views).
	DefaultLearnedWeight = 2
	// DefaultRefitEvery: learned views (added or removed) between two refits.
	DefaultRefitEvery = 50
	// DefaultRefitDelay: a refit after product changes waits for this much quiet (a bulk
	// import refits once), but never more than DefaultRefitMaxDelay after the first change.
	DefaultRefitDelay    = 2 * time.Second
	DefaultRefitMaxDelay = 30 * time.Second
	// DefaultMaxLearnedViews per product, oldest out.
	DefaultMaxLearnedViews = 50
	// DefaultMaxNoneViews in the "none" memory, oldest out.
	DefaultMaxNoneViews = 2000
)

// AdaptOptions configure catalog-adapted matching: the projection that Recognise scores in,
// fitted on the catalog's own vectors (see adapt.go). The zero value of every field means its
// default.
type AdaptOptions struct {
	// Off: never adapt; Recognise scores by cosine with the products' prototypes (for an
	// embedder whose adapted decision rules were never calibrated).
	Off bool
	// Alpha is the shrinkage of the within-class covariance, in (0, 1] (default DefaultAlpha).
	Alpha float64
	// MinProducts: below it, Recognise scores by cosine (default DefaultMinProducts).
	MinProducts int
	// LearnedWeight: the weight of a learned view in its product's prototype, a catalog
	// photo weighing 1 (default DefaultLearnedWeight).
	LearnedWeight float64
	// RefitEvery: learned views added or removed between refits (default DefaultRefitEvery).
	RefitEvery int
	// RefitDelay and RefitMaxDelay: the quiet after a product change before a refit, and the
	// most a refit waits after the first change (defaults DefaultRefitDelay and
	// DefaultRefitMaxDelay).
	RefitDelay, RefitMaxDelay time.Duration
	// ClearNone and ClearNoneCosine: when a product is registered, or given photos that bring
	// it closer, a "none" answer whose nearest product it becomes, with at least this score
	// (adapted, or cosine below MinProducts), is dropped from the none memory: it was most
	// likely that product, which was not in the catalog (or its photos) yet, and would
	// otherwise block it. Defaults: the default embedder's count thresholds, 0.40 and 0.84.
	ClearNone, ClearNoneCosine float32
}

// withDefaults returns o with zero values replaced by defaults, or an error for values that
// cannot be meant (negative sizes, an unknown index kind).
func (o Options) withDefaults() (Options, error) {
	if o.MaxImages == 0 {
		o.MaxImages = DefaultMaxImages
	}
	if o.MaxPixels == 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.MaxImageBytes == 0 {
		o.MaxImageBytes = DefaultMaxImageBytes
	}
	if o.Match == "" {
		o.Match = MatchPrototype
	}
	if o.Match != MatchPrototype && o.Match != MatchNearest {
		return o, fmt.Errorf("data: Options.Match %q: want %q or %q", o.Match, MatchPrototype, MatchNearest)
	}
	if o.Index == "" {
		o.Index = IndexAuto
	}
	if o.HNSWThreshold == 0 {
		o.HNSWThreshold = DefaultHNSWThreshold
	}
	if o.HNSWM == 0 {
		o.HNSWM = DefaultHNSWM
	}
	if o.EfSearch == 0 {
		o.EfSearch = DefaultEfSearch
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxLearnedViews == 0 {
		o.MaxLearnedViews = DefaultMaxLearnedViews
	}
	if o.MaxNoneViews == 0 {
		o.MaxNoneViews = DefaultMaxNoneViews
	}
	a := &o.Adapt
	if a.Alpha == 0 {
		a.Alpha = DefaultAlpha
	}
	if a.MinProducts == 0 {
		a.MinProducts = DefaultMinProducts
	}
	if a.LearnedWeight == 0 {
		a.LearnedWeight = DefaultLearnedWeight
	}
	if a.RefitEvery == 0 {
		a.RefitEvery = DefaultRefitEvery
	}
	if a.RefitDelay == 0 {
		a.RefitDelay = DefaultRefitDelay
	}
	if a.RefitMaxDelay == 0 {
		a.RefitMaxDelay = DefaultRefitMaxDelay
	}
	if a.ClearNone == 0 {
		a.ClearNone = 0.40
	}
	if a.ClearNoneCosine == 0 {
		a.ClearNoneCosine = 0.84
	}
	if a.Alpha < 0 || a.Alpha > 1 || math.IsNaN(a.Alpha) {
		return o, fmt.Errorf("data: Options.Adapt.Alpha %v out of range (0, 1]", a.Alpha)
	}
	if a.LearnedWeight < 0 || math.IsNaN(a.LearnedWeight) || math.IsInf(a.LearnedWeight, 0) {
		return o, fmt.Errorf("data: Options.Adapt.LearnedWeight %v must be positive", a.LearnedWeight)
	}
	if a.MinProducts < 1 {
		a.MinProducts = 1
	}
	switch o.Index {
	case IndexFlat, IndexHNSW, IndexAuto:
	default:
		return o, fmt.Errorf("data: Options.Index %q: want %q, %q or %q", o.Index, IndexFlat, IndexHNSW, IndexAuto)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxImages", o.MaxImages}, {"MaxPixels", o.MaxPixels}, {"MaxImageBytes", o.MaxImageBytes},
		{"HNSWThreshold", o.HNSWThreshold}, {"HNSWM", o.HNSWM}, {"EfSearch", o.EfSearch},
		{"MaxLearnedViews", o.MaxLearnedViews}, {"MaxNoneViews", o.MaxNoneViews}, {"Adapt.RefitEvery", o.Adapt.RefitEvery},
		{"Adapt.RefitDelay", int(o.Adapt.RefitDelay)}, {"Adapt.RefitMaxDelay", int(o.Adapt.RefitMaxDelay)},
	} {
		if f.v < 0 {
			return o, fmt.Errorf("data: Options.%s is negative (%d)", f.name, f.v)
		}
	}
	if o.HNSWM < 2 || o.HNSWM > 256 {
		return o, fmt.Errorf("data: Options.HNSWM %d out of range 2..256", o.HNSWM)
	}
	return o, nil
}
