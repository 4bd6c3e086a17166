package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/ebrcs/ebrcs/testkit/testenv"
)

// shippedCheckoutPipeline writes configs/pipelines/checkout.yaml with its catalog and model
// paths pointed at the test's, changing nothing else: the suite tests the pipeline we ship.
func shippedCheckoutPipeline(t *testing.T, catalog string) string {
	t.Helper()
	raw, err := os.ReadFile("../../configs/pipelines/checkout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	models, _ := filepath.Abs("../../models")
	text := testenv.PointPipeline(t, string(raw), catalog, models)
	path := filepath.Join(t.TempDir(), "checkout.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The scenario suite: rendered checkout videos with known ground truth (products sliding
// into the ROI, pausing, leaving; the same product within and beyond the cooldown; a product
// left in the ROI; a hand-sized distractor; hands holding products; flicker and noise; fast
// swipes), each run through the shipped checkout pipeline by `ebrcs run --json`, whose output
// must be exactly the ground-truth cart. Two seeds: different product art, counter texture,
// noise and flicker.
func TestScenarioSuiteCountsExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("renders and processes about 4 minutes of video")
	}
	passed, total := 0, 0
	for _, seed := range []string{"1", "2"} {
		dir := t.TempDir()
		if code, out, errOut := runCLI(t, "scenario", "--synthetic", "6", "--seed", seed, "--out", dir); code != 0 {
			t.Fatalf("scenario: exit %d\n%s%s", code, out, errOut)
		}
		catalog := filepath.Join(dir, "catalog")
		if code, out, errOut := runCLI(t, "catalog", "import", filepath.Join(dir, "products"), "--data", catalog, "--models", "../../models"); code != 0 {
			t.Fatalf("catalog import: exit %d\n%s%s", code, out, errOut)
		}
		pipeline := shippedCheckoutPipeline(t, catalog)
		videos, _ := filepath.Glob(filepath.Join(dir, "*.mp4"))
		sort.Strings(videos)
		if len(videos) < 12 {
			t.Fatalf("the suite has %d scenarios, want at least 12", len(videos))
		}
		for _, video := range videos {
			name := strings.TrimSuffix(filepath.Base(video), ".mp4")
			total++
			var truth struct {
				Items  map[string]int `json:"items"`
				Frames int64          `json:"frames"`
			}
			raw, err := os.ReadFile(strings.TrimSuffix(video, ".mp4") + ".json")
			if err != nil || json.Unmarshal(raw, &truth) != nil {
				t.Fatalf("%s: ground truth: %v", name, err)
			}
			code, out, errOut := runCLI(t, "run", "--pipeline", pipeline, "--input", video, "--json")
			if code != 0 {
				t.Errorf("seed %s %s: exit %d: %s", seed, name, code, errOut)
				continue
			}
			var got runResult
			dec := json.NewDecoder(strings.NewReader(out))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil || dec.More() {
				t.Errorf("seed %s %s: stdout is not exactly one {items, frames} object: %q", seed, name, out)
				continue
			}
			if !reflect.DeepEqual(got.Items, truth.Items) || got.Frames != truth.Frames {
				t.Errorf("seed %s %s: cart %v over %d frames, ground truth %v over %d", seed, name, got.Items, got.Frames, truth.Items, truth.Frames)
				continue
			}
			passed++
		}
	}
	t.Logf("scenario suite: %d/%d carts exactly right", passed, total)
}
