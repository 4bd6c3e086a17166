package elements_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	cartpkg "github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/recognition"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// product draws a synthetic product, size×size: each has its own colours and pattern, so the
// real encoder can tell them apart as it would real packaging.
func product(kind, size int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			var c color.RGBA
			switch kind {
			case 0: // red and white stripes
				if (y/12)%2 == 0 {
					c = color.RGBA{210, 30, 30, 255}
				} else {
					c = color.RGBA{245, 245, 245, 255}
				}
			case 1: // blue dots on yellow
				dx, dy := float64(x%24-12), float64(y%24-12)
				if dx*dx+dy*dy < 50 {
					c = color.RGBA{20, 40, 200, 255}
				} else {
					c = color.RGBA{250, 220, 40, 255}
				}
			default: // green and black checks
				if (x/20+y/20)%2 == 0 {
					c = color.RGBA{30, 170, 60, 255}
				} else {
					c = color.RGBA{20, 20, 20, 255}
				}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func pngBytes(t *testing.T, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The whole recognition chain on a real pipeline with the real encoder and a real catalog:
// a product slides into the ROI; on the frames the gate picks, ebrcs_embed embeds the crop
// and ebrcs_match names the product from the visit's crops so far, fused. (With three
// products the catalog scores by cosine, whose calibrated count bar these drawings do not
// always reach: the verdict must name the product, and count it or ask, never call it
// unknown.)
func TestRecognitionChain(t *testing.T) {
	gsttest.Init(t)
	defer recognition.CloseAll()
	names := []string{"Stripes", "Dots", "Checks"}
	dataDir := t.TempDir()
	emb, err := recognition.OpenEmbedder("", "../models")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := recognition.OpenCatalog(dataDir, emb, data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		if _, err := cat.AddProduct(data.NewProduct{Name: n, Images: [][]byte{pngBytes(t, product(i, 160))}}); err != nil {
			t.Fatal(err)
		}
	}

	for shown, name := range names {
		t.Run(name, func(t *testing.T) {
			const w, h, frames = 320, 240, 90
			clip := filepath.Join(t.TempDir(), "clip.rgb")
			f, _ := os.Create(clip)
			obj := product(shown, 100)
			frame := make([]byte, w*h*3)
			for i := 0; i < frames; i++ {
				for p := 0; p < w*h; p++ {
					x, y := p%w, p/w
					v := byte(150 + 30*math.Sin(float64(x)/11) + 20*math.Cos(float64(y)/9))
					frame[p*3], frame[p*3+1], frame[p*3+2] = v, v, v-20
				}
				if i >= 40 { // slides in from the left and stops in the middle
					left := min(-100+8*(i-40), 110)
					for y := 70; y < 170; y++ {
						for x := max(left, 0); x < min(left+100, w); x++ {
							c := obj.RGBAAt(x-left, y-70)
							p := (y*w + x) * 3
							frame[p], frame[p+1], frame[p+2] = c.R, c.G, c.B
						}
					}
				}
				f.Write(frame)
			}
			f.Close()
			out := gsttest.Collect(t, fmt.Sprintf("filesrc location=%s ! rawvideoparse width=%d height=%d format=rgb framerate=30/1 ! "+
				"videoconvert ! video/x-raw,format=RGBA ! ebrcs_bgsub process-width=0 ! "+
				`ebrcs_roigate roi="0.3,0.1;0.9,0.1;0.9,0.9;0.3,0.9" ! ebrcs_embed model-dir=../models ! `+
				"ebrcs_match catalog=%s model-dir=../models ! appsink name=out sync=false", clip, w, h, dataDir), 60*time.Second)
			var recognised, right, fused int
			for i, fr := range out {
				m := fr.Meta
				if m == nil || m.Gate == nil {
					t.Fatalf("frame %d: no gate", i)
				}
				if !m.Gate.Recognize {
					if m.Embedding != nil || m.Match != nil {
						t.Fatalf("frame %d: embedded without the gate asking", i)
					}
					continue
				}
				if len(m.Embedding) != emb.Dim() || m.EmbeddingModel != emb.Fingerprint() || m.Match == nil || m.CropImage == nil {
					t.Fatalf("frame %d: embedding %d-d model %q match %+v", i, len(m.Embedding), m.EmbeddingModel, m.Match)
				}
				if m.Match.Frames != fused+1 || m.Match.Crop == nil {
					t.Fatalf("frame %d: the verdict fuses %d crops (crop %v), want %d", i, m.Match.Frames, m.Match.Crop != nil, fused+1)
				}
				fused++
				// Judge the frames where the whole product is in the crop (it slides in, and
				// once it stops the background model slowly absorbs it).
				if m.Gate.Main.Dx() >= 100 && m.Gate.Main.Min.X >= 0 {
					recognised++
					if m.Match.Product == name && m.Match.Decision != framemeta.DecisionUnknown && m.Match.Score > m.Match.Second {
						right++
					} else {
						t.Errorf("frame %d: %s recognised as %s (%.3f, second %.3f, %s)", i, name, m.Match.Product, m.Match.Score, m.Match.Second, m.Match.Decision)
					}
				}
				if len(m.Match.Candidates) != len(names) {
					t.Fatalf("frame %d: %d candidates, want every product", i, len(m.Match.Candidates))
				}
			}
			if recognised < 3 || right != recognised {
				t.Fatalf("%s recognised right %d of %d times", name, right, recognised)
			}
		})
	}
}

// A matcher whose catalog uses another embedder than the one that embedded the crop stops the
// pipeline with a message saying so, instead of comparing incomparable vectors.
func TestMatchRefusesForeignEmbeddings(t *testing.T) {
	gsttest.Init(t)
	defer recognition.CloseAll()
	colour := filepath.Join(t.TempDir(), "colour.yaml")
	os.WriteFile(colour, []byte("threshold: 0.5\nencoders: [{kind: color}]\n"), 0o644)
	_, err := gsttest.Run(fmt.Sprintf("videotestsrc num-buffers=40 pattern=ball ! video/x-raw,width=320,height=240,format=RGBA ! "+
		"ebrcs_bgsub process-width=0 warmup-frames=2 ! ebrcs_roigate detect-every-n-frames=1 ! ebrcs_embed model-dir=../models ! "+
		"ebrcs_match catalog=%s embedder=%s ! appsink name=out sync=false", t.TempDir(), colour), 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "give ebrcs_embed and ebrcs_match the same embedder") {
		t.Fatalf("got %v", err)
	}
}

// syntheticCatalog opens the shared default embedder and a catalog in a new data directory
// holding six synthetic products, one photo each, and returns the standard scenarios of them.
func syntheticCatalog(t *testing.T) ([]scenario.Product, *recognition.Embedder, string, []*scenario.Scenario) {
	t.Helper()
	products := scenario.SyntheticProducts(6, 1)
	emb, err := recognition.OpenEmbedder("", "../models")
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	cat, err := recognition.OpenCatalog(dataDir, emb, data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range products {
		if _, err := cat.AddProduct(data.NewProduct{Name: p.Name, Images: [][]byte{pngBytes(t, p.Image)}}); err != nil {
			t.Fatal(err)
		}
	}
	suite, err := scenario.Suite(products)
	if err != nil {
		t.Fatal(err)
	}
	return products, emb, dataDir, suite
}

// scenarioVideo renders the suite's scenario name, with more steps after its own, as an MP4
// and returns the file and its ground truth.
func scenarioVideo(t *testing.T, suite []*scenario.Scenario, products []scenario.Product, name string,
	more ...scenario.Step) (string, scenario.GroundTruth) {
	t.Helper()
	chosen, err := scenario.Select(suite, []string{name})
	if err != nil {
		t.Fatal(err)
	}
	sc := *chosen[0]
	sc.Steps = append(slices.Clone(sc.Steps), more...)
	video, _, err := scenario.Generate(t.TempDir(), &sc, products, "mp4")
	if err != nil {
		t.Fatal(err)
	}
	truth, err := sc.Truth(products)
	if err != nil {
		t.Fatal(err)
	}
	return video, truth
}

// In async mode (the live pipelines), once ebrcs_counter has decided a visit, ebrcs_embed
// recognises nothing more of it: the gate keeps asking (every N-th frame while the product
// stays), but no crop is embedded, and a crop that was waiting when the decision came is
// dropped. Only what was embedded or in flight at the count still arrives. Real pipeline, real encoder,
// a scenario video paced at its frame rate as a camera's would be.
func TestAsyncEmbedStopsOnceTheVisitIsDecided(t *testing.T) {
	gsttest.Init(t)
	defer recognition.CloseAll()
	products, _, dataDir, suite := syntheticCatalog(t)
	video, truth := scenarioVideo(t, suite, products, "two-products")
	out := gsttest.Collect(t, fmt.Sprintf("filesrc location=%s ! decodebin ! identity sync=true ! videoconvert ! video/x-raw,format=I420 ! "+
		"ebrcs_bgsub foreground-slowdown=10 ! ebrcs_roigate roi=\"0.2,0.15;0.8,0.15;0.8,0.95;0.2,0.95\" entry-burst=4 ! "+
		"ebrcs_embed model-dir=../models async=true ! ebrcs_match catalog=%s model-dir=../models ! ebrcs_counter ! appsink name=out sync=false",
		video, dataDir), 2*time.Minute)

	type visitLog struct {
		product              string
		asked, askedDecided  int // frames the gate asked to recognise; of them, after the count
		vectors, lateVectors int // vectors that came; of them, after the count
	}
	var visits []*visitLog
	var v *visitLog
	decided := false
	for _, fr := range out {
		m := fr.Meta
		if m == nil || m.Gate == nil {
			continue
		}
		if m.Gate.Entry {
			v, decided = &visitLog{}, false
			visits = append(visits, v)
		}
		if v == nil || !m.Gate.Occupied {
			continue
		}
		if m.Gate.Recognize {
			v.asked++
			if decided {
				v.askedDecided++
			}
		}
		if m.Embedding != nil {
			v.vectors++
			if decided {
				v.lateVectors++
			}
		}
		if m.Match != nil && m.Match.Decision == framemeta.DecisionCount && !decided {
			decided, v.product = true, m.Match.Product
		}
	}
	counted := 0
	for _, tv := range truth.Visits {
		if tv.Counted {
			counted++
		}
	}
	if len(visits) != counted {
		t.Fatalf("%d visits seen, the scenario has %d counted ones", len(visits), counted)
	}
	for i, v := range visits {
		t.Logf("visit %d: %s, gate asked %d times (%d after the count), %d vectors (%d after the count)",
			i, v.product, v.asked, v.askedDecided, v.vectors, v.lateVectors)
		if v.product != truth.Visits[i].Product {
			t.Errorf("visit %d counted %q, the scenario shows %q", i, v.product, truth.Visits[i].Product)
		}
		if v.askedDecided < 3 {
			t.Errorf("visit %d: the gate asked only %d times after the count: the visit is too short to tell", i, v.askedDecided)
		}
		// What was already embedded or in flight when the count came (one crop in flight,
		// and at most two vectors wait for frames) may still arrive; nothing asked later.
		if v.lateVectors > 2 {
			t.Errorf("visit %d: %d vectors after the count; only crops already embedded or in flight may still come", i, v.lateVectors)
		}
	}
}

// In async mode a visit whose vector comes only after the next visit has begun is still
// decided with it (Frame.Late): on a saturated server recognition falls behind the video, and
// the product swiped past just before the next one must still be counted, once. Real pipeline,
// real encoder; the frames go as fast as the machine decodes them, and other callers keep the
// shared embedder busy meanwhile, as other sessions' crops do, so that vectors come late.
func TestLateRecognitionsStillCount(t *testing.T) {
	gsttest.Init(t)
	defer recognition.CloseAll()
	products, emb, dataDir, suite := syntheticCatalog(t)
	// Then the counter stays empty long enough for every vector to come before the end.
	video, truth := scenarioVideo(t, suite, products, "three-products",
		scenario.Step{Kind: scenario.Idle, Duration: 30 * time.Second})
	// Other sessions' crops: the embedder is never idle while the pipeline runs.
	stopLoad := keepEmbedderBusy(t, emb, products[5].Image)
	out := gsttest.Collect(t, fmt.Sprintf("filesrc location=%s ! decodebin ! videoconvert ! video/x-raw,format=I420 ! "+
		"ebrcs_bgsub foreground-slowdown=10 ! ebrcs_roigate roi=\"0.2,0.15;0.8,0.15;0.8,0.95;0.2,0.95\" entry-burst=4 ! "+
		"ebrcs_embed model-dir=../models async=true ! ebrcs_match catalog=%s model-dir=../models ! ebrcs_counter ! appsink name=out sync=false",
		video, dataDir), 2*time.Minute)
	stopLoad()

	late := 0
	var cartLines []framemeta.CartLine
	for _, fr := range out {
		if fr.Meta == nil {
			continue
		}
		if fr.Meta.Late != nil {
			late++
		}
		cartLines = fr.Meta.Cart
	}
	want := map[string]int{}
	for _, v := range truth.Visits {
		if v.Counted {
			want[v.Product]++
		}
	}
	got := map[string]int{}
	for _, l := range cartLines {
		got[l.Product] = l.Quantity
	}
	t.Logf("%d frames, %d late recognitions; cart %v", len(out), late, got)
	if late == 0 {
		t.Fatal("no recognition came after its visit: the load did not put recognition behind the video, so this test tells nothing")
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("cart %v, the scenario counts %v", got, want)
		for i, fr := range out { // what was decided, to tell recognition from counting
			if m := fr.Meta; m != nil && (m.Match != nil || (m.Late != nil && m.Late.Match != nil)) {
				if m.Match != nil {
					t.Logf("frame %d: %s %.2f %s (frames %d)", i, m.Match.Product, m.Match.Score, m.Match.Decision, m.Match.Frames)
				}
				if m.Late != nil && m.Late.Match != nil {
					t.Logf("frame %d: late %s %.2f %s", i, m.Late.Match.Product, m.Late.Match.Score, m.Late.Match.Decision)
				}
			}
		}
	}
}

// keepEmbedderBusy has 16 goroutines embed img over and over, as other sessions' crops would,
// until the returned function is called.
func keepEmbedderBusy(t *testing.T, emb *recognition.Embedder, img image.Image) (stop func()) {
	done := make(chan struct{})
	var load sync.WaitGroup
	for range 16 {
		load.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := emb.EmbedQuery(img); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	return func() { close(done); load.Wait() }
}

// A camera that stops sending right after its last product (the shopper closed the page; a
// stalled stream) must not leave that product waiting for a frame that never comes: once
// no frame has come for a moment, ebrcs_embed sends the vectors that are ready without one,
// and ebrcs_counter decides their visits. Real pipeline, real encoder, real catalog; the
// file's end of stream is held back from the analysis, so the pipeline stays up with no
// more frames, as a live session's does. Whether recognition is still behind when the
// frames stop depends on the machine, so the scenario runs up to three times: every cart
// must be right, and at least one run must have sent a vector without a frame.
func TestRecognitionAfterTheCameraStopsStillCounts(t *testing.T) {
	gsttest.Init(t)
	defer recognition.CloseAll()
	products, emb, dataDir, suite := syntheticCatalog(t)
	video, truth := scenarioVideo(t, suite, products, "three-products")
	// The camera stops soon after the last product left: its visit has ended (the ROI is
	// clear for roi-clear-frames).
	last := truth.Visits[len(truth.Visits)-1]
	for attempt := 1; attempt <= 3; attempt++ {
		// Other sessions' crops keep the embedder busy while the frames flow, so that
		// recognition is behind when they stop; then those sessions end too, as when every
		// camera stops together, and what is pending is recognised at once.
		stopLoad := sync.OnceFunc(keepEmbedderBusy(t, emb, products[5].Image))
		got, sent := runUntilQuiet(t, video, dataDir, int64(last.ExitFrame+10), attempt, fmt.Sprint(truth.Items), stopLoad)
		stopLoad()
		if got != fmt.Sprint(truth.Items) {
			t.Fatalf("run %d: cart %s after the camera stopped, the scenario counts %v", attempt, got, truth.Items)
		}
		if sent > 0 {
			return
		}
	}
	t.Fatal("in every run all vectors came while frames still flowed: recognition was never behind when the camera stopped, so this test tells nothing")
}

// runUntilQuiet runs the live analysis on video into a cart of its own, passes only its
// first stopAfter frames and holds back its end of stream, calls cameraStopped once they have
// all gone, then waits (at most a minute) until the cart is want and returns the cart and how
// many vectors ebrcs_embed sent without a frame.
func runUntilQuiet(t *testing.T, video, dataDir string, stopAfter int64, attempt int, want string,
	cameraStopped func()) (cart string, sent int64) {
	t.Helper()
	key := fmt.Sprintf("stops-%s-%d", t.Name(), attempt)
	target := cartpkg.NewCart(cartpkg.NewBus(64))
	// Every event of the cart, to tell whether it ever showed a product being recognised
	// (polling could miss it on a loaded machine: it may last only half a second).
	events := target.Events().Subscribe(-1, 4096)
	defer events.Close()
	if err := cartpkg.Register(key, target); err != nil {
		t.Fatal(err)
	}
	defer cartpkg.Unregister(key)
	pipeline, err := gst.NewPipelineFromString(fmt.Sprintf("filesrc location=%s ! decodebin ! videoconvert ! video/x-raw,format=I420 ! "+
		"ebrcs_bgsub foreground-slowdown=10 ! ebrcs_roigate roi=\"0.2,0.15;0.8,0.15;0.8,0.95;0.2,0.95\" entry-burst=4 ! "+
		"ebrcs_embed name=embed model-dir=../models async=true ! ebrcs_match catalog=%s model-dir=../models ! "+
		"ebrcs_counter session=%s ! fakesink name=out sync=false", video, dataDir, key))
	if err != nil {
		t.Fatal(err)
	}
	defer pipeline.SetState(gst.StateNull)
	embed, err := pipeline.GetElementByName("embed")
	if err != nil {
		t.Fatal(err)
	}
	sink, err := pipeline.GetElementByName("out")
	if err != nil {
		t.Fatal(err)
	}
	var framesIn, framesOut atomic.Int64
	embed.GetStaticPad("sink").AddProbe(gst.PadProbeTypeBuffer|gst.PadProbeTypeEventDownstream,
		func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
			if info.Type()&gst.PadProbeTypeEventDownstream != 0 {
				if info.GetEvent().Type() == gst.EventTypeEOS {
					return gst.PadProbeDrop // the session stays, with no more frames
				}
				return gst.PadProbeOK
			}
			if framesIn.Load() >= stopAfter {
				return gst.PadProbeDrop
			}
			framesIn.Add(1)
			return gst.PadProbeOK
		})
	sink.GetStaticPad("sink").AddProbe(gst.PadProbeTypeBuffer, func(*gst.Pad, *gst.PadProbeInfo) gst.PadProbeReturn {
		framesOut.Add(1)
		return gst.PadProbeOK
	})
	if err := pipeline.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	// The cart and how many products it shows still being recognised, read together.
	cartNow := func() (string, int) {
		v := target.View()
		items := map[string]int{}
		for _, l := range v.Items {
			items[l.Product] = l.Quantity
		}
		return fmt.Sprint(items), v.Recognising
	}
	bus := pipeline.GetPipelineBus()
	var stopped time.Time
	// Vectors sent without a frame before the camera stopped: a slow machine (the race
	// detector) can hold frames up upstream for longer than ebrcs_embed's idle wait.
	var sentBefore int64
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
		if msg := bus.TimedPopFiltered(gst.ClockTime(50*time.Millisecond), gst.MessageError); msg != nil {
			t.Fatal(msg.ParseError())
		}
		if stopped.IsZero() && framesIn.Load() >= stopAfter {
			if v, err := embed.GetProperty("sent-idle"); err == nil {
				sentBefore = v.(int64)
			}
			cameraStopped()
			stopped = time.Now()
		}
		if stopped.IsZero() {
			continue
		}
		// What a shopper relies on: once nothing is being recognised, the cart is complete.
		got, recognising := cartNow()
		if recognising == 0 && got != want {
			t.Errorf("run %d: the cart shows nothing being recognised but is %s, the scenario counts %s", attempt, got, want)
		}
		if (got == want && recognising == 0) || time.Since(stopped) > time.Minute {
			break
		}
	}
	v, err := embed.GetProperty("sent-idle")
	if err != nil {
		t.Fatal(err)
	}
	cart, recognising := cartNow()
	t.Logf("run %d: %d frames in, %d out; %v vectors sent without a frame (%d before the camera stopped); cart %s, %d being recognised",
		attempt, framesIn.Load(), framesOut.Load(), v, sentBefore, cart, recognising)
	if recognising != 0 {
		t.Errorf("run %d: the cart still shows %d product(s) being recognised a minute after the camera stopped", attempt, recognising)
	}
	waited := false // the cart showed a product being recognised
	for drained := false; !drained; {
		select {
		case e := <-events.C:
			waited = waited || (e.Type == cartpkg.EventRecognising && e.Cart != nil && e.Cart.Recognising > 0)
		default:
			drained = true
		}
	}
	if v.(int64) > sentBefore && !waited {
		t.Errorf("run %d: vectors came after the camera stopped, yet the cart never showed a product being recognised", attempt)
	}
	if framesIn.Load() != stopAfter || framesOut.Load() != stopAfter {
		t.Fatalf("frames in %d, out %d, want %d: the stream did not run through", framesIn.Load(), framesOut.Load(), stopAfter)
	}
	return cart, v.(int64)
}
