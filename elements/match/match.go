// Package match is ebrcs_match: it recognises the object of a visit from every crop of it
// seen so far, and decides what the checkout does with it.
//
// A visit is the stay of one object in the ROI, from the gate's entry until the ROI is free
// again (framemeta.Visits). On every frame that carries an embedding (from ebrcs_embed), the
// element adds the crop's query vector to the visit's (the first `visit-frames`, 16), asks
// the shared catalog of its data directory (package data: SQLite + FAISS, shared with the
// admin API, so that a product registered, or a view learned, a moment ago counts on the very
// next frame) for the evidence of all of them fused (data.Catalog.Recognise: the best
// `top-k` products, the second best's score, the closest "none of these" answer), and
// decides with the embedder's calibrated rules (recognition.Decide): count, ask or unknown.
// Frame.Match carries the verdict, the candidates and the visit's most representative crop
// (the one closest to the visit's mean vector) for ebrcs_counter, which counts, asks or
// reports once per visit, and for ebrcs_overlay. A late recognition (Frame.Late: the vector
// of a visit that gave way to another while it was embedded) is recognised alone, into
// Frame.Late.Match, and leaves the visit in progress as it is; so is one ebrcs_embed sends
// without a frame once the camera stopped (ProcessMeta).
//
// Deciding on the fused evidence of the visit rather than frame by frame is what lets one
// good look outweigh a blurred entry frame, and one decision per visit ask at most one
// question. A vector from another embedder than the catalog's is an error, never a silent
// wrong answer.
package match

import (
	"fmt"
	"image"
	"sync"
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
	Name            = "ebrcs_match"
	PropCatalog     = "catalog"
	PropEmbedder    = "embedder"
	PropModelDir    = "model-dir"
	PropTopK        = "top-k"
	PropVisitFrames = "visit-frames"
	PropMatches     = "matches"
	PropKnown       = "known"
	// DefaultCatalog is the catalog's data directory unless a pipeline says otherwise.
	DefaultCatalog = "var/catalog"
	// DefaultVisitFrames bounds the crops fused per visit: more than the counter needs to
	// decide (it asks after 10 recognitions without a count).
	DefaultVisitFrames = 16
)

// The optional interfaces of goelement that Match implements: a renamed method fails to
// compile here instead of being silently skipped by the framework.
var (
	_ goelement.Starter        = (*Match)(nil)
	_ goelement.Stopper        = (*Match)(nil)
	_ goelement.PropertyReader = (*Match)(nil)
	_ goelement.MetaProcessor  = (*Match)(nil)
)

// Element is the ebrcs_match definition.
var Element = &goelement.Definition[*Match]{
	Info: goelement.Info{
		Name:           Name,
		LongName:       "EBRCS catalog matcher",
		Classification: "Filter/Analyzer/Video",
		Description:    "Recognises the object of a visit from all its crops so far (catalog, FAISS) and decides: count, ask or unknown",
		Caps:           "video/x-raw",
		Access:         goelement.NoPixels,
		Properties: []goelement.Property{
			{Name: PropCatalog, Kind: goelement.String, Default: DefaultCatalog,
				Doc: "Data directory of the catalog (catalog.db and its index)"},
			{Name: PropEmbedder, Kind: goelement.String, Default: "",
				Doc: "Embedder configuration file, the same as ebrcs_embed's (its decision rules apply); empty: the built-in default"},
			{Name: PropModelDir, Kind: goelement.String, Default: models.DefaultDir,
				Doc: "Directory that relative model paths in the embedder configuration are resolved in"},
			{Name: PropTopK, Kind: goelement.Int, Default: 5, Min: 1, Max: 100, Mutable: true,
				Doc: "Candidate products kept (a review offers the first 3)"},
			{Name: PropVisitFrames, Kind: goelement.Int, Default: DefaultVisitFrames, Min: 1, Max: 256, Mutable: true,
				Doc: "Recognised crops of a visit fused into its evidence, the first ones"},
			{Name: PropMatches, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Recognitions made since the element started"},
			{Name: PropKnown, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Recognitions whose visit was decided \"count\""},
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

	// mu guards the stream state: Process runs on the streaming thread, Start and Stop on the
	// application thread.
	mu     sync.Mutex
	visits framemeta.Visits
	visit  visit
}

// visit is what the element has seen of the object of the current visit.
type visit struct {
	queries [][]float32 // the query vectors fused, in order
	sum     []float64   // their sum
	// crop is the crop whose vector is closest to the visit's mean, best its vector.
	crop *image.RGBA
	best []float32
	// verdict is the latest Match of the visit.
	verdict *framemeta.Match
}

// add fuses one more crop into the visit, and keeps it if it represents the visit better
// than the one kept so far.
func (v *visit) add(q []float32, crop *image.RGBA) {
	v.queries = append(v.queries, q)
	if v.sum == nil {
		v.sum = make([]float64, len(q))
	}
	for i, x := range q {
		v.sum[i] += float64(x)
	}
	if crop == nil {
		return
	}
	if v.crop == nil || dot(q, v.sum) >= dot(v.best, v.sum) {
		v.crop, v.best = crop, q
	}
}

func dot(a []float32, b []float64) float64 {
	var s float64
	for i, x := range a {
		s += float64(x) * b[i]
	}
	return s
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
	m.mu.Lock()
	m.visits, m.visit = framemeta.Visits{}, visit{}
	m.mu.Unlock()
	return nil
}

// Stop forgets the stream and resets the statistics; the shared catalog stays open.
func (m *Match) Stop() {
	m.mu.Lock()
	m.visits, m.visit = framemeta.Visits{}, visit{}
	m.mu.Unlock()
	m.matches.Store(0)
	m.known.Store(0)
}

// Process implements goelement.Processor.
func (m *Match) Process(b *goelement.Buffer) error {
	up := b.UpstreamMeta()
	if up == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ended, started := m.visits.Step(up.Gate); ended || started {
		m.visit = visit{}
	}
	if err := m.recogniseLate(up.Late); err != nil {
		return err
	}
	if up.Embedding == nil {
		if m.visits.Active() && m.visit.verdict != nil {
			b.Meta().Verdict = m.visit.verdict
		}
		return nil
	}
	if err := m.checkModel(up.EmbeddingModel); err != nil {
		return err
	}
	if !m.visits.Active() {
		m.visit = visit{} // a recognition outside any visit stands alone
	}
	if len(m.visit.queries) < m.props.Int(PropVisitFrames) {
		m.visit.add(up.Embedding, up.CropImage)
	}
	res, err := m.recognise(&m.visit)
	if err != nil {
		return err
	}
	b.Meta().Match, b.Meta().Verdict = res, res
	m.visit.verdict = res
	return nil
}

// ProcessMeta implements goelement.MetaProcessor: a late recognition ebrcs_embed sent
// without a frame (the camera stopped) is recognised as one on a frame would be.
func (m *Match) ProcessMeta(f *framemeta.Frame) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.recogniseLate(f.Late)
}

// recogniseLate recognises an earlier visit's crop alone, into late.Match; the visit in
// progress is untouched (m.mu held).
func (m *Match) recogniseLate(late *framemeta.LateRecognition) error {
	if late == nil {
		return nil
	}
	if err := m.checkModel(late.EmbeddingModel); err != nil {
		return err
	}
	one := visit{}
	one.add(late.Embedding, late.CropImage)
	res, err := m.recognise(&one)
	if err != nil {
		return err
	}
	late.Match = res
	return nil
}

// checkModel refuses a vector of another model than the catalog's.
func (m *Match) checkModel(model string) error {
	if model != m.cat.Fingerprint() {
		return fmt.Errorf("the embedding comes from model %.12s but catalog %s uses %.12s: give ebrcs_embed and ebrcs_match the same embedder",
			model, m.props.String(PropCatalog), m.cat.Fingerprint())
	}
	return nil
}

// recognise decides about a visit from the crops it fused (m.mu held).
func (m *Match) recognise(v *visit) (*framemeta.Match, error) {
	ev, err := m.cat.Recognise(v.queries, m.props.Int(PropTopK))
	if err != nil {
		return nil, err
	}
	decision := recognition.Decide(ev, m.emb.Rules)
	res := &framemeta.Match{Second: ev.Second, None: ev.None, Decision: framemeta.Decision(decision),
		Known: decision == recognition.DecisionCount, Frames: len(v.queries), Crop: v.crop}
	for _, h := range ev.Hits {
		res.Candidates = append(res.Candidates, framemeta.Candidate{ProductID: h.ProductID, Product: h.Name, Score: h.Score})
	}
	if len(ev.Hits) > 0 {
		res.ProductID, res.Product, res.Score = ev.Hits[0].ProductID, ev.Hits[0].Name, ev.Hits[0].Score
		metrics.MatchScore.WithLabelValues(string(decision)).Observe(float64(res.Score))
	}
	m.matches.Add(1)
	if res.Known {
		m.known.Add(1)
	}
	return res, nil
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
