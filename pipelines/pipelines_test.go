package pipelines

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"go.uber.org/goleak"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
	"github.com/ebrcs/ebrcs/testkit/testelements"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func mustLoad(t *testing.T, yaml string) *Spec {
	t.Helper()
	testelements.Register(t)
	s, err := Load("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", timeout, what)
}

// A YAML pipeline built and run to the end: every frame passes both Go elements and reaches
// the sink with the metadata the first wrote and the second appended to.
func TestBuiltPipelineRunsGoElements(t *testing.T) {
	spec := mustLoad(t, `
source: {type: test, num_buffers: 25, live: false, width: 160, height: 120}
elements:
  - element: videoconvert
  - caps: video/x-raw,format=RGBA
  - element: ebrcs_passthrough
    properties: {label: first}
  - element: ebrcs_passthrough
    name: second
    properties: {label: second}
sink: {type: fake}
`)
	var withMeta atomic.Int64
	sup := NewSupervisor(spec, SupervisorOptions{MaxRestarts: 0, OnFrame: func(buf *gst.Buffer) {
		if f := framemeta.Get(buf); f != nil && strings.Join(f.Trail, ",") == "first,second" && f.Width == 160 {
			withMeta.Add(1)
		}
	}})
	sup.Start()
	<-sup.Done()
	st := sup.Status()
	if st.State != StateFinished || st.Frames != 25 {
		t.Fatalf("status %+v, want finished with 25 frames", st)
	}
	if withMeta.Load() != 25 {
		t.Fatalf("%d frames carried [first second] metadata, want 25", withMeta.Load())
	}
}

// Two elements whose pad templates cannot meet fail at build time, naming both and the caps.
func TestLinkErrorNamesBothElements(t *testing.T) {
	spec := mustLoad(t, `
source: {type: test}
elements:
  - element: videoconvert
    name: conv
  - element: vp8dec
sink: {type: fake}
`)
	_, err := Build(&BuildContext{Spec: spec})
	le, ok := err.(*LinkError)
	if !ok {
		t.Fatalf("got %v (%T), want a *LinkError", err, err)
	}
	msg := le.Error()
	for _, want := range []string{":6:5: cannot link conv and vp8dec0", "video/x-raw", "video/x-vp8"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not contain %q", msg, want)
		}
	}
}

// Caps that clash through elements that pass caps queries on (identity) are still found at
// build time, at the element that cannot take them.
func TestLinkErrorThroughPassThroughElements(t *testing.T) {
	spec := mustLoad(t, `
source: {type: test}
elements:
  - element: identity
  - caps: video/x-raw,format=NV12
  - element: identity
    name: middle
  - element: ebrcs_test_paint
    name: painter
sink: {type: fake}
`)
	_, err := Build(&BuildContext{Spec: spec})
	if err == nil || !strings.Contains(err.Error(), "test.yaml:8:5: cannot link middle and painter") ||
		!strings.Contains(err.Error(), "format=(string)NV12") || !strings.Contains(err.Error(), "format=(string)GRAY8") {
		t.Fatalf("got %v", err)
	}
}

// Caps that only clash once data flows (a decoder's output appears at run time) are reported
// when the pipeline fails, with the two elements named.
func TestNegotiationFailureNamesBothElements(t *testing.T) {
	testelements.Register(t)
	clip := filepath.Join(t.TempDir(), "clip.y4m")
	gsttest.Collect(t, "videotestsrc num-buffers=3 ! video/x-raw,format=I420,width=64,height=48,framerate=30/1 ! "+
		"y4menc ! filesink location="+clip+" videotestsrc num-buffers=1 ! appsink name=out", 10*time.Second)
	spec := mustLoad(t, `
source: {type: file, path: `+clip+`}
elements:
  - element: ebrcs_test_paint
    name: painter
sink: {type: fake}
`)
	sup := NewSupervisor(spec, SupervisorOptions{MaxRestarts: 0})
	sup.Start()
	<-sup.Done()
	st := sup.Status()
	if st.State != StateFailed {
		t.Fatalf("state %s, want failed", st.State)
	}
	for _, want := range []string{"caps negotiation failed between source and painter", "format=(string)I420", "format=(string)GRAY8"} {
		if !strings.Contains(st.LastError, want) {
			t.Errorf("last error %q does not contain %q", st.LastError, want)
		}
	}
}

// An element that errors makes the supervisor restart the pipeline, with a backoff that
// doubles, and the state says so with the last error.
func TestSupervisorRestartsWithBackoff(t *testing.T) {
	spec := mustLoad(t, `
source: {type: test, live: false, width: 32, height: 24}
elements:
  - element: ebrcs_test_failing
    name: flaky
    properties: {at: 2}
sink: {type: fake}
restart: {initial_backoff: 40ms, max_backoff: 160ms, stable_after: 1h}
`)
	sup := NewSupervisor(spec, SupervisorOptions{MaxRestarts: -1})
	sup.Start()
	defer sup.Stop()

	// For each restart the status says when it failed and when the next attempt is due:
	// the delay between the two is the backoff, 40ms, 80ms, then the 160ms cap. (Measured on
	// the supervisor's own timestamps, so a loaded machine cannot make it flaky.)
	delays := map[int]time.Duration{}
	waitFor(t, 10*time.Second, "5 restarts", func() bool {
		st := sup.Status()
		if st.State == StateRestarting {
			delays[st.Restarts] = st.NextAttempt.Sub(st.LastErrorAt)
			if !strings.Contains(st.LastError, "flaky") || !strings.Contains(st.LastError, "injected failure") {
				t.Errorf("status while restarting: %+v", st)
			}
		}
		return st.Restarts >= 5
	})
	if len(delays) < 3 {
		t.Fatalf("observed only restarts %v", delays)
	}
	for restart, got := range delays {
		want := min(40*time.Millisecond<<(restart-1), 160*time.Millisecond)
		if got < want-time.Millisecond || got > want+20*time.Millisecond {
			t.Errorf("restart %d: backoff %v, want %v", restart, got, want)
		}
	}
	sup.Stop()
	if st := sup.Status(); st.State != StateStopped {
		t.Fatalf("after Stop: %s", st.State)
	}
}

// A source that must not end (a looping file) ending is a failure: restart, and frames go on.
func TestSupervisorRestartsEndlessSourceOnEOS(t *testing.T) {
	testelements.Register(t)
	clip := filepath.Join(t.TempDir(), "clip.y4m")
	gsttest.Collect(t, "videotestsrc num-buffers=6 ! video/x-raw,format=I420,width=64,height=48,framerate=30/1 ! "+
		"y4menc ! filesink location="+clip+" videotestsrc num-buffers=1 ! appsink name=out", 10*time.Second)
	spec := mustLoad(t, `
source: {type: file, path: `+clip+`, loop: true}
elements: [{element: videoconvert}]
sink: {type: fake}
restart: {initial_backoff: 10ms, max_backoff: 20ms}
`)
	sup := NewSupervisor(spec, SupervisorOptions{MaxRestarts: -1})
	sup.Start()
	defer sup.Stop()
	waitFor(t, 10*time.Second, "three passes over the clip", func() bool { return sup.Status().Frames >= 18 })
	st := sup.Status()
	if st.Restarts < 2 || !strings.Contains(st.LastError, "end of stream") {
		t.Fatalf("status %+v: want restarts after unexpected EOS", st)
	}
}

// A missing input file is a run-time failure, reported and retried, not a crash.
func TestSupervisorReportsMissingFile(t *testing.T) {
	spec := mustLoad(t, "source: {type: file, path: /nonexistent/clip.mp4}\nsink: {type: fake}\n")
	sup := NewSupervisor(spec, SupervisorOptions{MaxRestarts: 1})
	sup.Start()
	<-sup.Done()
	st := sup.Status()
	if st.State != StateFailed || st.Restarts != 1 || !strings.Contains(st.LastError, "no such file") {
		t.Fatalf("status %+v", st)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // atomic, as editors and config tools do
		t.Fatal(err)
	}
}

func statusOf(m *Manager, name string) Status {
	for _, st := range m.Statuses() {
		if st.Name == name {
			return st
		}
	}
	return Status{}
}

func label(sup *Supervisor, element string) string {
	if sup == nil {
		return ""
	}
	el := sup.Element(element)
	if el == nil {
		return ""
	}
	v, _ := el.GetProperty("label")
	s, _ := v.(string)
	return s
}

// Hot reload: an edit swaps the running pipeline; a bad edit is refused with file:line and
// the old pipeline keeps running; touching a file without changing it restarts nothing; a
// second pipeline is never disturbed; removing a file stops its pipeline.
func TestManagerHotReload(t *testing.T) {
	testelements.Register(t)
	dir := t.TempDir()
	camA := filepath.Join(dir, "cam-a.yaml")
	camB := filepath.Join(dir, "cam-b.yaml")
	const tmpl = "source: {type: test, width: 64, height: 48, framerate: 60}\nelements:\n  - element: ebrcs_passthrough\n    name: tag\n    properties: {label: %s}\nsink: {type: fake}\n"
	writeFile(t, camA, strings.Replace(tmpl, "%s", "v1", 1))
	writeFile(t, camB, strings.Replace(tmpl, "%s", "other", 1))

	m := NewManager(dir, ManagerOptions{MaxRestarts: -1})
	defer m.Close()
	ctx, cancel := contextWithCancel()
	defer cancel()
	watchDone := make(chan error, 1)
	go func() { watchDone <- m.Watch(ctx) }()

	waitFor(t, 5*time.Second, "both pipelines running", func() bool {
		return statusOf(m, "cam-a").State == StateRunning && statusOf(m, "cam-b").State == StateRunning
	})
	supB := m.Supervisor("cam-b")

	// A valid edit swaps cam-a.
	supA1 := m.Supervisor("cam-a")
	writeFile(t, camA, strings.Replace(tmpl, "%s", "v2", 1))
	waitFor(t, 5*time.Second, "cam-a running v2", func() bool {
		return label(m.Supervisor("cam-a"), "tag") == "v2" && statusOf(m, "cam-a").State == StateRunning
	})
	if m.Supervisor("cam-a") == supA1 {
		t.Fatal("cam-a was not swapped")
	}

	// A bad edit is refused; v2 keeps running and processing frames.
	supA2 := m.Supervisor("cam-a")
	writeFile(t, camA, "source: {type: test}\nelements:\n  - element: ebrcs_passthrough\n    properties: {lable: v3}\nsink: {type: fake}\n")
	waitFor(t, 5*time.Second, "the bad edit to be refused", func() bool { return statusOf(m, "cam-a").ConfigError != "" })
	st := statusOf(m, "cam-a")
	if !strings.Contains(st.ConfigError, camA+":4:18: ebrcs_passthrough has no property \"lable\"") {
		t.Errorf("config error %q lacks file:line:col", st.ConfigError)
	}
	framesBefore := st.Frames
	waitFor(t, 5*time.Second, "v2 to keep processing", func() bool { return statusOf(m, "cam-a").Frames > framesBefore+5 })
	if m.Supervisor("cam-a") != supA2 || label(supA2, "tag") != "v2" || statusOf(m, "cam-a").State != StateRunning {
		t.Fatal("the running pipeline was touched by a bad edit")
	}

	// A link error is refused too (it validates but cannot be built).
	writeFile(t, camA, "source: {type: test}\nelements:\n  - element: vp8dec\nsink: {type: fake}\n")
	waitFor(t, 5*time.Second, "the unlinkable edit to be refused", func() bool {
		return strings.Contains(statusOf(m, "cam-a").ConfigError, "cannot link source and vp8dec0")
	})
	if m.Supervisor("cam-a") != supA2 {
		t.Fatal("an unlinkable edit replaced the running pipeline")
	}

	// Touching cam-b with the same bytes restarts nothing.
	writeFile(t, camB, strings.Replace(tmpl, "%s", "other", 1))
	time.Sleep(400 * time.Millisecond)
	if m.Supervisor("cam-b") != supB || statusOf(m, "cam-b").Restarts != 0 {
		t.Fatal("an unchanged file was restarted")
	}

	// Removing cam-a stops it.
	if err := os.Remove(camA); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "cam-a removed", func() bool { return m.Supervisor("cam-a") == nil })
	if statusOf(m, "cam-b").State != StateRunning || m.Supervisor("cam-b") != supB {
		t.Fatal("cam-b was disturbed")
	}
	cancel()
	if err := <-watchDone; err != nil {
		t.Fatal(err)
	}
}

// Two files may not claim the same pipeline name.
func TestManagerRefusesDuplicateNames(t *testing.T) {
	testelements.Register(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), "name: same\nsource: {type: test}\nsink: {type: fake}\n")
	writeFile(t, filepath.Join(dir, "b.yaml"), "name: same\nsource: {type: test}\nsink: {type: fake}\n")
	m := NewManager(dir, ManagerOptions{MaxRestarts: -1})
	defer m.Close()
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	var refused int
	for _, st := range m.Statuses() {
		if strings.Contains(st.ConfigError, `pipeline name "same" is already used`) {
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("statuses %+v: want exactly one refused", m.Statuses())
	}
}

// A pipeline with autostart off is validated and listed, idle, and never run by the manager.
func TestManagerKeepsOnDemandPipelinesIdle(t *testing.T) {
	testelements.Register(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "upload.yaml"), "autostart: false\nsource: {type: file}\nsink: {type: fake}\n")
	m := NewManager(dir, ManagerOptions{MaxRestarts: -1})
	defer m.Close()
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(m, "upload"); st.State != StateIdle || st.ConfigError != "" {
		t.Fatalf("status %+v, want idle", st)
	}
	if m.Supervisor("upload") != nil {
		t.Fatal("an autostart: false pipeline was started")
	}
}
