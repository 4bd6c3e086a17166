package recognition

import (
	"fmt"
	"image"
	"os"
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
	// Threshold is the match threshold evaluated; negative: the embedder's calibrated one.
	Threshold float64
	// Holdout leaves every Holdout-th query product out of the catalog, to measure false
	// accepts (0: none).
	Holdout int
	// ReportDir, when set, receives a confusion matrix and score histograms (WriteReport).
	ReportDir string
	// NewProgress shows the progress of one step ("catalog", "queries") of total items; nil:
	// not shown.
	NewProgress func(what string, total int) Progress
}

// Evaluation is the result of Evaluate (what `ebrcs eval --json` prints).
type Evaluation struct {
	*Report
	Calibrated      float32 `json:"calibrated_threshold"`
	CalibratedAcc   float64 `json:"calibrated_accuracy"`
	CalibratedFAR   float64 `json:"calibrated_false_accept_rate"`
	CatalogProducts int     `json:"catalog_products"`
	CatalogVectors  int     `json:"catalog_vectors"`
	Embedder        string  `json:"embedder"`
	Seconds         float64 `json:"seconds"`
}

// evalBatch is how many queries are embedded in one call.
const evalBatch = 16

// Evaluate measures recognition: it builds a temporary catalog from the catalog images (less
// the held-out products), recognises every query image against it and summarises the outcomes
// at the threshold, with the threshold that would have been best on these queries. It opens
// the shared embedder (CloseAll releases it).
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
	cat, closeCatalog, err := tempCatalog(emb)
	if err != nil {
		return nil, err
	}
	defer closeCatalog()
	held := heldOut(queryNames, opts.Holdout)
	inCatalog, err := addEvalProducts(cat, catImages, catNames, held, opts.progress("catalog", len(catNames)))
	if err != nil {
		return nil, err
	}
	queries := labelledQueries(queryImages, queryNames)
	outcomes, err := recogniseQueries(emb, cat, queries, inCatalog, opts.progress("queries", len(queries)))
	if err != nil {
		return nil, err
	}
	ev := summariseEval(outcomes, opts.threshold(emb))
	ev.CatalogProducts, ev.CatalogVectors, ev.Embedder = len(inCatalog), cat.Len(), emb.Source
	ev.Seconds = time.Since(start).Seconds()
	if opts.ReportDir != "" {
		if err := WriteReport(opts.ReportDir, ev.Report); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// tempCatalog opens an empty catalog for emb in a temporary directory; closeCatalog closes
// it and removes the directory.
func tempCatalog(emb *Embedder) (cat *data.Catalog, closeCatalog func(), err error) {
	tmp, err := os.MkdirTemp("", "ebrcs-eval-")
	if err != nil {
		return nil, nil, err
	}
	cat, err = data.Open(tmp, emb.Hybrid, data.Options{MaxImages: 1000})
	if err != nil {
		os.RemoveAll(tmp)
		return nil, nil, err
	}
	return cat, func() {
		cat.Close()
		os.RemoveAll(tmp)
	}, nil
}

func (o *EvalOptions) progress(what string, total int) Progress {
	if o.NewProgress == nil {
		return noProgress{}
	}
	return o.NewProgress(what, total)
}

func (o *EvalOptions) threshold(emb *Embedder) float32 {
	if o.Threshold >= 0 {
		return float32(o.Threshold)
	}
	return emb.Threshold
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

// addEvalProducts registers each product not held out with its images, and returns the
// names of those in the catalog.
func addEvalProducts(cat *data.Catalog, images map[string][]string, names []string, held map[string]bool, bar Progress) (map[string]bool, error) {
	inCatalog := map[string]bool{}
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
		if _, err := cat.AddProduct(data.NewProduct{Name: name, Images: imgs}); err != nil {
			return nil, fmt.Errorf("catalog %s: %w", name, err)
		}
		inCatalog[name] = true
	}
	bar.Finish()
	return inCatalog, nil
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

// recogniseQueries embeds the queries in batches and looks each up in the catalog.
func recogniseQueries(emb *Embedder, cat *data.Catalog, queries []labelledQuery, inCatalog map[string]bool, bar Progress) ([]Outcome, error) {
	outcomes := make([]Outcome, 0, len(queries))
	for i := 0; i < len(queries); i += evalBatch {
		chunk := queries[i:min(i+evalBatch, len(queries))]
		imgs := make([]image.Image, len(chunk))
		for j, q := range chunk {
			var err error
			if imgs[j], err = LoadImage(q.path); err != nil {
				return nil, err
			}
		}
		vecs, err := emb.EmbedQueries(imgs)
		if err != nil {
			return nil, err
		}
		for j, q := range chunk {
			hits, err := cat.Search(vecs[j], 5)
			if err != nil {
				return nil, err
			}
			outcomes = append(outcomes, Outcome{Label: q.label, Known: inCatalog[q.label], Hits: hits})
		}
		bar.Add(len(chunk))
	}
	bar.Finish()
	return outcomes, nil
}

// summariseEval reports the outcomes at threshold and at the best threshold for them.
func summariseEval(outcomes []Outcome, threshold float32) *Evaluation {
	cal := Calibrate(outcomes)
	calRep := Summarise(outcomes, cal)
	return &Evaluation{Report: Summarise(outcomes, threshold), Calibrated: cal,
		CalibratedAcc: calRep.Accuracy, CalibratedFAR: calRep.FalseAccept}
}
