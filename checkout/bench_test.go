package checkout_test

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/internal/cores"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/recognition"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
	"github.com/ebrcs/ebrcs/testkit/scenario"
	"github.com/ebrcs/ebrcs/testkit/testenv"
)

// benchEnv is the scenario suite rendered to MP4 (640×480 at 30 fps) with a catalog of its
// products, built once per benchmark binary.
type benchEnv struct {
	dir      string
	catalog  string
	videos   map[string]string // scenario name → MP4
	truths   map[string]scenario.GroundTruth
	duration map[string]time.Duration
}

var (
	benchOnce sync.Once
	bench     benchEnv
	benchErr  error
)

func setupBench(b *testing.B) *benchEnv {
	gsttest.Init(b)
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ebrcs-bench-")
		if err != nil {
			benchErr = err
			return
		}
		bench = benchEnv{dir: dir, catalog: filepath.Join(dir, "catalog"), videos: map[string]string{},
			truths: map[string]scenario.GroundTruth{}, duration: map[string]time.Duration{}}
		products := scenario.SyntheticProducts(6, 1)
		suite, err := scenario.Suite(products)
		if err != nil {
			benchErr = err
			return
		}
		for _, sc := range suite {
			video, _, err := scenario.Generate(dir, sc, products, "mp4")
			if err != nil {
				benchErr = err
				return
			}
			truth, _ := sc.Truth(products)
			bench.videos[sc.Name], bench.truths[sc.Name], bench.duration[sc.Name] = video, truth, sc.Duration()
		}
		emb, err := recognition.OpenEmbedder("", "../models")
		if err != nil {
			benchErr = err
			return
		}
		cat, err := recognition.OpenCatalog(bench.catalog, emb, data.Options{})
		if err != nil {
			benchErr = err
			return
		}
		for _, p := range products {
			var buf bytes.Buffer
			png.Encode(&buf, p.Image)
			if _, err := cat.AddProduct(data.NewProduct{Name: p.Name, Images: [][]byte{buf.Bytes()}}); err != nil {
				benchErr = err
				return
			}
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return &bench
}

// shippedPipeline loads configs/pipelines/checkout.yaml with the bench catalog and models.
func shippedPipeline(b *testing.B, catalog string, realtime bool) *pipelines.Spec {
	raw, err := os.ReadFile("../configs/pipelines/checkout.yaml")
	if err != nil {
		b.Fatal(err)
	}
	models, _ := filepath.Abs("../models")
	text := testenv.PointPipeline(b, string(raw), catalog, models)
	if realtime {
		text = strings.Replace(text, "  type: file\n", "  type: file\n  realtime: true\n", 1)
	}
	spec, err := pipelines.Load("checkout.yaml", []byte(text))
	if err != nil {
		b.Fatal(err)
	}
	return spec
}

// decodeOnly is the reference: the same file decoded and converted to RGBA, no analysis.
func decodeOnly(b *testing.B) *pipelines.Spec {
	spec, err := pipelines.Load("decode.yaml", []byte("name: decode\nsource: {type: file}\nelements:\n"+
		"  - element: queue\n  - element: videoconvert\n  - caps: video/x-raw,format=RGBA\nsink: {type: fake}\n"))
	if err != nil {
		b.Fatal(err)
	}
	return spec
}

// runOnce processes a video to its end and returns the cart and, per count event, the time
// from the entry frame entering the analysis chain to the event.
func runOnce(b *testing.B, spec *pipelines.Spec, video string) (map[string]int, []cart.Event, map[time.Duration]time.Time, time.Time) {
	run, err := checkout.NewRun()
	if err != nil {
		b.Fatal(err)
	}
	defer run.Close()
	sub := run.Events.Subscribe(-1, 1000)
	var mu sync.Mutex
	arrived := map[time.Duration]time.Time{} // PTS → when the frame entered the chain
	var counts []cart.Event
	var recv sync.WaitGroup
	recv.Add(1)
	go func() {
		defer recv.Done()
		for e := range sub.C {
			if e.Type == cart.EventCount {
				counts = append(counts, e)
			}
		}
	}()
	first := true
	binding := run.Binding()
	countInto := binding.Configure
	binding.Configure = func(step *pipelines.Step, el *gst.Element) error {
		if first { // the first element: frames enter the analysis chain here, decoded
			first = false
			el.GetStaticPad("sink").AddProbe(gst.PadProbeTypeBuffer, func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
				now := time.Now()
				mu.Lock()
				arrived[time.Duration(info.GetBuffer().PresentationTimestamp())] = now
				mu.Unlock()
				return gst.PadProbeOK
			})
		}
		return countInto(step, el)
	}
	sup := pipelines.NewSupervisor(spec, pipelines.SupervisorOptions{Input: video, MaxRestarts: 0, Binding: binding})
	start := time.Now()
	sup.Start()
	<-sup.Done()
	if st := sup.Status(); st.State != pipelines.StateFinished {
		b.Fatalf("%s: %s %s", video, st.State, st.LastError)
	}
	run.Events.Close()
	recv.Wait()
	return run.Cart.View().Totals(), counts, arrived, start
}

// BenchmarkCheckoutFile: the shipped checkout pipeline on the scenario suite's longest video
// (640×480, 30 fps, H.264), as fast as the machine allows, next to decoding alone. The
// metric x-realtime is video seconds per processing second (target ≥ 5 on 2 cores).
func BenchmarkCheckoutFile(b *testing.B) {
	env := setupBench(b)
	defer recognition.CloseAll()
	const name = "busy-checkout"
	for _, c := range []struct {
		name string
		spec *pipelines.Spec
	}{{"decode-only", decodeOnly(b)}, {"checkout", shippedPipeline(b, env.catalog, false)}} {
		b.Run(c.name, func(b *testing.B) {
			cores.ForCallbacks() // as the server runs (the testing package resets GOMAXPROCS)
			var total time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				items, _, _, _ := runOnce(b, c.spec, env.videos[name])
				total += time.Since(t0)
				if c.name == "checkout" && len(items) != len(env.truths[name].Items) {
					b.Fatalf("cart %v, ground truth %v", items, env.truths[name].Items)
				}
			}
			perRun := total / time.Duration(b.N)
			b.ReportMetric(env.duration[name].Seconds()/perRun.Seconds(), "x-realtime")
			b.ReportMetric(float64(env.truths[name].Frames)/perRun.Seconds(), "frames/s")
		})
	}
}

// BenchmarkCountLatency measures, over every counted visit of the suite:
//   - proc: processing latency, from the counted frame entering the analysis chain (decoded)
//     to its count event (target p95 ≤ 150 ms);
//   - e2e: from the frame where the product's entry is visible (the ground truth's entry
//     frame) to the count event, which adds the wait for a confident recognition;
//   - wait: that wait, in frames of stream time.
//
// "fast" processes the files as fast as possible (frames queue up behind the analysis, and
// stream time is compressed); "camera" paces them at 30 fps like a live camera (three
// scenarios).
func BenchmarkCountLatency(b *testing.B) {
	env := setupBench(b)
	defer recognition.CloseAll()
	names := make([]string, 0, len(env.videos))
	for n := range env.videos {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, mode := range []struct {
		name     string
		realtime bool
		videos   []string
	}{{"fast", false, names}, {"camera", true, []string{"busy-checkout", "hand-held", "two-products"}}} {
		b.Run(mode.name, func(b *testing.B) {
			cores.ForCallbacks() // as the server runs (the testing package resets GOMAXPROCS)
			spec := shippedPipeline(b, env.catalog, mode.realtime)
			var proc, e2e, wait []float64
			for i := 0; i < b.N; i++ {
				for _, name := range mode.videos {
					truth := env.truths[name]
					_, counts, arrived, _ := runOnce(b, spec, env.videos[name])
					fps := float64(truth.FPS)
					nearest := func(t float64) (time.Time, bool) {
						pts := time.Duration(t * float64(time.Second))
						for p, at := range arrived {
							if d := p - pts; d > -5*time.Millisecond && d < 5*time.Millisecond {
								return at, true
							}
						}
						return time.Time{}, false
					}
					for _, e := range counts {
						// The visit this count belongs to. The detected entry may precede the
						// ground truth's (a hand ahead of the product moves the blob's centre
						// into the ROI first), so allow half a second before it.
						entry := -1
						for _, v := range truth.Visits {
							if float64(v.EntryFrame)/fps-0.5 <= e.StreamTime && e.StreamTime <= float64(v.ExitFrame)/fps {
								entry = v.EntryFrame
							}
						}
						counted, ok1 := nearest(e.StreamTime)
						visible, ok2 := nearest(float64(entry) / fps)
						if entry < 0 || !ok1 || !ok2 {
							b.Fatalf("%s: count at %.3fs matches no decoded frame or visit", name, e.StreamTime)
						}
						proc = append(proc, ms(e.Time.Sub(counted)))
						e2e = append(e2e, ms(e.Time.Sub(visible)))
						wait = append(wait, max(e.StreamTime*fps-float64(entry), 0))
					}
				}
			}
			if len(proc) == 0 {
				b.Fatal("no count events")
			}
			b.ReportMetric(percentile(proc, 0.5), "proc-p50-ms")
			b.ReportMetric(percentile(proc, 0.95), "proc-p95-ms")
			b.ReportMetric(percentile(e2e, 0.95), "e2e-p95-ms")
			b.ReportMetric(percentile(wait, 0.95), "wait-p95-frames")
			b.ReportMetric(float64(len(proc))/float64(b.N), "counts")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func percentile(v []float64, q float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}
