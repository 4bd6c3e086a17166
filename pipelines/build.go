package pipelines

import (
	"fmt"
	"sync/atomic"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/internal/gsignal"
	"github.com/ebrcs/ebrcs/internal/metrics"
	"github.com/ebrcs/ebrcs/pipelines/gstprops"
)

// BuildContext is what Build needs besides the Spec: run-time bindings a file cannot express.
type BuildContext struct {
	Spec *Spec
	// Input overrides a file source's path (`ebrcs run --input`).
	Input string
	// OnFrame, when set, is called on the streaming thread with every buffer that reaches the
	// sink, after all elements (tests, summaries). It must not keep the buffer.
	OnFrame func(buf *gst.Buffer)
	// Configure, when set, is called with every element step after its properties from the
	// file are set: the place for per-run bindings such as a checkout session's ROI and cart.
	Configure func(step *Step, el *gst.Element) error
	// Media connects webrtc sources and sinks to their peer (nil: such a pipeline cannot
	// be built, only validated).
	Media MediaLink

	// release collects what endpoint builders tied to Go closures (Built.Release undoes it).
	release []func()
	// leaky are the queues that drop frames by design (latest frame wins), to be counted.
	leaky []*gst.Element
	// elements are the pipeline's elements in file order, built before the sink (which may
	// adjust them: see ReturnScaler).
	elements []*gst.Element
	// halfRate is on while a webrtc sink sends every other frame back (ReturnThinner); a
	// webrtc source then gives frames up sooner (analysisDelay). Nil until asked for.
	halfRate *atomic.Bool
}

// returnHalf is the pipeline's half-rate switch, shared by its webrtc source and sink.
func (ctx *BuildContext) returnHalf() *atomic.Bool {
	if ctx.halfRate == nil {
		ctx.halfRate = new(atomic.Bool)
	}
	return ctx.halfRate
}

// onRelease registers an undo for Built.Release (a signal handler to disconnect).
func (ctx *BuildContext) onRelease(f func()) { ctx.release = append(ctx.release, f) }

// countDrops registers a leaky frame queue: each overrun of it is a dropped frame, counted
// in ebrcs_pipeline_dropped_frames_total.
func (ctx *BuildContext) countDrops(queue *gst.Element) { ctx.leaky = append(ctx.leaky, queue) }

// Built is a linked GStreamer pipeline made from a Spec, in the NULL state.
type Built struct {
	Spec     *Spec
	Pipeline *gst.Pipeline
	// chain is source, the elements in file order, sink; steps[i] describes chain[i+1].
	chain  []*gst.Element
	frames atomic.Int64
	// release undoes what ties the pipeline's C objects to Go closures (pad probes, signal
	// handlers), which would otherwise keep each other alive after the pipeline stops.
	release []func()
}

// Release frees what Build tied to the pipeline; call it once the pipeline is in NULL.
// Without it every stopped pipeline stays in memory, elements included (measured: about
// 0.6 MB a run for a pipeline with ebrcs_bgsub).
func (b *Built) Release() {
	for i := len(b.release) - 1; i >= 0; i-- {
		b.release[i]()
	}
	b.release = nil
}

// Frames returns how many frames have reached the sink.
func (b *Built) Frames() int64 { return b.frames.Load() }

// Element returns the element with the given step name (or "source"/"sink"), nil if none.
func (b *Built) Element(name string) *gst.Element {
	for _, el := range b.chain {
		if el.GetName() == name {
			return el
		}
	}
	return nil
}

// Build creates the elements, sets their properties and links them. Nothing starts: the
// pipeline is returned in the NULL state, so building is also a cheap way to check that a
// valid file will link (used before a hot swap).
func Build(ctx *BuildContext) (*Built, error) {
	spec := ctx.Spec
	pipeline, err := gst.NewPipeline(spec.Name)
	if err != nil {
		return nil, err
	}
	b := &Built{Spec: spec, Pipeline: pipeline}
	// A failed build releases what the endpoint builders tied to Go closures too: a source's
	// pad-added handlers otherwise keep the half-built bin alive through C, forever.
	fail := func(err error) (*Built, error) {
		b.release = append(b.release, ctx.release...)
		ctx.release, ctx.leaky = nil, nil
		return nil, b.fail(err)
	}

	src, err := sourceTypes[spec.Source.Type].Build(ctx, spec.Source.Params)
	if err != nil {
		return fail(&Error{File: spec.File, Pos: spec.Source.Pos, Msg: fmt.Sprintf("source (%s): %v", spec.Source.Type, err)})
	}
	src.SetProperty("name", "source")
	b.chain = append(b.chain, src)

	for i := range spec.Elements {
		el, err := buildStep(&spec.Elements[i])
		if err == nil && ctx.Configure != nil && spec.Elements[i].Element != "" {
			err = ctx.Configure(&spec.Elements[i], el)
		}
		if err != nil {
			return fail(&Error{File: spec.File, Pos: spec.Elements[i].Pos, Msg: err.Error()})
		}
		b.chain = append(b.chain, el)
	}

	ctx.elements = b.chain[1:]
	sink, err := sinkTypes[spec.Sink.Type].Build(ctx, spec.Sink.Params)
	if err != nil {
		return fail(&Error{File: spec.File, Pos: spec.Sink.Pos, Msg: fmt.Sprintf("sink (%s): %v", spec.Sink.Type, err)})
	}
	sink.SetProperty("name", "sink")
	b.chain = append(b.chain, sink)

	if err := pipeline.AddMany(b.chain...); err != nil {
		return fail(err)
	}
	for i := 0; i+1 < len(b.chain); i++ {
		if err := b.chain[i].Link(b.chain[i+1]); err != nil {
			return fail(b.linkError(i, false))
		}
	}

	sinkPad := sink.GetStaticPad("sink")
	if sinkPad == nil {
		return fail(fmt.Errorf("sink (%s) has no sink pad", spec.Sink.Type))
	}
	onFrame := ctx.OnFrame
	label := metrics.PipelineNames.Value(spec.Name) // bounded: names come from files
	sinkFrames := metrics.PipelineFrames.WithLabelValues(label, "sink")
	probe := sinkPad.AddProbe(gst.PadProbeTypeBuffer, func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
		b.frames.Add(1)
		sinkFrames.Inc()
		if onFrame != nil {
			onFrame(info.GetBuffer())
		}
		return gst.PadProbeOK
	})
	b.release = append(b.release, func() { sinkPad.RemoveProbe(probe) })
	if srcPad := b.chain[0].GetStaticPad("src"); srcPad != nil {
		sourceFrames := metrics.PipelineFrames.WithLabelValues(label, "source")
		probe := srcPad.AddProbe(gst.PadProbeTypeBuffer, func(*gst.Pad, *gst.PadProbeInfo) gst.PadProbeReturn {
			sourceFrames.Inc()
			return gst.PadProbeOK
		})
		b.release = append(b.release, func() { srcPad.RemoveProbe(probe) })
	}
	// The handlers hold only the counter, so they need no release: they go with the queue.
	dropped := metrics.PipelineDropped.WithLabelValues(label)
	for _, q := range ctx.leaky {
		if _, err := gsignal.Connect(q.Object.Object, "overrun", dropped.Inc); err != nil {
			return fail(err)
		}
	}
	ctx.leaky = nil
	b.release = append(b.release, ctx.release...)
	ctx.release = nil
	return b, nil
}

func buildStep(st *Step) (*gst.Element, error) {
	if st.Element == "" {
		caps := gst.NewCapsFromString(st.Caps)
		if caps == nil {
			return nil, fmt.Errorf("caps %q cannot be parsed", st.Caps)
		}
		return gst.NewElementWithProperties("capsfilter", map[string]interface{}{"name": st.Name, "caps": caps})
	}
	el, err := gst.NewElementWithProperties(st.Element, map[string]interface{}{"name": st.Name})
	if err != nil {
		return nil, fmt.Errorf("cannot create element %s: %v", st.Element, err)
	}
	for _, p := range st.Properties {
		if err := gstprops.Set(el, p.Name, p.Value); err != nil {
			return nil, fmt.Errorf("%s: property %q: %v", st.Element, p.Name, err)
		}
	}
	return el, nil
}

// fail releases a half-built pipeline.
func (b *Built) fail(err error) error {
	b.Pipeline.SetState(gst.StateNull)
	b.Release()
	return err
}

// linkError describes the link chain[i] → chain[i+1] with what each side can do.
func (b *Built) linkError(i int, negotiation bool) *LinkError {
	from, to := b.chain[i], b.chain[i+1]
	e := &LinkError{From: from.GetName(), To: to.GetName(), File: b.Spec.File, Negotiation: negotiation}
	if i < len(b.Spec.Elements) { // the second element is a step (not the sink)
		e.Pos = b.Spec.Elements[i].Pos
	} else {
		e.Pos = b.Spec.Sink.Pos
	}
	e.FromCaps, e.ToCaps = "nothing", "nothing"
	if pad := from.GetStaticPad("src"); pad != nil {
		if caps := pad.GetCurrentCaps(); caps != nil {
			e.FromCaps = shortCaps(capsString(caps))
		} else if caps := pad.QueryCaps(nil); caps != nil {
			e.FromCaps = shortCaps(capsString(caps))
		}
	}
	if pad := to.GetStaticPad("sink"); pad != nil {
		if caps := pad.QueryCaps(nil); caps != nil {
			e.ToCaps = shortCaps(capsString(caps))
		}
	}
	return e
}

// shortCaps keeps caps readable in one error line: converters list a hundred formats.
func shortCaps(caps string) string {
	const limit = 300
	if len(caps) <= limit {
		return caps
	}
	return caps[:limit] + "…"
}

// diagnoseNegotiation finds where a running pipeline failed to agree on a format: the first
// link, from the source on, whose upstream side never got caps.
func (b *Built) diagnoseNegotiation() *LinkError {
	for i := 0; i+1 < len(b.chain); i++ {
		pad := b.chain[i].GetStaticPad("src")
		if pad == nil || pad.GetCurrentCaps() == nil {
			return b.linkError(i, true)
		}
	}
	return nil
}
