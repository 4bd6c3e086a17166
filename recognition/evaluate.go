package recognition

import (
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ebrcs/ebrcs/data"
)

// Progress is told how far a long step has gone (a progress bar).
type Progress interface {
	Add(n int)
	Finish()
}

// noProgress is the Progress of a step nobody watches.
type noProgress struct{}

func (noProgress) Add(int) {}
func (noProgress) Finish() {}

// EvalOptions say what Evaluate measures.
type EvalOptions struct {
	// CatalogDir and QueriesDir hold labelled images, DIR/<product name>/*.jpg: the catalog is
	// built from the first, the second is recognised against it.
	CatalogDir, QueriesDir string
	// Embedder is the embedder configuration file ("": the built-in default), its relative
	// model paths resolved in ModelDir.
	Embedder, ModelDir string
	// Threshold is the match threshold evaluated; negative: the embedder's count threshold in
	// the catalog's score space.
	Threshold float64
	// Holdout leaves every Holdout-th query product out of the catalog, to measure false
	// accepts (0: none).
	Holdout int
	// Online also runs the online evaluation (see EvaluateOnline) once per seed in Seeds
	// (default: seed 1), each on a fresh copy of the catalog.
	Online bool
	Seeds  []uint64
	// ReportDir, when set, receives a confusion matrix, score histograms and the ask rate
	// against the silent error rate (WriteReport).
	ReportDir string
	// NewProgress shows the progress of one step ("catalog", "queries") of total items; nil:
	// not shown.
	NewProgress func(what string, total int) Progress
}

// Evaluation is the result of Evaluate (what `ebrcs eval --json` prints): the static run
// (every query recognised against the catalog as built), its decisions at the embedder's
// rules, and the online run's when asked for.
type Evaluation struct {
	*Report
	Calibrated      float32 `json:"calibrated_threshold"`
	CalibratedAcc   float64 `json:"calibrated_accuracy"`
	CalibratedFAR   float64 `json:"calibrated_false_accept_rate"`
	CatalogProducts int     `json:"catalog_products"`
	CatalogVectors  int     `json:"catalog_vectors"`
	Embedder        string  `json:"embedder"`
	// Adapted: the catalog scored in its adapted space (false: cosine).
	Adapted bool `json:"adapted"`
	// The static run's decisions at the embedder's rules.
	Rates
	// Online is the online run (the mean over seeds when there are several); OnlineSeeds
	// each seed's, when there are several.
	Online      *OnlineResult  `json:"online,omitempty"`
	OnlineSeeds []OnlineResult `json:"online_seeds,omitempty"`
	Seconds     float64        `json:"seconds"`
}

// evalBatch is how many queries are embedded in one call.
const evalBatch = 16

// Evaluate measures recognition: it builds a temporary catalog from the catalog images (less
// the held-out products) and fits its projection; then, statically, recognises every query
// image against it and summarises the outcomes at the threshold (with the threshold that
// would have been best on these queries) and the decisions at the embedder's rules; then,
// with Online, runs the online evaluation on fresh copies of the catalog. It opens the shared
// embedder (CloseAll releases it).
func Evaluate(opts EvalOptions) (*Evaluation, error) {
	start := time.Now()
	catImages, catNames, err := LabeledImages(opts.CatalogDir)
	if err != nil {
		return nil, err
	}
	queryImages, queryNames, err := LabeledImages(opts.QueriesDir)
	if err != nil {
		return nil, err
	}
	emb, err := OpenEmbedder(opts.Embedder, opts.ModelDir)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "ebrcs-eval-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	pristine := filepath.Join(tmp, "catalog")
	cat, err := openEvalCatalog(pristine, emb)
	if err != nil {
		return nil, err
	}
	defer func() { cat.Close() }()
	held := heldOut(queryNames, opts.Holdout)
	ids, err := addEvalProducts(cat, catImages, catNames, held, opts.progress("catalog", len(catNames)))
	if err != nil {
		return nil, err
	}
	if err := cat.Refit(); err != nil {
		return nil, err
	}
	queries := labelledQueries(queryImages, queryNames)
	vecs, err := embedQueries(emb, queries, opts.progress("queries", len(queries)))
	if err != nil {
		return nil, err
	}
	outcomes, err := recogniseStatic(cat, emb.Rules, queries, vecs, ids)
	if err != nil {
		return nil, err
	}
	adapted := cat.Stats().Adapted
	threshold := emb.Rules.For(adapted).Count
	if opts.Threshold >= 0 {
		threshold = float32(opts.Threshold)
	}
	ev := summariseEval(outcomes, threshold)
	ev.Adapted, ev.Report.Adapted = adapted, adapted
	ev.Rates = DecisionRates(outcomes)
	ev.CatalogProducts, ev.CatalogVectors, ev.Embedder = len(ids), cat.Len(), emb.Source

	if opts.Online {
		if err := cat.Close(); err != nil {
			return nil, err
		}
		seeds := opts.Seeds
		if len(seeds) == 0 {
			seeds = []uint64{1}
		}
		for i, seed := range seeds {
			dir := filepath.Join(tmp, fmt.Sprintf("online-%d", i))
			if cat, err = copyCatalog(pristine, dir, emb); err != nil {
				return nil, err
			}
			res, err := EvaluateOnline(cat, emb.Rules, queries, vecs, ids, seed, opts.progress(fmt.Sprintf("online, seed %d", seed), len(queries)))
			if err != nil {
				return nil, err
			}
			ev.OnlineSeeds = append(ev.OnlineSeeds, *res)
			if err := cat.Close(); err != nil {
				return nil, err
			}
		}
		ev.Online = meanOnline(ev.OnlineSeeds)
		if len(seeds) == 1 {
			ev.OnlineSeeds = nil
		}
	}
	ev.Seconds = time.Since(start).Seconds()
	if opts.ReportDir != "" {
		if err := WriteReport(opts.ReportDir, ev); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// openEvalCatalog opens an empty catalog for emb in dir, with room for every photo of a
// product.
func openEvalCatalog(dir string, emb *Embedder) (*data.Catalog, error) {
	return data.Open(dir, emb.Hybrid, emb.CatalogOptions(data.Options{MaxImages: 1000}))
}

// copyCatalog copies a closed catalog's directory (database, index, statistics) to dir and
// opens the copy: an online run learns into it, and the next run starts from the same
// catalog without embedding it again.
func copyCatalog(from, dir string, emb *Embedder) (*data.Catalog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(from, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return nil, err
		}
	}
	return openEvalCatalog(dir, emb)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (o *EvalOptions) progress(what string, total int) Progress {
	if o.NewProgress == nil {
		return noProgress{}
	}
	return o.NewProgress(what, total)
}

// heldOut picks every n-th product name (0: none).
func heldOut(names []string, n int) map[string]bool {
	held := map[string]bool{}
	if n > 0 {
		for i, name := range names {
			if i%n == 0 {
				held[name] = true
			}
		}
	}
	return held
}

// addEvalProducts registers each product not held out with its images, and returns the ids
// of those in the catalog, by name.
func addEvalProducts(cat *data.Catalog, images map[string][]string, names []string, held map[string]bool, bar Progress) (map[string]int64, error) {
	ids := map[string]int64{}
	for _, name := range names {
		bar.Add(1)
		if held[name] {
			continue
		}
		var imgs [][]byte
		for _, p := range images[name] {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, b)
		}
		p, err := cat.AddProduct(data.NewProduct{Name: name, Images: imgs})
		if err != nil {
			return nil, fmt.Errorf("catalog %s: %w", name, err)
		}
		ids[name] = p.ID
	}
	bar.Finish()
	return ids, nil
}

// labelledQuery is one query image and its true product.
type labelledQuery struct {
	label, path string
}

func labelledQueries(images map[string][]string, names []string) []labelledQuery {
	var all []labelledQuery
	for _, name := range names {
		for _, p := range images[name] {
			all = append(all, labelledQuery{name, p})
		}
	}
	return all
}

// embedQueries embeds the queries in batches, as the recogniser embeds crops (query views
// included).
func embedQueries(emb *Embedder, queries []labelledQuery, bar Progress) ([][]float32, error) {
	vecs := make([][]float32, 0, len(queries))
	for i := 0; i < len(queries); i += evalBatch {
		chunk := queries[i:min(i+evalBatch, len(queries))]
		imgs := make([]image.Image, len(chunk))
		for j, q := range chunk {
			var err error
			if imgs[j], err = LoadImage(q.path); err != nil {
				return nil, err
			}
		}
		v, err := emb.EmbedQueries(imgs)
		if err != nil {
			return nil, err
		}
		vecs = append(vecs, v...)
		bar.Add(len(chunk))
	}
	bar.Finish()
	return vecs, nil
}

// recogniseStatic recognises every query against the catalog as it is, and decides each.
func recogniseStatic(cat *data.Catalog, rules Rules, queries []labelledQuery, vecs [][]float32, ids map[string]int64) ([]Outcome, error) {
	outcomes := make([]Outcome, 0, len(queries))
	for i, q := range queries {
		o, err := recognise(cat, rules, q, vecs[i], ids)
		if err != nil {
			return nil, err
		}
		outcomes = append(outcomes, o)
	}
	return outcomes, nil
}

// recognise is one query's outcome, a visit of one crop.
func recognise(cat *data.Catalog, rules Rules, q labelledQuery, vec []float32, ids map[string]int64) (Outcome, error) {
	ev, err := cat.Recognise([][]float32{vec}, 5)
	if err != nil {
		return Outcome{}, err
	}
	_, known := ids[q.label]
	return Outcome{Label: q.label, Known: known, Hits: ev.Hits, Decision: Decide(ev, rules), ev: ev, rules: rules}, nil
}

// summariseEval reports the outcomes at threshold and at the best threshold for them.
func summariseEval(outcomes []Outcome, threshold float32) *Evaluation {
	cal := Calibrate(outcomes)
	calRep := Summarise(outcomes, cal)
	return &Evaluation{Report: Summarise(outcomes, threshold), Calibrated: cal,
		CalibratedAcc: calRep.Accuracy, CalibratedFAR: calRep.FalseAccept}
}
