package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/internal/cores"
	"github.com/ebrcs/ebrcs/signaling"
	"github.com/ebrcs/ebrcs/testkit/camclip"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
	"github.com/ebrcs/ebrcs/testkit/liveload"
)

// The live load harness: WHIP clients (testkit/liveload) in a child process of their own
// (this test binary, TestLiveLoadClientProcess), so that the server's CPU and Go runtime are
// its own and everything is measured at the clients, as a shopper's browser would see it.

// clipSource is the camera clip of a run: a clip generated here and saved (replaying clients),
// or its configuration, which the client process renders itself with raw frames (clients
// that encode live and answer keyframe requests).
type clipSource struct {
	path   string
	render *camclip.Config
	clip   *camclip.Clip // the same clip, here, for its ground truth
}

// savedClip generates the clip (the catalog's products) and saves it for the client process.
func savedClip(tb testing.TB, env *liveEnv, cfg camclip.Config) clipSource {
	cfg.Products = env.products
	clip, err := camclip.Generate(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "clip.gob")
	if err := clip.Save(path); err != nil {
		tb.Fatal(err)
	}
	return clipSource{path: path, clip: clip}
}

// renderedClip is a clip that the client process renders with raw frames (live encoding).
// The products are the scenario suite's (SyntheticProducts(6, 1)), as the catalog's.
func renderedClip(tb testing.TB, env *liveEnv, cfg camclip.Config) clipSource {
	cfg.Products = env.products
	clip, err := camclip.Generate(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Products, cfg.Raw = nil, true
	return clipSource{render: &cfg, clip: clip}
}

// liveLoadJob is what the client process is told.
type liveLoadJob struct {
	Clip    string           `json:"clip,omitempty"`
	Render  *camclip.Config  `json:"render,omitempty"`
	Options liveload.Options `json:"options"`
	Report  string           `json:"report"`
}

// liveResult is a run's report with the server's side of it.
type liveResult struct {
	rep        *liveload.Report
	clip       *camclip.Clip
	sum        liveload.Summary
	cores      float64 // the server's CPU, cores, over the run
	clientCPU  float64 // the clients' process, cores
	others     float64 // everything else on the machine, cores (other users make numbers noisy)
	msPerFrame float64 // the server's CPU per frame the clients sent, ms
	// crops the embedder embedded during the run, and refused (its queue full).
	crops, cropsRefused int64
	batches, urgent     int64 // recognition batches run, and those raised for having waited (models.BatcherStats)
	procs               int   // GOMAXPROCS the server ran with
	// peers are the server's statistics of each session, last seen before it ended.
	peers map[string]signaling.PeerStats
}

// runLiveLoad runs the clients in a child process against env's server and summarises.
func runLiveLoad(tb testing.TB, env *liveEnv, src clipSource, opts liveload.Options, tag string) liveResult {
	tb.Helper()
	cores.ForCallbacks() // as the server runs (the testing package resets GOMAXPROCS)
	dir := tb.TempDir()
	opts.URL = env.url
	job := liveLoadJob{Clip: src.path, Render: src.render, Options: opts, Report: filepath.Join(dir, "report.json")}
	raw, _ := json.Marshal(job)
	jobPath := filepath.Join(dir, "job.json")
	os.WriteFile(jobPath, raw, 0o644)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestLiveLoadClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "EBRCS_LIVELOAD_JOB="+jobPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	clipLen := time.Duration(len(src.clip.Frames)) * time.Second / time.Duration(src.clip.FPS)
	stopProfile := profileServer(tb, tag, clipLen)
	// The server's view of each session, sampled until it ends.
	peers := map[string]signaling.PeerStats{}
	var mu sync.Mutex
	stopPeers := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopPeers:
				return
			case <-tick.C:
			}
			for _, p := range env.rtc.Peers() {
				mu.Lock()
				peers[p.Session] = p
				mu.Unlock()
			}
		}
	}()
	cpu0, wall0, busy0, crops0 := cpuTime(), time.Now(), machineBusy(), env.emb.Batcher.Stats()
	err := cmd.Run()
	wall := time.Since(wall0).Seconds()
	cores := (cpuTime() - cpu0).Seconds() / wall
	machine := (machineBusy() - busy0).Seconds() / wall
	close(stopPeers)
	wg.Wait()
	stopProfile()
	var clientCPU float64
	if cmd.ProcessState != nil {
		clientCPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds() / wall
	}
	rraw, rerr := os.ReadFile(job.Report)
	if rerr != nil {
		tb.Fatalf("client process: %v\n%s", err, out.String())
	}
	if keep := os.Getenv("EBRCS_BENCH_REPORT"); keep != "" { // the clients' whole report, for a closer look
		os.MkdirAll(keep, 0o755)
		os.WriteFile(filepath.Join(keep, "live-"+tag+".json"), rraw, 0o644)
	}
	var rep liveload.Report
	if err := json.Unmarshal(rraw, &rep); err != nil {
		tb.Fatal(err)
	}
	// Every session ends with its client.
	for deadline := time.Now().Add(15 * time.Second); len(env.rtc.Peers()) > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	sent := 0
	for _, s := range rep.Sessions {
		sent += s.Sent
	}
	crops := env.emb.Batcher.Stats()
	return liveResult{rep: &rep, clip: src.clip, sum: liveload.Summarize(&rep, src.clip), cores: cores, clientCPU: clientCPU, procs: runtime.GOMAXPROCS(0),
		crops: crops.Items - crops0.Items, cropsRefused: crops.Dropped - crops0.Dropped,
		batches: crops.Batches - crops0.Batches, urgent: crops.Urgent - crops0.Urgent,
		others: max(0, machine-cores-clientCPU), peers: peers, msPerFrame: cores * wall * 1000 / float64(max(1, sent))}
}

// TestLiveLoadClientProcess is the client process of the live benchmarks and tests (it does
// nothing unless started by one with EBRCS_LIVELOAD_JOB).
func TestLiveLoadClientProcess(t *testing.T) {
	path := os.Getenv("EBRCS_LIVELOAD_JOB")
	if path == "" {
		t.Skip("the client process of the live benchmarks and tests")
	}
	gsttest.Init(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var job liveLoadJob
	if err := json.Unmarshal(raw, &job); err != nil {
		t.Fatal(err)
	}
	var clip *camclip.Clip
	if job.Render != nil {
		clip, err = camclip.Generate(*job.Render)
	} else {
		clip, err = camclip.Load(job.Clip)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := liveload.Run(ctx, clip, job.Options)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(rep)
	if err := os.WriteFile(job.Report, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// benchSessions reads EBRCS_BENCH_SESSIONS (a comma-separated list), else def.
func benchSessions(b *testing.B, def []int) []int {
	v := os.Getenv("EBRCS_BENCH_SESSIONS")
	if v == "" {
		return def
	}
	var ns []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			b.Fatal(err)
		}
		ns = append(ns, n)
	}
	return ns
}

// reportLive reports a run's summary as metrics and one table line.
func reportLive(b *testing.B, label string, r liveResult) {
	s := r.sum
	b.ReportMetric(s.WorstShare, "worst-share")
	b.ReportMetric(s.MeanShare, "mean-share")
	b.ReportMetric(s.FirstMaxMs, "first-max-ms")
	b.ReportMetric(s.P95Ms, "p95-ms")
	b.ReportMetric(s.WorstP95Ms, "worst-p95-ms")
	b.ReportMetric(float64(s.CartsOK)/float64(max(1, s.Sessions)), "carts-ok")
	b.ReportMetric(s.CountP95Ms, "count-p95-ms")
	b.ReportMetric(r.cores, "server-cores")
	if s.Refused > 0 {
		b.ReportMetric(float64(s.Refused), "refused")
	}
	fmt.Print(liveLine(label, r))
}

// liveLine is one row of the live table.
func liveLine(label string, r liveResult) string {
	s := r.sum
	return fmt.Sprintf("live %-8s sessions %2d refused %2d | share worst %.2f mean %.2f | first max %5.0f ms | p95 %5.0f ms (worst session %5.0f) | "+
		"damaged %d unreadable %d | carts %d/%d (settled %.1f s after the clip, %d never) | count p95 %4.0f ms (%d/%d; asked %d, unknown %d, cooldown %d; gate entries %d) | server %.2f cores (%.1f ms/frame), clients %.2f, others %.2f\n",
		label, s.Sessions, s.Refused, s.WorstShare, s.MeanShare, s.FirstMaxMs, s.P95Ms, s.WorstP95Ms, s.Damaged, s.Unreadable,
		s.CartsOK, s.Sessions, s.SettledMaxMs/1000, s.Unsettled, s.CountP95Ms, s.Counted, s.Visits, s.Reviews, s.Unknowns, s.Cooldowns, s.GateEntries, r.cores, r.msPerFrame, r.clientCPU, r.others) + serverLine(r)
}

// serverLine is the server's own account of a run's frames, summed over its sessions: what
// the decoder got, what was lost (network, or too far behind) and skipped (too late for the
// analysis), what the encoder dropped, what went back, and the worst session's server-added
// latency p95.
func serverLine(r liveResult) (line string) {
	var in, lost, skipped, dropped, out int64
	worst := 0.0
	for _, p := range r.peers {
		in, lost, skipped, dropped, out = in+p.FramesIn, lost+p.FramesLost, skipped+p.FramesSkipped, dropped+p.FramesDropped, out+p.FramesOut
		worst = max(worst, p.LatencyP95)
	}
	var wrong []string
	for _, sess := range r.rep.Sessions {
		if fmt.Sprint(sess.Cart) != fmt.Sprint(r.clip.Truth.Items) {
			wrong = append(wrong, fmt.Sprintf("%v (decided: %s; the gate's entries at %s)", sess.Cart, decisionList(sess.Decisions), secondsList(sess.GateEntries)))
		}
	}
	if len(wrong) > 0 {
		defer func() {
			line += fmt.Sprintf("     carts unlike the ground truth %v: %s\n", r.clip.Truth.Items, strings.Join(wrong, ", "))
		}()
	}
	return fmt.Sprintf("     server side: frames in %d, lost %d, skipped %d, dropped by the encoder %d, out %d; worst session's server latency p95 %.0f ms; crops recognised %d (%.1f a visit) in %d batches (%d raised for waiting), refused %d; Go procs %d\n",
		in, lost, skipped, dropped, out, worst, r.crops, float64(r.crops)/float64(max(1, r.sum.Visits)), r.batches, r.urgent, r.cropsRefused, r.procs)
}

// decisionList lists a session's decisions briefly: type, product, score, the sight's stream
// time and the arrival.
func decisionList(ds []liveload.Decision) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("%s %s %.2f seen %.1fs at %.1fs", d.Type, d.Product, d.Score, d.Seen, d.AtMs/1000))
	}
	return strings.Join(parts, "; ")
}

// secondsList lists stream times in seconds, briefly.
func secondsList(ts []float64) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("%.1fs", t)
	}
	return strings.Join(parts, ", ")
}

// machineBusy is the CPU time the whole machine has spent busy (/proc/stat: all but idle
// and iowait), to tell how much of it others used during a run.
func machineBusy() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	var busy int64
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest times are already in user
			busy += v
		}
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// profileServer records the server's CPU (pprof, and perf when installed) for d from now into
// EBRCS_BENCH_PROFILE, when set.
func profileServer(tb testing.TB, tag string, d time.Duration) (stop func()) {
	dir := os.Getenv("EBRCS_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	os.MkdirAll(dir, 0o755)
	f, err := os.Create(filepath.Join(dir, "cpu-"+tag+".pprof"))
	if err != nil {
		tb.Fatal(err)
	}
	pprof.StartCPUProfile(f)
	if path, err := exec.LookPath("perf"); err == nil {
		// The steady part: from 3 s in, for most of the clip.
		perf := exec.Command(path, "record", "-F", "499", "-g", "-o", filepath.Join(dir, "perf-"+tag+".data"),
			"-p", strconv.Itoa(os.Getpid()), "--", "sleep", fmt.Sprint(int(max(1, d.Seconds()-6))))
		perf.Stdout, perf.Stderr = io.Discard, io.Discard
		go func() { time.Sleep(3 * time.Second); perf.Run() }()
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
