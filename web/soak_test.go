package web

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/ebrcs/ebrcs/internal/malloctune"
	"github.com/ebrcs/ebrcs/signaling"
)

// TestSoak (make soak; skipped unless EBRCS_SOAK is a duration, e.g. 30m): sessions are
// created, streamed and dropped (half by DELETE, half abruptly) by pion clients, four at a
// time, while products are registered and removed; RSS and goroutines are sampled every 10 s
// and plotted (EBRCS_SOAK_OUT, default build/soak). Passes when RSS stays ≤ 600 MB and is
// flat after warm-up (the last third's mean within 15% of the second third's) and the
// goroutines are back to their baseline at the end.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("EBRCS_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("set EBRCS_SOAK=30m (make soak)")
	}
	out := os.Getenv("EBRCS_SOAK_OUT")
	if out == "" {
		out = "../build/soak"
	}
	os.MkdirAll(out, 0o755)
	env := newLiveEnv(t, 64)
	frames, err := signaling.EncodeVideo(env.videos["two-products"], "VP8", 15, 800)
	if err != nil {
		t.Fatal(err)
	}
	api, _ := signaling.ClientAPI(true)
	runtime.GC()
	baseline := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	go malloctune.TrimEvery(ctx, 30*time.Second) // as ebrcs serve does

	var samples []soakSample
	start := time.Now()
	var sessions, products int
	profiled := false
	var wg sync.WaitGroup
	slots := make(chan struct{}, 4)
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	register := time.NewTicker(15 * time.Second)
	defer register.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			s := sample(start)
			samples = append(samples, s)
			t.Logf("%v: RSS %.0f MB (Go heap %.0f, native %.0f + %.0f free), %d goroutines, %d sessions, %d products registered",
				s.at.Round(time.Second), s.rssMB, s.goHeapMB, s.nativeMB, s.freeMB, s.goroutines, sessions, products)
			if !profiled && s.at > d/3 {
				writeHeapProfile(filepath.Join(out, "heap-third.prof"))
				profiled = true
			}
		case <-register.C:
			products++
			if err := env.registerAndRemove(fmt.Sprintf("Soak product %d", products)); err != nil {
				t.Error(err)
			}
		case slots <- struct{}{}:
			sessions++
			wg.Add(1)
			go func(n int) {
				defer wg.Done()
				defer func() { <-slots }()
				c, err := signaling.Publish(ctx, api, env.url+"/whip/live", "VP8", nil)
				if err != nil {
					return // the soak is ending
				}
				c.Send(ctx, frames[:min(len(frames), 30+n%60)], 15, nil)
				if n%2 == 0 {
					c.PC.Close() // dropped abruptly
				} else {
					c.Close()
				}
			}(sessions)
		}
	}
	wg.Wait()
	time.Sleep(15 * time.Second) // abrupt drops are noticed within 8 s
	writeHeapProfile(filepath.Join(out, "heap-end.prof"))
	samples = append(samples, sample(start))
	if err := plotSoak(filepath.Join(out, "soak.png"), samples); err != nil {
		t.Error(err)
	}
	var csv strings.Builder
	csv.WriteString("seconds,rss_mb,goroutines,go_heap_mb,native_in_use_mb,native_free_mb\n")
	for _, s := range samples {
		fmt.Fprintf(&csv, "%.0f,%.1f,%d,%.1f,%.1f,%.1f\n", s.at.Seconds(), s.rssMB, s.goroutines, s.goHeapMB, s.nativeMB, s.freeMB)
	}
	os.WriteFile(filepath.Join(out, "soak.csv"), []byte(csv.String()), 0o644)
	t.Logf("%d sessions, %d products; plot %s", sessions, products, filepath.Join(out, "soak.png"))

	maxRSS := 0.0
	for _, s := range samples {
		maxRSS = max(maxRSS, s.rssMB)
	}
	if maxRSS > 600 {
		t.Errorf("RSS reached %.0f MB, want ≤ 600", maxRSS)
	}
	if n := len(samples); n >= 9 {
		mean := func(ss []soakSample) (m float64) {
			for _, s := range ss {
				m += s.rssMB
			}
			return m / float64(len(ss))
		}
		second, last := mean(samples[n/3:2*n/3]), mean(samples[2*n/3:])
		if last > 1.15*second {
			t.Errorf("RSS grows after warm-up: %.0f MB, then %.0f MB", second, last)
		}
	}
	if g := runtime.NumGoroutine(); g > baseline+10 {
		t.Errorf("%d goroutines at the end, baseline %d", g, baseline)
	}
}

// registerAndRemove registers a product through the admin API and removes it again.
func (env *liveEnv) registerAndRemove(name string) error {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("name", name)
	for _, img := range productPhotos(env.products[0].Image)[:2] {
		fw, _ := w.CreateFormFile("images", "p.png")
		fw.Write(img)
	}
	w.Close()
	req, _ := http.NewRequest("POST", env.url+"/api/products", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+env.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	loc := resp.Header.Get("Location")
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("register %s: %s", name, resp.Status)
	}
	req, _ = http.NewRequest("DELETE", env.url+loc, nil)
	req.Header.Set("Authorization", "Bearer "+env.token)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// rssMB is the process's resident memory.
func rssMB() float64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(raw))
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseFloat(fields[1], 64)
	return pages * float64(os.Getpagesize()) / (1 << 20)
}

// soakSample is one measurement of the soak.
type soakSample struct {
	at         time.Duration
	rssMB      float64
	goroutines int
	goHeapMB   float64 // Go heap in use
	nativeMB   float64 // glibc malloc in use (GStreamer, codecs, ONNX Runtime, FAISS)
	freeMB     float64 // freed native memory malloc keeps
}

func sample(start time.Time) soakSample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := malloctune.Read()
	return soakSample{at: time.Since(start), rssMB: rssMB(), goroutines: runtime.NumGoroutine(),
		goHeapMB: float64(ms.HeapInuse) / (1 << 20), nativeMB: float64(m.InUse) / (1 << 20), freeMB: float64(m.Free) / (1 << 20)}
}

// writeHeapProfile saves the Go heap profile, to compare two points of a soak with
// go tool pprof -base.
func writeHeapProfile(path string) {
	runtime.GC()
	if f, err := os.Create(path); err == nil {
		pprof.WriteHeapProfile(f)
		f.Close()
	}
}

// plotSoak draws RSS, the Go heap and the native heap in use (MB) and the goroutines over
// time, one line each.
func plotSoak(path string, samples []soakSample) error {
	p := plot.New()
	p.Title.Text = "EBRCS soak: memory and goroutines"
	p.X.Label.Text = "minutes"
	p.Y.Label.Text = "MB / goroutines"
	series := []struct {
		name   string
		value  func(soakSample) float64
		color  color.RGBA
		dashes []vg.Length
	}{
		{"RSS (MB)", func(s soakSample) float64 { return s.rssMB }, color.RGBA{200, 30, 30, 255}, nil},
		{"native heap in use (MB)", func(s soakSample) float64 { return s.nativeMB }, color.RGBA{30, 90, 200, 255}, nil},
		{"Go heap (MB)", func(s soakSample) float64 { return s.goHeapMB }, color.RGBA{30, 150, 60, 255}, nil},
		{"goroutines", func(s soakSample) float64 { return float64(s.goroutines) }, color.RGBA{90, 90, 90, 255}, []vg.Length{vg.Points(4), vg.Points(3)}},
	}
	p.Add(plotter.NewGrid())
	top := 0.0
	for _, ser := range series {
		xy := make(plotter.XYs, len(samples))
		for i, s := range samples {
			xy[i].X, xy[i].Y = s.at.Minutes(), ser.value(s)
			top = max(top, xy[i].Y)
		}
		line, err := plotter.NewLine(xy)
		if err != nil {
			return err
		}
		line.Color, line.Dashes = ser.color, ser.dashes
		p.Add(line)
		p.Legend.Add(ser.name, line)
	}
	// Room above the lines for the legend; from zero, so that growth reads as growth.
	p.Y.Min, p.Y.Max = 0, top*1.35
	p.Legend.Top = true
	return p.Save(8*vg.Inch, 4*vg.Inch, path)
}
