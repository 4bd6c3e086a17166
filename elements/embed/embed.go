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
// newest crop of each visit waits (older ones of the same visit are superseded), oldest
// visit first, and goes as soon as it is done, unless ebrcs_counter has decided its visit
// meanwhile (then it is dropped). A vector whose visit ended before it came goes on the next
// frame: while no other visit has started, as the frame's own (outside a visit it is taken
// alone); once another has, as a late recognition (Frame.Late) with which ebrcs_counter
// decides the visit it came from, if nothing decided it yet. So a product is not lost when
// recognition, which yields to the video, falls seconds behind on a saturated machine. And
// when no frame comes for half a second (the camera stopped: the shopper closed the page
// right after the last product, or the stream stalled), the vectors that are ready go
// without a frame (goelement.MetaSender), each as a late recognition of its visit, which
// ebrcs_match and ebrcs_counter handle as they would on a frame. Every frame (and every
// vector sent without one) says how many visits are still being recognised
// (Frame.Recognising), which ebrcs_counter shows on the cart: on a saturated machine the
// shopper sees that a product shown is still being recognised, and cannot confirm a cart
// that is not complete yet. When one crop has been embedded, a later visit's waiting crop
// goes before another look at the same visit (the first look usually decides it).
// Without async (files), every crop is recognised on its own frame, so that a file's
// results do not depend on the machine's speed.
package embed

import (
	"errors"
	"image"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
	PropSentIdle   = "sent-idle"
)

// The optional interfaces of goelement that Embed implements: a renamed method fails to
// compile here instead of being silently skipped by the framework.
var (
	_ goelement.Starter        = (*Embed)(nil)
	_ goelement.Stopper        = (*Embed)(nil)
	_ goelement.PropertyReader = (*Embed)(nil)
	_ goelement.MetaSender     = (*Embed)(nil)
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
				Doc: "With async: crops and vectors discarded because their visit was decided before they were used, crops superseded by a newer one of the visit while another was in flight, and crops of the oldest visit pushed out when more than 4 visits wait"},
			{Name: PropSentIdle, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "With async: vectors sent without a frame because none came for 0.5 s after they were ready (the camera stopped), each decided by ebrcs_counter as a late recognition"},
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
	sentIdle   atomic.Int64

	// async mode: the visits as the gate's frames say, and the crops in the background.
	mu       sync.Mutex
	visits   framemeta.Visits
	visit    int64                 // the visit in progress (counts visits from 1)
	state    *framemeta.VisitState // what the elements share about the visit in progress
	inflight *asyncCrop            // the crop being embedded (nil: none)
	pending  []*asyncCrop          // the newest crop of each visit waiting, oldest visit first
	ready    []asyncVector
	// recognising is the last count of visits with recognition under way sent downstream
	// (Frame.Recognising), so that a change with no frame to carry it goes on its own.
	recognising int
	failure     error // an embedder error, returned by the next Process
	wg          sync.WaitGroup

	// When the camera stops sending, vectors that are ready go without a frame (sendMeta).
	sendMeta  func(*framemeta.Frame) bool
	lastFrame time.Time     // when the last frame came (async mode)
	stop      chan struct{} // closed by Stop: a background flush gives up
}

// asyncCrop is a crop to embed in the background, with the visit it belongs to.
type asyncCrop struct {
	visit int64
	state *framemeta.VisitState
	seen  time.Duration // the frame's stream time
	img   *image.RGBA
}

// asyncVector is a crop's vector waiting for the next frame.
type asyncVector struct {
	visit int64
	state *framemeta.VisitState
	seen  time.Duration
	vec   []float32
	img   *image.RGBA
}

// maxReady bounds the vectors waiting for a frame (one crop is in flight at a time, so more
// than one is rare: a frame carries one vector).
const maxReady = 4

// maxPending bounds the visits whose crop waits while another is in flight. Visits come a
// second or more apart, so 4 is several seconds of recognition behind the video; past it,
// the oldest visit's crop goes (counted stale) rather than the queue growing.
const maxPending = 4

// idleFlush is how long the stream may go without a frame before the vectors that are ready
// go without one. Frames come every 33–67 ms, and a saturated server skips some; half a
// second without any means the camera stopped (the shopper closed the page, or the stream
// stalled), and a product shown last would otherwise wait for a frame that may never come.
const idleFlush = 500 * time.Millisecond

// SetMetaSender implements goelement.MetaSender.
func (e *Embed) SetMetaSender(send func(*framemeta.Frame) bool) { e.sendMeta = send }

// Start opens (or joins) the shared embedder.
func (e *Embed) Start() error {
	e.mu.Lock()
	e.stop = make(chan struct{})
	e.mu.Unlock()
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
	e.pending = nil
	if e.stop != nil {
		close(e.stop)
		e.stop = nil
	}
	e.mu.Unlock()
	e.wg.Wait()
	e.mu.Lock()
	e.visits, e.visit, e.state, e.ready, e.failure, e.recognising = framemeta.Visits{}, 0, nil, nil, nil, 0
	e.mu.Unlock()
	e.embeddings.Store(0)
	e.dropped.Store(0)
	e.stale.Store(0)
	e.sentIdle.Store(0)
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

// processAsync gives this frame the oldest vector that is ready, sends its crop (when the
// gate asks for one) to be embedded in the background, and says on it how many visits are
// still being recognised.
func (e *Embed) processAsync(b *goelement.Buffer, up *framemeta.Frame) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.deliverAndSend(b, up)
	e.recognising = e.underWay()
	b.Meta().Recognising = e.recognising
	return err
}

// underWay counts the visits, not yet decided, whose recognition is under way: a crop in
// flight or waiting, or a vector not yet delivered (e.mu held).
func (e *Embed) underWay() int {
	// Runs on every frame: at most 1 + maxPending + maxReady visits, counted on the stack.
	var visits [1 + maxPending + maxReady]int64
	n := 0
	note := func(visit int64, state *framemeta.VisitState) {
		if !state.Decided() && !slices.Contains(visits[:n], visit) {
			visits[n] = visit
			n++
		}
	}
	if c := e.inflight; c != nil {
		note(c.visit, c.state)
	}
	for _, c := range e.pending {
		note(c.visit, c.state)
	}
	for _, v := range e.ready {
		note(v.visit, v.state)
	}
	return n
}

// deliverAndSend is processAsync's work (e.mu held).
func (e *Embed) deliverAndSend(b *goelement.Buffer, up *framemeta.Frame) error {
	if err := e.failure; err != nil {
		return err
	}
	e.lastFrame = time.Now()
	if _, started := e.visits.Step(up.Gate); started {
		e.visit++
		e.state = up.Gate.Visit
	}
	// A visit decided while its crop waited: the vector could change nothing.
	e.pending = slices.DeleteFunc(e.pending, func(c *asyncCrop) bool { return e.decided(c.state) })
	for len(e.ready) > 0 {
		v := e.ready[0]
		e.ready = e.ready[1:]
		switch {
		case e.decided(v.state):
		case v.visit == e.visit:
			// A vector of the visit in progress; or of the last one, which ended while it
			// was embedded, and none has started since: it goes on a frame outside any
			// visit, where ebrcs_match takes it alone and ebrcs_counter still counts it.
			e.attach(b.Meta(), v.vec, v.img)
			return e.send(b, up)
		case v.state != nil:
			// Another visit has started since: the vector goes as a late recognition of
			// its own visit, which ebrcs_counter decides with it.
			b.Meta().Late = e.late(v)
			e.embeddings.Add(1)
			return e.send(b, up)
		default:
			e.stale.Add(1) // no visit to decide (a gate without an ROI)
		}
	}
	return e.send(b, up)
}

// decided reports whether a visit was decided, counting what is dropped for it as stale.
func (e *Embed) decided(v *framemeta.VisitState) bool {
	if v.Decided() {
		e.stale.Add(1)
		return true
	}
	return false
}

// send sends this frame's crop, when the gate asks for one, to be embedded in the
// background: at once when nothing is in flight, else after the newest crops of the visits
// before it (e.mu held).
func (e *Embed) send(b *goelement.Buffer, up *framemeta.Frame) error {
	if !wanted(up.Gate) {
		return nil
	}
	img, err := e.crop(b)
	if err != nil {
		return err
	}
	job := &asyncCrop{visit: e.visit, state: e.state, seen: b.PTS, img: img}
	switch n := len(e.pending); {
	case e.inflight == nil:
		e.start(job)
	case n > 0 && e.pending[n-1].visit == job.visit:
		e.pending[n-1] = job // superseded by this newer crop of the visit
		e.stale.Add(1)
	default:
		if n == maxPending {
			e.pending = e.pending[1:]
			e.stale.Add(1)
		}
		e.pending = append(e.pending, job)
	}
	return nil
}

// start embeds a crop in the background (e.mu held).
func (e *Embed) start(job *asyncCrop) {
	e.inflight = job
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for job != nil {
			vec, err := e.emb.EmbedQuery(job.img)
			e.mu.Lock()
			looked := job.visit
			switch {
			case errors.Is(err, models.ErrQueueFull):
				e.dropped.Add(1)
			case err != nil:
				e.failure = err
			case len(e.ready) < maxReady:
				e.ready = append(e.ready, asyncVector{visit: job.visit, state: job.state, seen: job.seen, vec: vec, img: job.img})
			default:
				e.stale.Add(1)
			}
			// The crop that waited goes at once: waiting a frame to learn whether this
			// vector decided the visit saved no work (measured) and delayed counts.
			job = e.next(looked)
			e.inflight = job
			e.mu.Unlock()
		}
		e.flushWhenIdle()
	}()
}

// next takes the waiting crop to embed next (nil: none), after a crop of visit looked: the
// oldest visit's, unless that is another look at the visit just embedded while a later visit
// waits for its first. On a saturated machine each crop waits a second or more for the
// shared embedder, and the vector just embedded usually decides its visit: a later visit's
// first look goes before a second look that would most likely be discarded (e.mu held).
func (e *Embed) next(looked int64) *asyncCrop {
	if len(e.pending) == 0 {
		return nil
	}
	i := 0
	if e.pending[0].visit == looked && len(e.pending) > 1 {
		i = 1
	}
	job := e.pending[i]
	e.pending = slices.Delete(e.pending, i, i+1)
	return job
}

// flushWhenIdle sends the vectors that are ready without a frame once no frame has come for
// idleFlush: each as a late recognition of its visit (framemeta.LateRecognition), which
// ebrcs_match recognises alone and ebrcs_counter decides, as the next frame would have made
// them do. A frame that comes first takes them as usual. Each carries the count of visits
// still under way; when the last ready vector was of a decided visit (nothing to send), the
// new count goes alone, so that the cart never shows a recognition that has ended.
func (e *Embed) flushWhenIdle() {
	for {
		e.mu.Lock()
		if e.inflight != nil || e.stop == nil || e.sendMeta == nil {
			e.mu.Unlock()
			return // the next worker (or Stop) sees to it
		}
		if len(e.ready) == 0 {
			n := e.underWay()
			changed := n != e.recognising
			e.recognising = n
			e.mu.Unlock()
			if changed {
				e.sendMeta(&framemeta.Frame{Recognising: n})
			}
			return
		}
		if wait := idleFlush - time.Since(e.lastFrame); wait > 0 {
			stop := e.stop
			e.mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(wait):
			}
			continue
		}
		v := e.ready[0]
		e.ready = e.ready[1:]
		if v.state == nil || e.decided(v.state) {
			e.mu.Unlock()
			continue
		}
		e.recognising = e.underWay()
		f := &framemeta.Frame{Late: e.late(v), Recognising: e.recognising}
		e.mu.Unlock()
		if e.sendMeta(f) {
			e.embeddings.Add(1)
			e.sentIdle.Add(1)
		}
	}
}

// late makes a vector a late recognition of its visit.
func (e *Embed) late(v asyncVector) *framemeta.LateRecognition {
	return &framemeta.LateRecognition{Visit: v.state, Seen: v.seen, Embedding: v.vec,
		EmbeddingModel: e.emb.Fingerprint(), CropImage: v.img}
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
	case PropSentIdle:
		return e.sentIdle.Load()
	}
	return nil
}
