package web

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/signaling"
	"github.com/ebrcs/ebrcs/testkit/gstleaks"
)

// leakTracer is what the child process of TestLiveSessionsLeaveNoGStreamerObjects follows:
// every GstObject (pipelines, bins, elements, pads, buses) and the frames' buffers, samples
// and caps.
const leakTracer = `leaks(filters="GstObject,GstSample,GstBuffer,GstCaps")`

// Live WebRTC sessions that stream, are recognised and end (half by DELETE, half dropped)
// leave no GStreamer object behind: after warm-up, the live objects counted by GStreamer's
// leaks tracer do not grow over 12 more sessions. It catches native leaks the churn test's
// goroutine and Go heap checks cannot see (an encoded frame kept per session, a pipeline kept
// by a stray reference). The test re-runs itself with the tracer enabled.
func TestLiveSessionsLeaveNoGStreamerObjects(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 16 WebRTC sessions under GStreamer's leaks tracer")
	}
	if os.Getenv("EBRCS_LEAKS_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "EBRCS_LEAKS_CHILD=1", "GST_TRACERS="+leakTracer)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
			t.Fatalf("under the leaks tracer: %v\n%s", err, grep(string(out), "leak_test.go|FAIL|panic|CRITICAL"))
		}
		t.Log(grep(string(out), "leak_test.go"))
		return
	}
	env := newLiveEnv(t, 4)
	if !gstleaks.Enabled() {
		t.Fatal("GStreamer's leaks tracer is not running (GST_TRACERS)")
	}
	frames, err := signaling.EncodeVideo(env.videos["two-products"], "VP8", 15, 800)
	if err != nil {
		t.Fatal(err)
	}
	api, _ := signaling.ClientAPI(true)
	session := func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := signaling.Publish(ctx, api, env.url+"/whip/live", "VP8", nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Send(ctx, frames[:min(len(frames), 90)], 60, nil)
		if i%2 == 0 {
			c.Close()
		} else {
			c.PC.Close()
		}
	}
	// quiet waits until every session has ended and Go has finalised what it dropped.
	quiet := func() gstleaks.Counts {
		deadline := time.Now().Add(20 * time.Second)
		for len(env.rtc.Peers()) > 0 || env.mgr.Sessions() > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d publishers, %d sessions still open", len(env.rtc.Peers()), env.mgr.Sessions())
			}
			time.Sleep(100 * time.Millisecond)
		}
		for range 3 {
			runtime.GC()
			time.Sleep(300 * time.Millisecond)
		}
		return gstleaks.Live()
	}
	for i := range 4 { // warm-up: caches, the shared embedder, pools
		session(i)
	}
	before := quiet()
	for i := range 12 {
		session(i)
	}
	after := quiet()
	if grew := after.Growth(before); grew != "" {
		t.Fatalf("12 sessions left GStreamer objects behind: %s", grew)
	}
	t.Logf("12 sessions: no GStreamer object left behind (%d objects followed)", total(after))
}

func total(c gstleaks.Counts) (n int) {
	for _, v := range c {
		n += v
	}
	return n
}
