package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writeProducts lays out DIR/<name>/<i>.png with generated product photos: each product
// its own colours and pattern, photos differing in position and lighting.
func writeProducts(t *testing.T, dir string, names []string, photos int, seed int) {
	t.Helper()
	for k, name := range names {
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		for i := 0; i < photos; i++ {
			img := image.NewRGBA(image.Rect(0, 0, 120, 120))
			shift, gain := (i*7+seed)%20, 0.8+0.1*float64((i+seed)%4)
			for y := 0; y < 120; y++ {
				for x := 0; x < 120; x++ {
					var c [3]float64
					switch k % 3 {
					case 0:
						if ((y+shift)/10)%2 == 0 {
							c = [3]float64{220, 40, 40}
						} else {
							c = [3]float64{240, 240, 240}
						}
					case 1:
						if ((x+shift)/15+(y/15))%2 == 0 {
							c = [3]float64{30, 160, 60}
						} else {
							c = [3]float64{20, 20, 30}
						}
					default:
						dx, dy := float64((x+shift)%24-12), float64(y%24-12)
						if dx*dx+dy*dy < 40 {
							c = [3]float64{30, 40, 210}
						} else {
							c = [3]float64{250, 215, 40}
						}
					}
					img.Set(x, y, color.RGBA{uint8(c[0] * gain), uint8(c[1] * gain), uint8(min(c[2]*gain, 255)), 255})
				}
			}
			var b bytes.Buffer
			png.Encode(&b, img)
			os.WriteFile(filepath.Join(dir, name, string(rune('a'+i))+".png"), b.Bytes(), 0o644)
		}
	}
}

// catalog import, list, rm on a real catalog with the real encoder.
func TestCatalogCommands(t *testing.T) {
	src, dataDir := t.TempDir(), t.TempDir()
	writeProducts(t, src, []string{"Stripes", "Checks", "Dots"}, 2, 0)
	os.WriteFile(filepath.Join(src, "Dots", "broken.jpg"), []byte("not a jpeg"), 0o644)
	flags := []string{"--data", dataDir, "--models", "../../models"}

	code, out, errOut := runCLI(t, append([]string{"catalog", "import", src}, flags...)...)
	// Dots has a broken photo: it is refused, naming the file; the others are imported.
	if code != 1 || !strings.Contains(out, "imported 2 products") || !strings.Contains(errOut, "broken.jpg") {
		t.Fatalf("import: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	os.Remove(filepath.Join(src, "Dots", "broken.jpg"))
	code, out, errOut = runCLI(t, append([]string{"catalog", "import", src}, flags...)...)
	if code != 0 || !strings.Contains(out, "imported 1 products (2 already there") {
		t.Fatalf("re-import: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, append([]string{"catalog", "list", "--json"}, flags...)...)
	var products []struct {
		ID     int64
		Name   string
		Images int
	}
	if code != 0 || json.Unmarshal([]byte(out), &products) != nil || len(products) != 3 {
		t.Fatalf("list: exit %d %s", code, out)
	}
	code, out, _ = runCLI(t, append([]string{"catalog", "rm", "checks"}, flags...)...)
	if code != 0 || !strings.Contains(out, "removed Checks") {
		t.Fatalf("rm: exit %d %s", code, out)
	}
	if code, _, errOut := runCLI(t, append([]string{"catalog", "rm", "Nothing"}, flags...)...); code != 1 || !strings.Contains(errOut, "Nothing") {
		t.Fatalf("rm of an unknown product: exit %d %s", code, errOut)
	}
	code, out, _ = runCLI(t, append([]string{"catalog", "list"}, flags...)...)
	if code != 0 || strings.Contains(out, "Checks") || !strings.Contains(out, "2 products") {
		t.Fatalf("list after rm: %s", out)
	}
}

// ebrcs eval on generated labelled photos: the JSON has the numbers, and the report the plots.
func TestEval(t *testing.T) {
	catDir, queryDir, report := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "report")
	names := []string{"Stripes", "Checks", "Dots"}
	writeProducts(t, catDir, names, 2, 0)
	writeProducts(t, queryDir, names, 3, 11) // other shifts and lighting
	code, out, errOut := runCLI(t, "eval", "--catalog", catDir, "--queries", queryDir, "--models", "../../models",
		"--json", "--report", report)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not JSON: %s", out)
	}
	if res["n"].(float64) != 9 || res["top1"].(float64) < 0.99 || res["top5"].(float64) != 1 {
		t.Fatalf("eval result %v", res)
	}
	for _, f := range []string{"confusion.png", "scores.png"} {
		if st, err := os.Stat(filepath.Join(report, f)); err != nil || st.Size() < 1000 {
			t.Fatalf("report %s: %v", f, err)
		}
	}
	// With one product held out of the catalog its queries must come out unknown or wrong:
	// the false-accept rate is measured.
	code, out, _ = runCLI(t, "eval", "--catalog", catDir, "--queries", queryDir, "--models", "../../models", "--holdout", "3", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res["false_accept_rate"].(float64) < 0 || res["known"].(float64) != 6 {
		t.Fatalf("holdout: %s", out)
	}
	if code, _, _ := runCLI(t, "eval", "--catalog", catDir); code != 2 {
		t.Fatal("eval without --queries is a usage error")
	}
}

// The accuracy claim, guarded: with the default embedder, the GroceryStore protocol (iconic +
// 5 train photos per product as the catalog, the val photos as queries) reaches at least 60%
// top-1. Skipped where ../shared/datasets is absent.
func TestGroceryStoreAccuracy(t *testing.T) {
	if _, err := os.Stat("../../../shared/datasets/grocery-store/dataset/val.txt"); err != nil {
		t.Skip("needs ../shared/datasets (GroceryStore)")
	}
	dir := t.TempDir()
	layout := exec.Command("bash", "../../scripts/grocery-layout.sh", dir)
	if out, err := layout.CombinedOutput(); err != nil {
		t.Fatalf("grocery-layout.sh: %v\n%s", err, out)
	}
	code, out, errOut := runCLI(t, "eval", "--catalog", filepath.Join(dir, "catalog"), "--queries", filepath.Join(dir, "queries"),
		"--models", "../../models", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		N    int     `json:"n"`
		Top1 float64 `json:"top1"`
		Top5 float64 `json:"top5"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	t.Logf("GroceryStore val: top-1 %.1f%%, top-5 %.1f%% over %d queries", 100*res.Top1, 100*res.Top5, res.N)
	if res.N != 296 || res.Top1 < 0.60 {
		t.Fatalf("top-1 %.3f over %d queries, want >= 0.60 over 296", res.Top1, res.N)
	}
}
