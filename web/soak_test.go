package web

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
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
			samples = append(samples, soakSample{time.Since(start), rssMB(), runtime.NumGoroutine()})
			t.Logf("%v: RSS %.0f MB, %d goroutines, %d sessions, %d products registered", time.Since(start).Round(time.Second),
				samples[len(samples)-1].rssMB, samples[len(samples)-1].goroutines, sessions, products)
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
	runtime.GC()
	samples = append(samples, soakSample{time.Since(start), rssMB(), runtime.NumGoroutine()})
	if err := plotSoak(filepath.Join(out, "soak.png"), samples); err != nil {
		t.Error(err)
	}
	var csv strings.Builder
	csv.WriteString("seconds,rss_mb,goroutines\n")
	for _, s := range samples {
		fmt.Fprintf(&csv, "%.0f,%.1f,%d\n", s.at.Seconds(), s.rssMB, s.goroutines)
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
}

// plotSoak draws RSS (MB) and goroutines over time, one line each.
func plotSoak(path string, samples []soakSample) error {
	p := plot.New()
	p.Title.Text = "EBRCS soak: memory and goroutines"
	p.X.Label.Text = "minutes"
	p.Y.Label.Text = "RSS (MB) / goroutines"
	rss, gor := make(plotter.XYs, len(samples)), make(plotter.XYs, len(samples))
	for i, s := range samples {
		rss[i].X, rss[i].Y = s.at.Minutes(), s.rssMB
		gor[i].X, gor[i].Y = s.at.Minutes(), float64(s.goroutines)
	}
	l1, err := plotter.NewLine(rss)
	if err != nil {
		return err
	}
	l2, err := plotter.NewLine(gor)
	if err != nil {
		return err
	}
	l2.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(l1, l2, plotter.NewGrid())
	p.Legend.Add("RSS (MB)", l1)
	p.Legend.Add("goroutines", l2)
	p.Legend.Top = true
	return p.Save(8*vg.Inch, 4*vg.Inch, path)
}
