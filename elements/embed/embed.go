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
package embed

import (
	"errors"
	"sync/atomic"

	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/models"
	"github.com/ebrcs/ebrcs/recognition"
)

// The element's factory name and its properties.
const (
	Name           = "ebrcs_embed"
	PropEmbedder   = "embedder"
	PropModelDir   = "model-dir"
	PropEmbeddings = "embeddings"
	PropDropped    = "dropped"
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
			{Name: PropEmbeddings, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Crops embedded since the element started"},
			{Name: PropDropped, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Crops not embedded because the shared embedder's queue was full (the frame goes on without a vector)"},
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
}

// Start opens (or joins) the shared embedder.
func (e *Embed) Start() error {
	emb, err := recognition.OpenEmbedder(e.props.String(PropEmbedder), e.props.String(PropModelDir))
	if err != nil {
		return err
	}
	e.emb = emb
	return nil
}

// Stop resets the statistics; the shared embedder stays open for other pipelines.
func (e *Embed) Stop() {
	e.embeddings.Store(0)
	e.dropped.Store(0)
}

// Process implements goelement.Processor.
func (e *Embed) Process(b *goelement.Buffer) error {
	up := b.UpstreamMeta()
	if up == nil || up.Gate == nil || !up.Gate.Recognize {
		return nil
	}
	m := b.Meta()
	crop := scaleRect(m.Gate.Crop, m.Width, m.Height, b.Info.Width, b.Info.Height)
	img, err := cropRGBA(b, crop)
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
	m.Embedding = vec
	m.EmbeddingModel = e.emb.Fingerprint()
	m.CropImage = img
	e.embeddings.Add(1)
	return nil
}

// ReadProperty implements goelement.PropertyReader.
func (e *Embed) ReadProperty(name string) any {
	switch name {
	case PropEmbeddings:
		return e.embeddings.Load()
	case PropDropped:
		return e.dropped.Load()
	}
	return nil
}
