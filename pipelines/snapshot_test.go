package pipelines

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/gstleaks"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
	"github.com/ebrcs/ebrcs/testkit/rtsptest"
)

// Camera snapshots, taken and refused, leave no GStreamer object behind (the pipeline, the
// rtspsrc and its decoder, the frame's buffer): after warm-up, the live objects counted by
// GStreamer's leaks tracer do not grow over more snapshots. The test re-runs itself with the
// tracer enabled.
func TestSnapshotsLeaveNoGStreamerObjects(t *testing.T) {
	if testing.Short() {
		t.Skip("takes camera snapshots under GStreamer's leaks tracer")
	}
	if os.Getenv("EBRCS_LEAKS_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "EBRCS_LEAKS_CHILD=1", `GST_TRACERS=leaks(filters="GstObject,GstSample,GstBuffer,GstCaps")`)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
			t.Fatalf("under the leaks tracer: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "snapshot_test.go") {
				t.Log(strings.TrimSpace(line))
			}
		}
		return
	}
	gsttest.Init(t)
	if !gstleaks.Enabled() {
		t.Fatal("GStreamer's leaks tracer is not running (GST_TRACERS)")
	}
	mp4 := filepath.Join(t.TempDir(), "cam.mp4")
	if err := rtsptest.MakeH264MP4(mp4, 30, 15); err != nil {
		t.Fatal(err)
	}
	cam := rtsptest.StartT(t, rtsptest.Options{Launch: rtsptest.H264Launch(mp4), Loop: true, User: "cam", Password: "right-one"})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "rtsp://" + l.Addr().String() + "/cam"
	l.Close()
	round := func() {
		ctx := context.Background()
		shot, err := TakeSnapshot(ctx, SnapshotRequest{URL: cam.URL(), User: "cam", Password: "right-one"})
		if err != nil || shot.Width != 320 || shot.Height != 240 {
			t.Fatalf("snapshot: %+v %v", shot, err)
		}
		if _, err := TakeSnapshot(ctx, SnapshotRequest{URL: cam.URL(), User: "cam", Password: "wrong"}); !errors.Is(err, ErrCameraAuth) {
			t.Fatalf("wrong password: %v", err)
		}
		if _, err := TakeSnapshot(ctx, SnapshotRequest{URL: closed}); !errors.Is(err, ErrCameraUnreachable) {
			t.Fatalf("closed port: %v", err)
		}
	}
	quiet := func() gstleaks.Counts {
		for range 3 {
			runtime.GC()
			time.Sleep(200 * time.Millisecond)
		}
		return gstleaks.Live()
	}
	for range 2 { // warm-up: the plugins' types and caches
		round()
	}
	before := quiet()
	const rounds = 8
	for range rounds {
		round()
	}
	after := quiet()
	if grew := after.Growth(before); grew != "" {
		t.Fatalf("%d rounds of snapshots left GStreamer objects behind: %s", rounds, grew)
	}
	t.Logf("%d rounds of snapshots (taken, wrong password, closed port): no GStreamer object left behind", rounds)
}
