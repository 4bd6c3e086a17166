// Package match is ebrcs_match: it finds which catalog product an embedded crop is.
//
// On frames carrying an embedding (from ebrcs_embed), it searches the shared catalog of its
// data directory (package data: SQLite + FAISS, shared with the admin API, so a product
// registered a moment ago is found on the very next frame) for the top-k products and writes
// Frame.Match: the best product, its cosine score, whether the score reaches the threshold
// (Known; otherwise the object is "unknown") and the candidates for display. The threshold
// defaults to the one calibrated for the embedder's configuration. A vector from another
// embedder than the catalog's is an error, never a silent wrong answer.
package match

import (
	"fmt"
	"sync/atomic"

	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/internal/metrics"
	"github.com/ebrcs/ebrcs/models"
	"github.com/ebrcs/ebrcs/recognition"
)

// The element's factory name, its properties, and defaults.
const (
	Name          = "ebrcs_match"
	PropCatalog   = "catalog"
	PropEmbedder  = "embedder"
	PropModelDir  = "model-dir"
	PropThreshold = "threshold"
	PropTopK      = "top-k"
	PropMatches   = "matches"
	PropKnown     = "known"
	// DefaultCatalog is the catalog's data directory unless a pipeline says otherwise.
	DefaultCatalog = "var/catalog"
)

// The optional interfaces of goelement that Match implements: a renamed method fails to
// compile here instead of being silently skipped by the framework.
var (
	_ goelement.Starter        = (*Match)(nil)
	_ goelement.Stopper        = (*Match)(nil)
	_ goelement.PropertyReader = (*Match)(nil)
)

// Element is the ebrcs_match definition.
var Element = &goelement.Definition[*Match]{
	Info: goelement.Info{
		Name:           Name,
		LongName:       "EBRCS catalog matcher",
		Classification: "Filter/Analyzer/Video",
		Description:    "Matches the frame's embedding against the product catalog (FAISS) and attaches the best products",
		Caps:           "video/x-raw",
		Access:         goelement.NoPixels,
		Properties: []goelement.Property{
			{Name: PropCatalog, Kind: goelement.String, Default: DefaultCatalog,
				Doc: "Data directory of the catalog (catalog.db and its index)"},
			{Name: PropEmbedder, Kind: goelement.String, Default: "",
				Doc: "Embedder configuration file, the same as ebrcs_embed's; empty: the built-in default"},
			{Name: PropModelDir, Kind: goelement.String, Default: models.DefaultDir,
				Doc: "Directory that relative model paths in the embedder configuration are resolved in"},
			{Name: PropThreshold, Kind: goelement.Double, Default: -1.0, Min: -1, Max: 1, Mutable: true,
				Doc: "Cosine score from which the best product is accepted; -1: the threshold calibrated for the embedder"},
			{Name: PropTopK, Kind: goelement.Int, Default: 5, Min: 1, Max: 100, Mutable: true,
				Doc: "Candidate products kept for display"},
			{Name: PropMatches, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Embeddings matched since the element started"},
			{Name: PropKnown, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Matches whose best product reached the threshold"},
		},
	},
	New: func(props *goelement.Props) *Match { return &Match{props: props} },
}

// Match is one ebrcs_match instance.
type Match struct {
	props   *goelement.Props
	emb     *recognition.Embedder
	cat     *data.Catalog
	matches atomic.Int64
	known   atomic.Int64
}

// Start opens (or joins) the shared embedder and catalog.
func (m *Match) Start() error {
	emb, err := recognition.OpenEmbedder(m.props.String(PropEmbedder), m.props.String(PropModelDir))
	if err != nil {
		return err
	}
	cat, err := recognition.OpenCatalog(m.props.String(PropCatalog), emb, data.Options{})
	if err != nil {
		return err
	}
	m.emb, m.cat = emb, cat
	return nil
}

// Stop resets the statistics; the shared catalog stays open.
func (m *Match) Stop() {
	m.matches.Store(0)
	m.known.Store(0)
}

// Process implements goelement.Processor.
func (m *Match) Process(b *goelement.Buffer) error {
	up := b.UpstreamMeta()
	if up == nil || up.Embedding == nil {
		return nil
	}
	if up.EmbeddingModel != m.cat.Fingerprint() {
		return fmt.Errorf("the embedding comes from model %.12s but catalog %s uses %.12s: give ebrcs_embed and ebrcs_match the same embedder",
			up.EmbeddingModel, m.props.String(PropCatalog), m.cat.Fingerprint())
	}
	hits, err := m.cat.Search(up.Embedding, m.props.Int(PropTopK))
	if err != nil {
		return err
	}
	threshold := float32(m.props.Double(PropThreshold))
	if threshold < 0 {
		threshold = m.emb.Threshold
	}
	res := &framemeta.Match{Threshold: threshold}
	for _, h := range hits {
		res.Candidates = append(res.Candidates, framemeta.Candidate{ProductID: h.ProductID, Product: h.Name, Score: h.Score})
	}
	if len(hits) > 0 {
		res.ProductID, res.Product, res.Score = hits[0].ProductID, hits[0].Name, hits[0].Score
		res.Known = hits[0].Score >= threshold
	}
	b.Meta().Match = res
	m.matches.Add(1)
	outcome := "unknown"
	if res.Known {
		m.known.Add(1)
		outcome = "known"
	}
	if len(hits) > 0 {
		metrics.MatchScore.WithLabelValues(outcome).Observe(float64(res.Score))
	}
	return nil
}

// ReadProperty implements goelement.PropertyReader.
func (m *Match) ReadProperty(name string) any {
	switch name {
	case PropMatches:
		return m.matches.Load()
	case PropKnown:
		return m.known.Load()
	}
	return nil
}
