package recognition

import (
	"encoding/json"
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// TestEvaluateOnline runs `ebrcs eval`'s evaluation, static and online with two seeds, on a
// small generated set (the scenario suite's products, camera views as queries) with every
// 4th product held out, and checks what it reports.
func TestEvaluateOnline(t *testing.T) {
	testEmbedder(t)
	defer CloseAll()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(5, 5))
	for _, p := range scenario.SyntheticProducts(6, 5) {
		writeJPEG(t, filepath.Join(dir, "catalog", p.Name, "a.jpg"), p.Image)
		for i := range 3 {
			writeJPEG(t, filepath.Join(dir, "queries", p.Name, string(rune('a'+i))+".jpg"), cameraView(p.Image, r))
		}
	}
	report := filepath.Join(dir, "report")
	ev, err := Evaluate(EvalOptions{CatalogDir: filepath.Join(dir, "catalog"), QueriesDir: filepath.Join(dir, "queries"),
		ModelDir: "../models", Threshold: -1, Holdout: 4, Online: true, Seeds: []uint64{1, 2}, ReportDir: report})
	if err != nil {
		t.Fatal(err)
	}
	if ev.CatalogProducts != 4 || ev.N != 18 || ev.Known != 12 || !ev.Adapted || ev.Threshold != DefaultRules.Adapted.Count {
		t.Fatalf("evaluation: %d products, %d queries (%d known), adapted %v, threshold %v", ev.CatalogProducts, ev.N, ev.Known, ev.Adapted, ev.Threshold)
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(raw, &got)
	for _, k := range []string{"top1", "top5", "ask_rate", "silent_error_rate", "unknown_silent_accept_rate", "miss_rate"} {
		if _, ok := got[k].(float64); !ok {
			t.Errorf("static %q missing: %s", k, raw)
		}
	}
	online, _ := got["online"].(map[string]any)
	for _, k := range []string{"top1", "ask_rate", "silent_error_rate", "unknown_silent_accept_rate"} {
		if v, ok := online[k].(float64); !ok || v < 0 || v > 1 {
			t.Errorf("online %q = %v", k, online[k])
		}
	}
	half, _ := online["second_half"].(map[string]any)
	for _, k := range []string{"top1", "ask_rate", "silent_error_rate"} {
		if _, ok := half[k].(float64); !ok {
			t.Errorf("online second_half %q missing: %v", k, online)
		}
	}
	if seeds, _ := got["online_seeds"].([]any); len(seeds) != 2 {
		t.Errorf("online_seeds: %v", got["online_seeds"])
	}
	// Each run learned (the static run did not), and both started from the same catalog.
	for _, run := range ev.OnlineSeeds {
		if len(run.Outcomes()) != 18 || run.Top1 < ev.Top1-0.1 {
			t.Errorf("seed %d: %d outcomes, top-1 %.2f (static %.2f)", run.Seed, len(run.Outcomes()), run.Top1, ev.Top1)
		}
	}
	if ev.Online.Top1 < 0.8 || *ev.Online.UnknownSilentAcceptRate > 0.5 {
		t.Errorf("online: %+v", *ev.Online)
	}
	for _, f := range []string{"confusion.png", "scores.png", "tradeoff.png"} {
		if st, err := os.Stat(filepath.Join(report, f)); err != nil || st.Size() < 1000 {
			t.Errorf("report %s: %v", f, err)
		}
	}
}

func writeJPEG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, jpegOf(t, img), 0o644); err != nil {
		t.Fatal(err)
	}
}
