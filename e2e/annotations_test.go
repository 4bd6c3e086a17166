package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// The server's ICE ports in the annotation test: 16 from returnPortBase, below Linux's
// ephemeral range (where Chromium's own ports are), so that a packet's source port tells
// the server's packets from the browser's.
const (
	returnPortBase = 20000 // a multiple of 16: the filter below matches the 16 by a mask
	webrtcPorts    = "  udp_port_min: 20000\n  udp_port_max: 20015\n"
)

// fallbackNote is the checkout page's polite status while it shows the camera's preview for
// the lagging returned video.
const fallbackNote = "Showing your camera; the checkout's video is catching up"

// stallReturnedVideo holds back, in the kernel, the RTP packets the server sends (the returned
// video), as a network that loses them would: on lo of the tests' own network namespace, the
// UDP packets from the server's ports whose first byte says RTP go to an HTB class of 8 bit/s
// with a one-packet queue. RTCP (the server's feedback on the camera's video: without it the
// browser would throttle the camera), STUN (ICE consent) and DTLS pass, and so do the camera's
// packets to the server: the pipeline keeps annotating. resume lets them through again.
func stallReturnedVideo(t *testing.T) (resume func()) {
	t.Helper()
	tc, err := exec.LookPath("tc")
	if err != nil {
		t.Fatalf("tc (iproute2): %v", err)
	}
	run := func(args string) error {
		out, err := exec.Command(tc, strings.Fields(args)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("tc %s: %v\n%s", args, err, out)
		}
		return nil
	}
	sport := fmt.Sprintf("sport %d 0xfff0", returnPortBase)
	for _, args := range []string{
		"qdisc add dev lo root handle 1: htb default 10 r2q 1000",
		"class add dev lo parent 1: classid 1:10 htb rate 10gbit",
		"class add dev lo parent 1: classid 1:20 htb rate 8bit ceil 8bit burst 1 cburst 1",
		"qdisc add dev lo parent 1:20 handle 20: pfifo limit 1",
		// RTCP (payload type 200-207 in the second byte) passes; RTP (version 2 in the first) waits.
		"filter add dev lo parent 1: protocol ip prio 1 u32 match ip protocol 17 0xff match ip " + sport + " match u8 0xc8 0xf8 at 29 flowid 1:10",
		"filter add dev lo parent 1: protocol ip prio 2 u32 match ip protocol 17 0xff match ip " + sport + " match u8 0x80 0xc0 at 28 flowid 1:20",
		"filter add dev lo parent 1: protocol ipv6 prio 3 u32 match ip6 protocol 17 0xff match ip6 " + sport + " match u8 0xc8 0xf8 at 49 flowid 1:10",
		"filter add dev lo parent 1: protocol ipv6 prio 4 u32 match ip6 protocol 17 0xff match ip6 " + sport + " match u8 0x80 0xc0 at 48 flowid 1:20",
	} {
		if err := run(args); err != nil {
			run("qdisc del dev lo root")
			t.Fatalf("holding back the returned video: %v", err)
		}
	}
	done := false
	resume = func() {
		if !done {
			done = true
			if err := run("qdisc del dev lo root"); err != nil {
				t.Errorf("letting the returned video through again: %v", err)
			}
		}
	}
	t.Cleanup(resume)
	return resume
}

// roiPixelsJS counts the pixels of the page's annotation canvas in the overlay's ROI colour
// (#00c8ff): the counting area drawn over the camera's preview.
const roiPixelsJS = `(() => {
	const c = document.querySelector('[data-testid="annotation-canvas"]');
	if (!c.width || !c.height) return 0;
	const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
	let n = 0;
	for (let i = 0; i < d.length; i += 4) {
		if (d[i + 3] > 200 && d[i] < 50 && Math.abs(d[i + 1] - 200) < 40 && d[i + 2] > 210) n++;
	}
	return n;
})()`

// viewJS is what the page shows: the view, the preview's and the note's state.
const viewJS = `(() => {
	const preview = document.querySelector('[data-testid="preview"]');
	const video = document.querySelector('[data-testid="video"]');
	return {
		view: window.ebrcs.view, mode: window.ebrcs.viewMode, annotations: window.ebrcs.annotations,
		annotationsState: window.ebrcs.annotationsState, drawn: window.ebrcs.drawn,
		previewShown: preview.checkVisibility(), previewFrames: preview.getVideoPlaybackQuality().totalVideoFrames,
		returnedFrames: video.getVideoPlaybackQuality().totalVideoFrames,
		note: document.querySelector('[data-testid="view-note"]').textContent,
	};
})()`

type pageView struct {
	View             string `json:"view"`
	Mode             string `json:"mode"`
	Annotations      int    `json:"annotations"`
	AnnotationsState string `json:"annotationsState"`
	Drawn            int    `json:"drawn"`
	PreviewShown     bool   `json:"previewShown"`
	PreviewFrames    int    `json:"previewFrames"`
	ReturnedFrames   int    `json:"returnedFrames"`
	Note             string `json:"note"`
}

// The checkout page reads the session's annotations while the camera is live and shows the
// server's annotated video while it flows. When the returned video stalls (its RTP held back
// in the kernel, the camera's video and the annotations still flowing), the page shows the
// camera's own preview with the counting area, the box and the labels drawn on it, says so
// politely, and goes back to the returned video once it flows again. Staff choose either
// explicitly; Pause closes the annotation stream.
func TestCheckoutDrawsAnnotationsOverThePreview(t *testing.T) {
	skipIfShort(t)
	checkNoLeftovers(t)
	products := scenario.SyntheticProducts(6, 1)
	sc := &scenario.Scenario{Name: "e2e-annotations", Config: scenario.DefaultConfig(), Steps: []scenario.Step{
		{Kind: scenario.Idle, Duration: 2 * time.Second},
		{Kind: scenario.Show, Product: products[3].Name, Hold: 2 * time.Second},
		{Kind: scenario.Idle, Duration: 2 * time.Second},
	}}
	camera := writeCamera(t, sc, products)
	srv := startServerWith(t, products, webrtcPorts+staffConfig)
	b := startBrowser(t, camera, "checkout")
	page := b.first
	diagnose(t, srv, b, page)
	view := func() pageView {
		t.Helper()
		v, err := evalJS[pageView](page, viewJS)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	page.open(t, srv.url+"/", `window.ebrcs && window.ebrcs.state === 'idle'`)
	page.click(t, "start-button")
	waitLive(t, page)
	page.waitJS(t, 10*time.Second, `window.ebrcs.annotationsState === 'open' && window.ebrcs.annotations >= 10`, "the annotation stream")
	page.waitJS(t, 10*time.Second, `window.ebrcs.view === 'server'`, "the returned video to be shown")
	if v := view(); v.PreviewShown || v.Note != "" {
		t.Errorf("the returned video flows, yet the page shows the preview (%v) or says %q", v.PreviewShown, v.Note)
	}

	// The returned video stalls: within a second or two the camera's preview stands in, with
	// the annotations (which keep coming) drawn on it.
	resume := stallReturnedVideo(t)
	stalled := time.Now()
	page.waitJS(t, 5*time.Second, `window.ebrcs.view === 'local' && document.querySelector('[data-testid="preview"]').checkVisibility() && document.querySelector('[data-testid="view-note"]').textContent === `+jsString(fallbackNote), "the preview to stand in for the stalled video")
	t.Logf("the preview shown %v after the returned video stalled", time.Since(stalled).Round(10*time.Millisecond))
	before := view()
	page.waitJS(t, 5*time.Second, roiPixelsJS+` > 500 && window.ebrcs.drawn > `+fmt.Sprint(before.Drawn+10), "the counting area drawn over the preview")
	time.Sleep(time.Second)
	during := view()
	if during.View != "local" || during.ReturnedFrames-before.ReturnedFrames > 3 || during.PreviewFrames-before.PreviewFrames < 10 || during.Annotations-before.Annotations < 10 {
		t.Errorf("while the returned video is held back: %+v, a second earlier %+v; want the preview playing, the returned video still and the annotations coming", during, before)
	}
	if n, _ := evalJS[int](page, roiPixelsJS); n < 500 {
		t.Errorf("%d pixels of the counting area's colour on the annotation canvas, want 500 or more", n)
	}
	if hidden, _ := evalJS[string](page, `document.querySelector('[data-testid="annotation-canvas"]').getAttribute('aria-hidden')`); hidden != "true" {
		t.Errorf("the annotation canvas has aria-hidden=%q, want true", hidden)
	}
	shot(t, page, "checkout-annotated-preview")
	checkAxe(t, page, "the camera's preview with the annotations")

	// It flows again: back to the returned video.
	resume()
	page.waitJS(t, 10*time.Second, `window.ebrcs.view === 'server' && !document.querySelector('[data-testid="preview"]').checkVisibility() && document.querySelector('[data-testid="view-note"]').textContent === ''`, "the returned video to be shown again")

	// Staff choose: the preview while the video flows, the video while it stalls.
	unlockStaffMode(t, page)
	page.click(t, "view-local")
	page.waitJS(t, 3*time.Second, `window.ebrcs.viewMode === 'local' && window.ebrcs.view === 'local'`, "the preview chosen by staff")
	if v := view(); v.Note != "" {
		t.Errorf("the preview chosen by staff says %q", v.Note)
	}
	checkAxe(t, page, "staff's choice of video")
	page.click(t, "view-server")
	resume = stallReturnedVideo(t)
	time.Sleep(2 * time.Second)
	if v := view(); v.View != "server" || v.PreviewShown {
		t.Errorf("staff chose the server's video, yet with it stalled the page shows %+v", v)
	}
	page.click(t, "view-auto")
	page.waitJS(t, 3*time.Second, `window.ebrcs.viewMode === 'auto' && window.ebrcs.view === 'local'`, "automatic to show the preview for the stalled video")
	resume()
	page.waitJS(t, 10*time.Second, `window.ebrcs.view === 'server'`, "the returned video again")

	// Pause: the stream closes, the returned video's place is empty again.
	page.click(t, "stop-button")
	page.waitJS(t, 5*time.Second, `window.ebrcs.state === 'ended' && window.ebrcs.annotationsState === 'closed' && window.ebrcs.view === 'server'`, "the annotation stream to close")
	n := view().Annotations
	time.Sleep(time.Second)
	if got := view().Annotations; got != n {
		t.Errorf("%d annotations came after Pause", got-n)
	}
}
