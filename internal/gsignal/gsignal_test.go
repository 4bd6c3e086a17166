package gsignal

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/go-gst/go-gst/gst"
)

// payload stands for what a handler captures (a session's bridge, say).
type payload struct{ hits atomic.Int64 }

// collected waits until w's value has been garbage collected.
func collected[T any](t *testing.T, w weak.Pointer[T], what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); w.Value() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the handler's captured value is still reachable", what)
		}
		runtime.GC()
	}
}

// A handler runs on its signal; an unknown signal is an error; and the handler's function,
// with what it captures, is released when the handler is disconnected or when its object is
// finalized (go-glib's Connect never releases it: the same test with it fails).
func TestHandlersRunAndAreReleased(t *testing.T) {
	gst.Init(nil)
	// The payload is reachable only through the handler once this function returns.
	q, id, w := func() (*gst.Element, HandlerID, weak.Pointer[payload]) {
		pipeline, err := gst.NewPipelineFromString("videotestsrc num-buffers=5 ! queue max-size-buffers=1 leaky=downstream name=q ! fakesink sync=true")
		if err != nil {
			t.Fatal(err)
		}
		q, _ := pipeline.GetElementByName("q")
		p := &payload{}
		id, err := Connect(q.Object.Object, "overrun", func() { p.hits.Add(1) })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Connect(q.Object.Object, "no-such-signal", func() {}); err == nil {
			t.Fatal("connecting an unknown signal succeeded")
		}
		pipeline.SetState(gst.StatePlaying)
		pipeline.GetPipelineBus().TimedPopFiltered(gst.ClockTime(5*time.Second), gst.MessageEOS|gst.MessageError)
		pipeline.SetState(gst.StateNull)
		if p.hits.Load() == 0 {
			t.Fatal("the overrun handler never ran")
		}
		return q, id, weak.Make(p)
	}()
	Disconnect(q.Object.Object, id)
	collected(t, w, "disconnected")
	runtime.KeepAlive(q)

	func() {
		el, err := gst.NewElement("queue")
		if err != nil {
			t.Fatal(err)
		}
		p := &payload{}
		w = weak.Make(p)
		if _, err := Connect(el.Object.Object, "overrun", func() { p.hits.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}()
	collected(t, w, "element finalized") // the element's Go wrapper unrefs it when collected
}
