package clustertest

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ebrcs/ebrcs/signaling"
	"github.com/ebrcs/ebrcs/testkit/natstest"
)

const chromiumPath = "/usr/bin/chromium"

// The checkout page of a node at its admission limit (one live camera): the page makes its
// session and offers its camera; the node sends the offer to a node with room (307). fetch
// cannot follow there (another origin, outside the page's connect-src 'self'), so whip.js sees
// an opaque redirect, finds the node with room in /api/nodes and opens the page there; the
// session the page had made on the full node is closed.
func TestPageMovesToNodeWithRoom(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two servers and Chromium")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium: %v (scripts/install-deps.sh installs it)", err)
	}
	broker := natstest.Start(t)
	n1 := newNode(t, "n1", broker.URL, limits{webrtc: "  max_publishers: 1\n"})
	n2 := newNode(t, "n2", broker.URL, limits{})
	n1.start(t, true)
	n2.start(t, true)
	// n1's one live camera.
	api, err := signaling.ClientAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	ctx0, cancel0 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel0()
	camera, err := signaling.Publish(ctx0, api, n1.base+"/whip/live", "VP8", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer camera.Close()
	if !strings.HasPrefix(camera.Location, n1.base) {
		t.Fatalf("the first camera went to %s", camera.Location)
	}
	waitFor(t, 15*time.Second, "n1 full, n2 with room, as n1 sees them", func() bool {
		list := n1.nodes(t)
		return len(list) == 2 && !list[0].Load.Room && list[0].Load.Publishers == 1 && list[1].Load.Room
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTime()
	if err := chromedp.Do(ctx, chromedp.Navigate(n1.base+"/")); err != nil {
		t.Fatal(err)
	}

	// The check: a plain fetch that follows the redirect fails (another origin), and one that
	// does not sees an opaque redirect with no Location to read.
	probe, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
		const stream = await navigator.mediaDevices.getUserMedia({ video: true });
		const pc = new RTCPeerConnection();
		pc.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendrecv' });
		await pc.setLocalDescription(await pc.createOffer());
		const sdp = pc.localDescription.sdp;
		const post = (redirect) => fetch('/whip/live', { method: 'POST', body: sdp, redirect,
			headers: { 'Content-Type': 'application/sdp' } });
		let follow;
		try { const r = await post('follow'); follow = 'status ' + r.status; } catch (e) { follow = e.name; }
		const r = await post('manual');
		pc.close();
		stream.getTracks().forEach((t) => t.stop());
		return JSON.stringify({ follow, manual: r.type, status: r.status, location: r.headers.get('Location') });
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	var seen struct {
		Follow, Manual string
		Status         int
		Location       *string
	}
	json.Unmarshal([]byte(probe), &seen)
	t.Logf("the page's fetch of the redirected offer: %s", probe)
	if seen.Follow != "TypeError" || seen.Manual != "opaqueredirect" || seen.Location != nil {
		t.Fatalf("fetch in the page: %s", probe)
	}

	// The shopper presses Start: the page makes its session on n1, offers its camera, and
	// moves to n2.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="start-button"]`))); err != nil {
		t.Fatal(err)
	}
	var where string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`)); err == nil {
			if where = href; where == n2.base+"/" {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if where != n2.base+"/" {
		t.Fatalf("the page is at %q, want n2's %s/", where, n2.base)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the page moved to %s (%q)", where, title)
	// The session the page made on n1 is closed; n1 keeps its camera's.
	if l := n1.nodes(t)[0].Load; l.Sessions != 1 || l.Publishers != 1 {
		t.Fatalf("n1 after the page left: %+v", l)
	}
}
