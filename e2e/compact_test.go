package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// While the server is busy, the shipped live pipeline sends the annotated video back compact
// (its webrtc sink's size auto: 320 wide past webrtc.compact_above cameras). One browser
// cannot make the server busy, so here the sink's size is compact from the start; the page
// must then play 320×240 pictures that carry the ROI outline exactly as strictly as at the
// camera's size (checkReturnedVideo: the same thresholds), though the overlay drew it at
// 640×480 and it was scaled down with the picture.
func TestBrowserCompactVideoCarriesTheOverlay(t *testing.T) {
	skipIfShort(t)
	checkNoLeftovers(t)
	products := scenario.SyntheticProducts(6, 1)
	sc := &scenario.Scenario{Name: "e2e-compact", Config: scenario.DefaultConfig(), Steps: []scenario.Step{
		{Kind: scenario.Idle, Duration: 2 * time.Second},
		{Kind: scenario.Show, Product: products[2].Name, Hold: 2 * time.Second},
		{Kind: scenario.Idle, Duration: 2 * time.Second},
	}}
	camera := writeCamera(t, sc, products)
	srv := startServerEdited(t, products, "", func(live string) string {
		return strings.Replace(live, "\n  size: auto\n", "\n  size: compact\n", 1)
	})
	b := startBrowser(t, camera, "checkout")
	page := b.first
	diagnose(t, srv, b, page)

	page.open(t, srv.url+"/", `window.ebrcs && window.ebrcs.state === 'idle'`)
	page.click(t, "start-button")
	waitLive(t, page)
	checkReturnedVideo(t, page)
	f, err := evalJS[videoFrame](page, grabFrameJS)
	if err != nil {
		t.Fatal(err)
	}
	if f.Width != 320 || f.Height != 240 {
		t.Errorf("the returned video is %dx%d, want the compact 320x240", f.Width, f.Height)
	}
	a := receivedVideoStats(t, page)
	time.Sleep(4 * time.Second)
	z := receivedVideoStats(t, page)
	// What Chromium says of the playback (no bound here: one browser on a busy test machine).
	t.Logf("Chromium's returned video: received %.0f decoded %.0f dropped %.0f freezes %.0f (%.2fs); over 4 s: jitter buffer delay %.1f ms a frame, %.0f frames, inter-frame %.1f ms, fps %.1f",
		z.FramesReceived, z.FramesDecoded, z.FramesDropped, z.FreezeCount, z.TotalFreezesDuration,
		1000*(z.JitterBufferDelay-a.JitterBufferDelay)/(z.JitterBufferEmittedCount-a.JitterBufferEmittedCount),
		z.FramesDecoded-a.FramesDecoded, 1000*(z.TotalInterFrameDelay-a.TotalInterFrameDelay)/(z.FramesDecoded-a.FramesDecoded), z.FramesPerSecond)
}

// receivedStats is what Chromium says of the returned video (its inbound-rtp statistics).
type receivedStats struct {
	FramesReceived           float64 `json:"framesReceived"`
	FramesDecoded            float64 `json:"framesDecoded"`
	FramesDropped            float64 `json:"framesDropped"`
	JitterBufferDelay        float64 `json:"jitterBufferDelay"`
	JitterBufferEmittedCount float64 `json:"jitterBufferEmittedCount"`
	TotalInterFrameDelay     float64 `json:"totalInterFrameDelay"`
	FramesPerSecond          float64 `json:"framesPerSecond"`
	FreezeCount              float64 `json:"freezeCount"`
	TotalFreezesDuration     float64 `json:"totalFreezesDuration"`
}

// receivedVideoStats asks the page (window.ebrcs.receivedVideo) for them.
func receivedVideoStats(t *testing.T, page *tab) receivedStats {
	t.Helper()
	s, err := evalJS[receivedStats](page, `window.ebrcs.receivedVideo()`)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
