// Package embed is ebrcs_embed: it turns the crop the ROI gate chose into an embedding.
//
// On the frames ebrcs_roigate marked (Gate.Recognize), the crop (Gate.Crop) is cut out of the
// frame and embedded by the shared embedder (package recognition) as a query: the crop and
// its query views, each through every encoder of the hybrid, each output L2-normalised,
// weighted, concatenated and renormalised (the original system's rule), the views averaged
// (recognition.Embedder.EmbedQuery). Crops from several pipelines that wait at the same
// moment are embedded in one ONNX Runtime call by the embedder's batcher. The vector, the
// embedder's fingerprint and the crop itself go on the frame (Frame.Embedding,
// Frame.EmbeddingModel, Frame.CropImage) for ebrcs_match, which fuses a visit's crops and
// keeps its best one. Frames the gate did not mark pass untouched and cost nothing.
//
// With `async` (the live pipelines), the frame does not wait for its vector: the crop is
// embedded in the background and the vector rides on the next frame of the same visit. A
// camera's video then never waits for recognition, which matters when many sessions show
// products at once: their crops queue for the shared embedder, and a session whose frames
// waited there came back hundreds of milliseconds late, or not at all (frames older than
// the source's max_delay are skipped). One crop per session is in flight; while it is, the
// newest crop of the visit waits (older ones are superseded) and goes as soon as it is
// done, unless ebrcs_counter has decided the visit meanwhile (then it is dropped). A vector whose visit ended before it came still goes on the next frame while no
// other visit has started (outside a visit it is taken alone); once another has, it is
// discarded. Without async (files), every crop is recognised on its own frame, so that a
// file's results do not depend on the machine's speed.
package embed

import (
	"errors"
	"image"
	"sync"
	"sync/atomic"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/models"
	"github.com/ebrcs/ebrcs/recognition"
)

// The element's factory name and its properties.
const (
	Name           = "ebrcs_embed"
	PropEmbedder   = "embedder"
	PropModelDir   = "model-dir"
	PropAsync      = "async"
	PropEmbeddings = "embeddings"
	PropDropped    = "dropped"
	PropStale      = "stale"
)

// The optional interfaces of goelement that Embed implements: a renamed method fails to
// compile here instead of being silently skipped by the framework.
var (
	_ goelement.Starter        = (*Embed)(nil)
	_ goelement.Stopper        = (*Embed)(nil)
	_ goelement.PropertyReader = (*Embed)(nil)
)

// Element is the ebrcs_embed definition.
var Element = &goelement.Definition[*Embed]{
	Info: goelement.Info{
		Name:           Name,
		LongName:       "EBRCS embedding",
		Classification: "Filter/Analyzer/Video",
		Description:    "Embeds the ROI gate's crop with the hybrid encoder (ONNX Runtime) and attaches the vector to the frame",
		Caps:           "video/x-raw,format=" + goelement.AnalysisFormats,
		Access:         goelement.ReadPixels,
		Properties: []goelement.Property{
			{Name: PropEmbedder, Kind: goelement.String, Default: "",
				Doc: "Embedder configuration file (configs/embedders/*.yaml); empty: the built-in default (MobileNetV2-int8)"},
			{Name: PropModelDir, Kind: goelement.String, Default: models.DefaultDir,
				Doc: "Directory that relative model paths in the embedder configuration are resolved in"},
			{Name: PropAsync, Kind: goelement.Bool, Default: false,
				Doc: "Embed in the background: the frame goes on at once and the vector rides on a later frame of the same visit (live cameras: the video never waits for recognition); off: each frame waits for its vector (files: results independent of the machine's speed)"},
			{Name: PropEmbeddings, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Crops embedded since the element started"},
			{Name: PropDropped, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Crops not embedded because the shared embedder's queue was full (the frame goes on without a vector)"},
			{Name: PropStale, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "With async: vectors discarded because another visit had started when they came, and crops superseded by a newer one of the visit while another was in flight"},
		},
	},
	New: func(props *goelement.Props) *Embed { return &Embed{props: props} },
}

// Embed is one ebrcs_embed instance.
type Embed struct {
	props      *goelement.Props
	emb        *recognition.Embedder
	embeddings atomic.Int64
	dropped    atomic.Int64
	stale      atomic.Int64

	// async mode: the visits as the gate's frames say, and the crops in the background.
	mu       sync.Mutex
	visits   framemeta.Visits
	visit    int64      // the visit in progress (counts visits from 1)
	inflight bool       // a crop is being embedded
	waiting  *asyncCrop // the newest crop of the visit, for when the one in flight is done
	ready    []asyncVector
	failure  error // an embedder error, returned by the next Process
	wg       sync.WaitGroup
}

// asyncCrop is a crop to embed in the background, with the visit it belongs to.
type asyncCrop struct {
	visit int64
	img   *image.RGBA
}

// asyncVector is a crop's vector waiting for the next frame of its visit.
type asyncVector struct {
	visit int64
	vec   []float32
	img   *image.RGBA
}

// maxReady bounds the vectors waiting for a frame (one crop is in flight at a time, so more
// than one is rare: a frame carries one vector).
const maxReady = 2

// Start opens (or joins) the shared embedder.
func (e *Embed) Start() error {
	emb, err := recognition.OpenEmbedder(e.props.String(PropEmbedder), e.props.String(PropModelDir))
	if err != nil {
		return err
	}
	e.emb = emb
	return nil
}

// Stop waits for the crop in flight, forgets the visit, and resets the statistics; the shared
// embedder stays open for other pipelines.
func (e *Embed) Stop() {
	e.mu.Lock()
	e.waiting = nil
	e.mu.Unlock()
	e.wg.Wait()
	e.mu.Lock()
	e.visits, e.visit, e.ready, e.failure = framemeta.Visits{}, 0, nil, nil
	e.mu.Unlock()
	e.embeddings.Store(0)
	e.dropped.Store(0)
	e.stale.Store(0)
}

// Process implements goelement.Processor.
func (e *Embed) Process(b *goelement.Buffer) error {
	up := b.UpstreamMeta()
	if up == nil {
		return nil
	}
	if e.props.Bool(PropAsync) {
		return e.processAsync(b, up)
	}
	if !wanted(up.Gate) {
		return nil
	}
	img, err := e.crop(b)
	if err != nil {
		return err
	}
	vec, err := e.emb.EmbedQuery(img)
	if errors.Is(err, models.ErrQueueFull) {
		// Overloaded: skip this recognition rather than stall the video; the gate asks
		// again N frames later.
		e.dropped.Add(1)
		return nil
	}
	if err != nil {
		return err
	}
	e.attach(b.Meta(), vec, img)
	return nil
}

// wanted reports whether the gate asks for a recognition that can still matter: not for a
// visit ebrcs_counter has already decided.
func wanted(g *framemeta.Gate) bool {
	return g != nil && g.Recognize && !g.Visit.Decided()
}

// crop cuts the gate's crop out of the frame (a copy: it outlives the buffer in async mode).
func (e *Embed) crop(b *goelement.Buffer) (*image.RGBA, error) {
	m := b.Meta()
	return cropRGBA(b, scaleRect(m.Gate.Crop, m.Width, m.Height, b.Info.Width, b.Info.Height))
}

// attach puts a vector and its crop on a frame for ebrcs_match.
func (e *Embed) attach(m *framemeta.Frame, vec []float32, img *image.RGBA) {
	m.Embedding = vec
	m.EmbeddingModel = e.emb.Fingerprint()
	m.CropImage = img
	e.embeddings.Add(1)
}

// processAsync gives this frame the oldest vector of its visit that is ready, and sends its
// crop (when the gate asks for one) to be embedded in the background.
func (e *Embed) processAsync(b *goelement.Buffer, up *framemeta.Frame) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.failure; err != nil {
		return err
	}
	ended, started := e.visits.Step(up.Gate)
	if started {
		e.visit++
	}
	if ended || started {
		// What was asked for the visit before is of no use to the next.
		if e.waiting != nil {
			e.waiting = nil
			e.stale.Add(1)
		}
	}
	for len(e.ready) > 0 {
		v := e.ready[0]
		e.ready = e.ready[1:]
		// A vector of the visit in progress; or of the last one, which ended while it was
		// embedded, and none has started since: it goes on a frame outside any visit, where
		// ebrcs_match takes it alone and ebrcs_counter still counts it if that visit was not
		// decided (a product swiped past quickly on a busy machine is not lost).
		if v.visit == e.visit {
			e.attach(b.Meta(), v.vec, v.img)
			break
		}
		e.stale.Add(1)
	}
	if up.Gate != nil && up.Gate.Visit.Decided() && e.waiting != nil {
		// The visit was decided while this crop waited: its vector could change nothing.
		e.waiting = nil
		e.stale.Add(1)
	}
	if !wanted(up.Gate) {
		return nil
	}
	img, err := e.crop(b)
	if err != nil {
		return err
	}
	job := &asyncCrop{visit: e.visit, img: img}
	if e.inflight {
		if e.waiting != nil {
			e.stale.Add(1) // superseded by this newer crop
		}
		e.waiting = job
		return nil
	}
	e.start(job)
	return nil
}

// start embeds a crop in the background (e.mu held).
func (e *Embed) start(job *asyncCrop) {
	e.inflight = true
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for job != nil {
			vec, err := e.emb.EmbedQuery(job.img)
			e.mu.Lock()
			switch {
			case errors.Is(err, models.ErrQueueFull):
				e.dropped.Add(1)
			case err != nil:
				e.failure = err
			case len(e.ready) < maxReady:
				e.ready = append(e.ready, asyncVector{visit: job.visit, vec: vec, img: job.img})
			default:
				e.stale.Add(1)
			}
			// The crop that waited goes at once: waiting a frame to learn whether this
			// vector decided the visit saved no work (measured) and delayed counts.
			job, e.waiting = e.waiting, nil
			e.inflight = job != nil
			e.mu.Unlock()
		}
	}()
}

// ReadProperty implements goelement.PropertyReader.
func (e *Embed) ReadProperty(name string) any {
	switch name {
	case PropEmbeddings:
		return e.embeddings.Load()
	case PropDropped:
		return e.dropped.Load()
	case PropStale:
		return e.stale.Load()
	}
	return nil
}
