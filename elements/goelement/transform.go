package goelement

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-video-1.0 gstreamer-base-1.0
#cgo CFLAGS: -I${SRCDIR}
#include <stdlib.h>
#include "video.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"time"
	"unsafe"

	"github.com/go-gst/go-glib/glib"
	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/base"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/internal/metrics"
)

// self is nil in every virtual method below (see transform.element); don't use it.

// Register registers the element with GStreamer: in the running process when plugin is nil
// (our binary), or as part of a plugin library's init (the .so built by `make plugin`).
func (d *Definition[T]) Register(plugin *gst.Plugin) error {
	if err := d.validate(); err != nil {
		return err
	}
	// go-glib registers one GType per Go type, so every Definition needs a Go type of its
	// own: transform[T] is a distinct type for each Processor type T.
	if !gst.RegisterElement(plugin, d.Name, gst.RankNone, &transform[T]{def: d}, base.ExtendsBaseTransform) {
		return fmt.Errorf("goelement: registering %s failed", d.Name)
	}
	return nil
}

// transform adapts a Processor to GstBaseTransform (in place, never passthrough, so that the
// buffer is writable for metadata).
type transform[T Processor] struct {
	def   *Definition[T]
	props *Props
	proc  T
	info  VideoInfo // written by SetCaps and read by TransformIP, both on the streaming thread
	// element is our GstElement. go-gst v1.4.0 hands the BaseTransform virtual methods a nil
	// self (its ToGstBaseTransform does not accept the C pointer it is given), so we keep the
	// pointer from Constructed. The GObject owns this Go value, so the pointer outlives it.
	element *C.GstElement
	// The element's metric series, looked up once: Process runs on every frame.
	framesMetric, errorsMetric prometheus.Counter
	secondsMetric              prometheus.Observer
}

// warn posts a warning message from this element (the pipeline goes on).
func (t *transform[T]) warn(format string, args ...any) {
	msg := C.CString(t.def.Name + ": " + fmt.Sprintf(format, args...))
	defer C.free(unsafe.Pointer(msg))
	C.ebrcs_element_warning(t.element, msg)
}

// fail posts an error message from this element; the pipeline stops and its supervisor
// sees it on the bus, with this element as the source.
func (t *transform[T]) fail(format string, args ...any) {
	msg := C.CString(t.def.Name + ": " + fmt.Sprintf(format, args...))
	defer C.free(unsafe.Pointer(msg))
	C.ebrcs_element_error(t.element, msg)
}

// New is called by GLib for every new element instance.
func (t *transform[T]) New() glib.GoObjectSubclass {
	props := newProps(t.def.Properties)
	return &transform[T]{def: t.def, props: props, proc: t.def.New(props),
		framesMetric:  metrics.ElementFrames.WithLabelValues(t.def.Name),
		errorsMetric:  metrics.ElementErrors.WithLabelValues(t.def.Name),
		secondsMetric: metrics.ElementSeconds.WithLabelValues(t.def.Name)}
}

func (t *transform[T]) ClassInit(klass *glib.ObjectClass) {
	class := gst.ToElementClass(klass)
	class.SetMetadata(t.def.LongName, t.def.Classification, t.def.Description, "EBRCS")
	caps := gst.NewCapsFromString(t.def.Caps)
	sink := gst.NewPadTemplate("sink", gst.PadDirectionSink, gst.PadPresenceAlways, caps)
	class.AddPadTemplate(sink)
	src := gst.NewPadTemplate("src", gst.PadDirectionSource, gst.PadPresenceAlways, caps)
	class.AddPadTemplate(src)
	// Each wrapper holds its object's only reference until the C call that takes its own
	// (the template's ref on caps, the class's on a template) has returned.
	runtime.KeepAlive(caps)
	runtime.KeepAlive(sink)
	runtime.KeepAlive(src)
	specs := make([]*glib.ParamSpec, len(t.def.Properties))
	for i := range t.def.Properties {
		specs[i] = t.def.Properties[i].paramSpec()
	}
	klass.InstallProperties(specs)
	// Every element passes frames sent without a buffer on, in order; a MetaProcessor
	// handles them first.
	C.ebrcs_install_sink_event(C.gpointer(klass.Unsafe()))
}

func (t *transform[T]) Constructed(obj *glib.Object) {
	t.element = (*C.GstElement)(obj.Unsafe())
	bt := base.ToGstBaseTransform(obj)
	bt.SetInPlace(true)
	bt.SetPassthrough(false)
	if s, ok := any(t.proc).(MetaSender); ok {
		s.SetMetaSender(t.sendMeta)
	}
}

// sendMeta sends f downstream without a buffer (see MetaSender).
func (t *transform[T]) sendMeta(f *framemeta.Frame) bool {
	return C.ebrcs_push_event(t.element, (*C.GstEvent)(framemeta.NewEvent(f))) != 0
}

// metaEvent gives the Frame of an event from upstream's MetaSender to the processor; false
// when the processor failed (the pipeline stops with its error).
func (t *transform[T]) metaEvent(f *framemeta.Frame) (ok bool) {
	p, is := any(t.proc).(MetaProcessor)
	if !is {
		return true
	}
	defer func() {
		if r := recover(); r != nil {
			t.fail("internal error: %v\n%s", r, debug.Stack())
			ok = false
		}
	}()
	if err := p.ProcessMeta(f); err != nil {
		t.errorsMetric.Inc()
		t.fail("%v", err)
		return false
	}
	return true
}

// metaEventHandler is what goelementFrameEvent looks for on the Go object of an element.
type metaEventHandler interface {
	metaEvent(f *framemeta.Frame) bool
}

// goelementFrameEvent is our elements' sink_event for custom downstream events (video.c).
//
//export goelementFrameEvent
func goelementFrameEvent(element *C.GstElement, event *C.GstEvent) C.gboolean {
	f := framemeta.FromEvent(unsafe.Pointer(event))
	if f == nil {
		return 1 // someone else's event: passed on untouched
	}
	h, ok := glib.FromObjectUnsafePrivate(unsafe.Pointer(element)).(metaEventHandler)
	if !ok {
		return 1
	}
	return C.gboolean(boolInt(h.metaEvent(f)))
}

func (t *transform[T]) SetProperty(obj *glib.Object, id uint, value *glib.Value) {
	decl := &t.def.Properties[id]
	raw, err := value.GoValue()
	if err == nil {
		var v any
		if v, err = fromGValue(decl, raw); err == nil {
			if decl.Check != nil {
				if cerr := decl.Check(v); cerr != nil {
					t.warn("property %q: %v; keeping the previous value", decl.Name, cerr)
					return
				}
			}
			t.props.set(int(id), v)
			return
		}
	}
	t.fail("cannot set property %q: %v", decl.Name, err)
}

func (t *transform[T]) GetProperty(obj *glib.Object, id uint) *glib.Value {
	decl := &t.def.Properties[id]
	var v any
	if r, ok := any(t.proc).(PropertyReader); ok && decl.ReadOnly {
		v = r.ReadProperty(decl.Name)
	} else {
		t.props.mu.RLock()
		v = t.props.values[id]
		t.props.mu.RUnlock()
	}
	val, err := glib.GValue(v)
	if err != nil {
		return nil
	}
	return val
}

func (t *transform[T]) Start(self *base.GstBaseTransform) bool {
	if s, ok := any(t.proc).(Starter); ok {
		if err := s.Start(); err != nil {
			t.fail("start: %v", err)
			return false
		}
	}
	return true
}

func (t *transform[T]) Stop(self *base.GstBaseTransform) bool {
	if s, ok := any(t.proc).(Stopper); ok {
		s.Stop()
	}
	return true
}

func (t *transform[T]) SetCaps(self *base.GstBaseTransform, incaps, outcaps *gst.Caps) bool {
	ci := C.ebrcs_video_info_from_caps((*C.GstCaps)(unsafe.Pointer(incaps.Instance())))
	if ci.ok == 0 {
		// Non-video caps (an element declared "ANY"): no layout to offer.
		t.info = VideoInfo{}
		return t.def.Access == NoPixels
	}
	info := VideoInfo{
		Width: int(ci.width), Height: int(ci.height),
		Format: C.GoString(ci.format),
		Planes: int(ci.n_planes),
		Size:   int(ci.size),
	}
	if ci.fps_d != 0 {
		info.FPS = float64(ci.fps_n) / float64(ci.fps_d)
	}
	for i := 0; i < 4; i++ {
		info.Stride[i] = int(ci.stride[i])
		info.Offset[i] = int(ci.offset[i])
	}
	t.info = info
	return true
}

func (t *transform[T]) TransformIP(self *base.GstBaseTransform, buf *gst.Buffer) (ret gst.FlowReturn) {
	// A bug in one element must fail its pipeline (the supervisor restarts it), not crash
	// the process with every other pipeline in it.
	defer func() {
		if r := recover(); r != nil {
			t.fail("internal error: %v\n%s", r, debug.Stack())
			ret = gst.FlowError
		}
	}()
	b := Buffer{
		Info:     t.info,
		PTS:      clockToDuration(buf.PresentationTimestamp()),
		Duration: clockToDuration(buf.Duration()),
		buf:      buf,
	}
	if t.def.Access != NoPixels {
		cbuf := (*C.GstBuffer)(unsafe.Pointer(buf.Instance()))
		var m C.EbrcsMapping
		if C.ebrcs_buffer_map(cbuf, &m, C.gboolean(boolInt(t.def.Access == WritePixels))) == 0 {
			t.fail("cannot map frame memory")
			return gst.FlowError
		}
		defer C.ebrcs_buffer_unmap(cbuf, &m)
		b.Pixels = unsafe.Slice((*byte)(m.data), int(m.size))
		if m.has_video_meta != 0 {
			for i := 0; i < 4; i++ {
				b.Info.Stride[i] = int(m.stride[i])
				b.Info.Offset[i] = int(m.offset[i])
			}
		}
	}
	start := time.Now()
	err := t.proc.Process(&b)
	t.secondsMetric.Observe(time.Since(start).Seconds())
	t.framesMetric.Inc()
	if err != nil {
		t.errorsMetric.Inc()
		t.fail("%v", err)
		return gst.FlowError
	}
	return gst.FlowOK
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
