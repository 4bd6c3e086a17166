package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/internal/cores"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/recognition"
	"github.com/ebrcs/ebrcs/signaling"
	"github.com/ebrcs/ebrcs/testkit/camclip"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
	"github.com/ebrcs/ebrcs/testkit/liveload"
	"github.com/ebrcs/ebrcs/testkit/scenario"
	"github.com/ebrcs/ebrcs/testkit/testenv"
)

// liveEnv is the whole server (checkout API, admin API, WHIP) on loopback with the shipped
// live pipeline, and the scenario suite's videos.
type liveEnv struct {
	url, token string
	emb        *recognition.Embedder
	guard      *access.Guard
	srv        *httptest.Server
	rtc        *signaling.Service
	mgr        *checkout.Manager
	products   []scenario.Product
	videos     map[string]string
	truths     map[string]scenario.GroundTruth
}

// liveMaxPublishers is the admission limit of the servers newLiveEnv starts: none, so that
// the benchmarks can overload them; EBRCS_BENCH_ADMISSION sets it (0: the default, derived
// from the measured cost of a session; N: a fixed limit), to see what a store's server does
// past its capacity.
var liveMaxPublishers = func() int {
	if v, err := strconv.Atoi(os.Getenv("EBRCS_BENCH_ADMISSION")); err == nil {
		return v
	}
	return -1
}()

type oneSpec struct{ spec *pipelines.Spec }

func (o oneSpec) Spec(name string) *pipelines.Spec {
	if name == o.spec.Name {
		return o.spec
	}
	return nil
}

// newLiveEnv starts the server; the catalog holds every scenario product except those in skip.
func newLiveEnv(b testing.TB, maxSessions int, skip ...string) *liveEnv {
	gsttest.Init(b)
	cores.ForCallbacks() // as the server runs (the testing package resets GOMAXPROCS)
	dir := b.TempDir()
	env := &liveEnv{token: "bench-admin-token-0123456789", products: scenario.SyntheticProducts(6, 1),
		videos: map[string]string{}, truths: map[string]scenario.GroundTruth{}}
	env.guard = &access.Guard{AdminToken: env.token}
	suite, err := scenario.Suite(env.products)
	if err != nil {
		b.Fatal(err)
	}
	for _, sc := range suite {
		switch sc.Name {
		case "busy-checkout", "two-products", "long-stop":
			video, _, err := scenario.Generate(dir, sc, env.products, "mp4")
			if err != nil {
				b.Fatal(err)
			}
			env.videos[sc.Name] = video
			env.truths[sc.Name], _ = sc.Truth(env.products)
		}
	}
	emb, err := recognition.OpenEmbedder("", "../models")
	if err != nil {
		b.Fatal(err)
	}
	env.emb = emb
	catDir := filepath.Join(dir, "catalog")
	cat, err := recognition.OpenCatalog(catDir, emb, data.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range env.products {
		if strings.Contains(strings.Join(skip, "\n"), p.Name) {
			continue
		}
		var buf bytes.Buffer
		png.Encode(&buf, p.Image)
		if _, err := cat.AddProduct(data.NewProduct{Name: p.Name, Images: [][]byte{buf.Bytes()}}); err != nil {
			b.Fatal(err)
		}
	}
	// EBRCS_BENCH_PIPELINE measures another pipeline file in place of the shipped one (an A/B
	// of a setting, run side by side on one machine).
	pipelineFile := "../configs/pipelines/live.yaml"
	if v := os.Getenv("EBRCS_BENCH_PIPELINE"); v != "" {
		pipelineFile = v
	}
	raw, err := os.ReadFile(pipelineFile)
	if err != nil {
		b.Fatal(err)
	}
	models, _ := filepath.Abs("../models")
	text := testenv.PointPipeline(b, string(raw), catDir, models)
	if size := os.Getenv("EBRCS_BENCH_RETURN_SIZE"); size != "" { // camera, compact or auto
		text = sinkSetting(b, text, "size", size)
	}
	if rate := os.Getenv("EBRCS_BENCH_RETURN_RATE"); rate != "" { // full, half or auto
		text = sinkSetting(b, text, "rate", rate)
	}
	if codec := os.Getenv("EBRCS_BENCH_RETURN_CODEC"); codec != "" { // h264: the annotated video back in H.264
		text = strings.Replace(text, "type: webrtc\n  bitrate", "type: webrtc\n  codec: "+codec+"\n  bitrate", 1)
	}
	spec, err := pipelines.Load("live.yaml", []byte(text))
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The pipeline gives new sessions its counting area, as the server's checkout pipeline
	// does: without it a session would have no area (no entries, no visits to decide).
	env.mgr, err = checkout.NewManager(checkout.Config{Pipeline: spec, Store: cat, MaxSessions: maxSessions, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	compactAbove, _ := strconv.Atoi(os.Getenv("EBRCS_BENCH_COMPACT_ABOVE"))    // 0: the server's default
	halfRateAbove, _ := strconv.Atoi(os.Getenv("EBRCS_BENCH_HALF_RATE_ABOVE")) // 0: the server's default
	env.rtc, err = signaling.NewService(signaling.Config{LoopbackOnly: true, MaxPublishers: liveMaxPublishers,
		CompactAbove: compactAbove, HalfRateAbove: halfRateAbove},
		oneSpec{spec}, env.mgr, nil, env.guard, quiet)
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{Pipelines: noPipelines{}, Checkout: env.mgr, Catalog: cat, Guard: env.guard, WebRTC: env.rtc, Logger: quiet}
	env.srv = httptest.NewServer(s.Handler())
	env.url = env.srv.URL
	b.Cleanup(func() {
		env.srv.Close()
		env.rtc.Close()
		env.mgr.Close()
		recognition.CloseAll()
	})
	return env
}

// sinkSetting sets a live pipeline's webrtc sink size or rate (EBRCS_BENCH_RETURN_SIZE,
// _RATE), both shipped auto.
func sinkSetting(tb testing.TB, text, field, value string) string {
	shipped := "\n  " + field + ": auto\n"
	if !strings.Contains(text, shipped) {
		tb.Fatalf("the live pipeline's sink has no %q", shipped)
	}
	return strings.Replace(text, shipped, "\n  "+field+": "+value+"\n", 1)
}

// countEvents follows a session's SSE stream and sends the arrival time of every count event.
func (env *liveEnv) countEvents(ctx context.Context, session string) <-chan time.Time {
	out := make(chan time.Time, 100)
	req, _ := http.NewRequestWithContext(ctx, "GET", env.url+"/api/sessions/"+session+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+env.token) // staff may follow every session
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		close(out)
		return out
	}
	go func() {
		defer close(out)
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.TrimSpace(line) == "event: count" {
				out <- time.Now()
			}
		}
	}()
	return out
}

func pct(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

// BenchmarkLiveSessions measures the live checkout as its users see it, from outside the
// server's process: N independent pion WHIP clients (a child process, so that the server's
// CPU and runtime are its own) replay the camera clip (testkit/camclip: 640×480 at 15 fps,
// sensor noise, flicker, a lighting drift, VP8 at 1.5 Mbit/s encoded once) and decode the
// annotated video that comes back, reading the frame number stamped into each picture.
// Per N: the worst and the mean session's share of its frames that came back annotated
// (after its first), the slowest first picture, the p95 latency from sending a frame to
// decoding its annotated picture (all pictures; and the worst session's own), damaged
// pictures, carts equal to the ground truth, the p95 from a counted visit's entry frame to
// its count event, and the cores the server used. The clients start in step (the same
// frame of the same clip at the same moment: every session shows its products, and sends
// its keyframes, together, the worst case); EBRCS_BENCH_STAGGER=125ms starts each that much
// after the one before, as independent cameras would. EBRCS_BENCH_SESSIONS=1,8,16 chooses the N;
// EBRCS_BENCH_PROFILE=DIR writes a CPU profile (pprof) and, with perf installed, a native
// profile (perf record) of the server for each N.
func BenchmarkLiveSessions(b *testing.B) {
	ns := benchSessions(b, []int{1, 4, 8, 12, 16, 20, 24, 32})
	env := newLiveEnv(b, 64)
	clip := savedClip(b, env, camclip.Config{})
	for _, n := range ns {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				opts := liveload.Options{Sessions: n, Stagger: benchStagger(b)}
				reportLive(b, fmt.Sprintf("N=%d", n), runLiveLoad(b, env, clip, opts, fmt.Sprint(n)))
			}
		})
	}
}

// BenchmarkLiveCountLatency: one camera at 640×480, 30 fps; from the moment the frame where a
// product's entry is visible (its centre inside the ROI) is sent to the moment the count event
// arrives at the client over SSE, for every counted visit of two scenarios, five times over
// (30 visits; EBRCS_BENCH_ROUNDS changes the five), each a fresh session.
func BenchmarkLiveCountLatency(b *testing.B) {
	env := newLiveEnv(b, 8)
	api, _ := signaling.ClientAPI(true)
	rounds := 5
	if v, err := strconv.Atoi(os.Getenv("EBRCS_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	var lat []float64
	for i := 0; i < b.N*rounds; i++ {
		for _, name := range []string{"two-products", "busy-checkout"} {
			truth := env.truths[name]
			// A keyframe every 10 frames: the pipeline starts decoding at once, as with a live
			// camera that answers the server's keyframe request.
			frames, err := signaling.EncodeVideoKeyframes(env.videos[name], "VP8", 30, 2000, 10)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			c, err := signaling.Publish(ctx, api, env.url+"/whip/live", "VP8", nil)
			if err != nil {
				b.Fatal(err)
			}
			counts := env.countEvents(ctx, c.Session)
			sent := make([]time.Time, len(frames))
			c.Send(ctx, frames, 30, sent)
			time.Sleep(time.Second)
			c.Close()
			cancel()
			var got []time.Time
			for t := range counts {
				got = append(got, t)
			}
			var visits []scenario.Visit
			for _, v := range truth.Visits {
				if v.Counted {
					visits = append(visits, v)
				}
			}
			if len(got) != len(visits) {
				b.Fatalf("%s: %d count events, %d counted visits in the ground truth", name, len(got), len(visits))
			}
			for k, v := range visits {
				l := float64(got[k].Sub(sent[min(v.EntryFrame, len(sent)-1)])) / 1e6
				lat = append(lat, l)
				b.Logf("%s: %s counted %.0f ms after its entry frame was sent", name, v.Product, l)
			}
		}
	}
	b.ReportMetric(pct(lat, 0.5), "p50-ms")
	b.ReportMetric(pct(lat, 0.95), "p95-ms")
	b.ReportMetric(pct(lat, 1), "max-ms")
	b.ReportMetric(float64(len(lat))/float64(b.N), "counts")
}

// BenchmarkRegisterUntilRecognised: a camera holds an unregistered product in the ROI (the
// long-stop scenario); 1.5 s into the hold a 3-image product is registered through the admin
// API; measured from the start of the POST to the count event at the client (SSE).
func BenchmarkRegisterUntilRecognised(b *testing.B) {
	products := scenario.SyntheticProducts(6, 1)
	suite, _ := scenario.Suite(products)
	var product string
	var entry int
	for _, sc := range suite {
		if sc.Name == "long-stop" {
			tr, _ := sc.Truth(products)
			product, entry = tr.Visits[0].Product, tr.Visits[0].EntryFrame
		}
	}
	env := newLiveEnv(b, 8, product)
	var img image.Image
	for _, p := range env.products {
		if p.Name == product {
			img = p.Image
		}
	}
	images := productPhotos(img)
	api, _ := signaling.ClientAPI(true)
	frames, err := signaling.EncodeVideo(env.videos["long-stop"], "VP8", 30, 2000)
	if err != nil {
		b.Fatal(err)
	}
	var lat []float64
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c, err := signaling.Publish(ctx, api, env.url+"/whip/live", "VP8", nil)
		if err != nil {
			b.Fatal(err)
		}
		counts := env.countEvents(ctx, c.Session)
		done := make(chan struct{})
		go func() { c.Send(ctx, frames, 30, nil); close(done) }()
		time.Sleep(time.Duration(entry)*time.Second/30 + 1500*time.Millisecond)
		start := time.Now()
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		w.WriteField("name", product)
		for k, im := range images {
			fw, _ := w.CreateFormFile("images", fmt.Sprintf("%d.png", k))
			fw.Write(im)
		}
		w.Close()
		req, _ := http.NewRequest("POST", env.url+"/api/products", &body)
		req.Header.Set("Content-Type", w.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+env.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			b.Fatalf("register: %v %v", err, resp)
		}
		var created struct{ ID int64 }
		json.NewDecoder(resp.Body).Decode(&created)
		resp.Body.Close()
		select {
		case t, ok := <-counts:
			if !ok {
				b.Fatal("event stream ended")
			}
			lat = append(lat, float64(t.Sub(start))/1e6)
		case <-time.After(10 * time.Second):
			b.Fatal("the registered product was never counted")
		}
		<-done
		c.Close()
		cancel()
		// Remove it for the next round.
		req, _ = http.NewRequest("DELETE", fmt.Sprintf("%s/api/products/%d", env.url, created.ID), nil)
		req.Header.Set("Authorization", "Bearer "+env.token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	b.ReportMetric(pct(lat, 0.5), "p50-ms")
	b.ReportMetric(pct(lat, 1), "max-ms")
}

// productPhotos makes three PNG photos of a product: as is, slightly zoomed, and darker.
func productPhotos(img image.Image) [][]byte {
	bounds := img.Bounds()
	var out [][]byte
	for k := 0; k < 3; k++ {
		dst := image.NewRGBA(bounds)
		draw.Draw(dst, bounds, img, bounds.Min, draw.Src)
		switch k {
		case 1:
			inner := bounds.Inset(bounds.Dx() / 12)
			z := image.NewRGBA(bounds)
			for y := 0; y < bounds.Dy(); y++ {
				for x := 0; x < bounds.Dx(); x++ {
					sx := inner.Min.X + x*inner.Dx()/bounds.Dx()
					sy := inner.Min.Y + y*inner.Dy()/bounds.Dy()
					z.Set(x, y, dst.At(sx, sy))
				}
			}
			dst = z
		case 2:
			for i := range dst.Pix {
				if i%4 != 3 {
					dst.Pix[i] = uint8(int(dst.Pix[i]) * 85 / 100)
				}
			}
		}
		var buf bytes.Buffer
		png.Encode(&buf, dst)
		out = append(out, buf.Bytes())
	}
	return out
}

var _ = cart.EventCount

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchStagger reads EBRCS_BENCH_STAGGER (a duration; none: the sessions start in step).
func benchStagger(tb testing.TB) time.Duration {
	v := os.Getenv("EBRCS_BENCH_STAGGER")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		tb.Fatalf("EBRCS_BENCH_STAGGER=%q: want a duration such as 125ms", v)
	}
	return d
}
