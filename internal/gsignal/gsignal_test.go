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

func TestHandlersRunAndAreReleased(t *testing.T) {
	gst.Init(nil)
	var refs []weak.Pointer[payload]
	for i := 0; i < 20; i++ {
		p := &payload{}
		refs = append(refs, weak.Make(p))
		pipeline, err := gst.NewPipelineFromString("videotestsrc num-buffers=5 ! queue max-size-buffers=1 leaky=downstream name=q ! fakesink sync=true")
		if err != nil {
			t.Fatal(err)
		}
		q, _ := pipeline.GetElementByName("q")
		overrun, err := Connect(q.Object.Object, "overrun", func() { p.hits.Add(1) })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Connect(q.Object.Object, "no-such-signal", func() {}); err == nil {
			t.Fatal("connecting an unknown signal succeeded")
		}
		pipeline.SetState(gst.StatePlaying)
		pipeline.GetPipelineBus().TimedPopFiltered(gst.ClockTime(5*time.Second), gst.MessageEOS|gst.MessageError)
		pipeline.SetState(gst.StateNull)
		if i%2 == 0 { // half disconnected, half released with their element
			Disconnect(q.Object.Object, overrun)
		}
		if p.hits.Load() == 0 {
			t.Fatalf("pipeline %d: the overrun handler never ran", i)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		alive := 0
		for _, r := range refs {
			if r.Value() != nil {
				alive++
			}
		}
		if alive == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d handlers' captured values still alive", alive, len(refs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
