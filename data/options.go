package data

import (
	"fmt"
	"log/slog"
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
	// Logger receives progress (re-embedding, rebuilds) and problems that do not fail a call
	// (an index file that could not be written). Default: discard.
	Logger *slog.Logger
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
