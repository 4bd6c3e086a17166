package signaling

import (
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/pipelines"
)

// Outputs are the annotated videos of standing pipelines (a camera station's whep sink), by
// session id. They are made before the pipelines and the Service: the station binder
// (checkout.Config.StationVideo) links each station's pipeline to its output, and the Service
// serves the outputs to WHEP viewers.
type Outputs struct {
	mu   sync.Mutex
	byID map[string]*bridge
}

var _ checkout.StationVideo = (*Outputs)(nil)

// NewOutputs makes an empty set of outputs.
func NewOutputs() *Outputs { return &Outputs{byID: map[string]*bridge{}} }

// Output returns the media link of a standing pipeline's whep sink: its annotated video (VP8)
// for WHEP viewers of the session. The same link serves every rebuild of the pipeline.
func (o *Outputs) Output(sessionID string) (pipelines.MediaLink, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if b := o.byID[sessionID]; b != nil {
		return b, nil
	}
	out, err := webrtc.NewTrackLocalStaticSample(codecCapability("VP8"), "video", "ebrcs-"+sessionID)
	if err != nil {
		return nil, err
	}
	b := newBridge("VP8", "VP8", out, 0, 0)
	o.byID[sessionID] = b
	return b, nil
}

// get returns the session's output, nil if it has none (or o is nil).
func (o *Outputs) get(sessionID string) *bridge {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.byID[sessionID]
}
