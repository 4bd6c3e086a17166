package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSeededSuiteAndSelect(t *testing.T) {
	products := SyntheticProducts(6, 1)
	plain, err := Suite(products)
	if err != nil {
		t.Fatal(err)
	}
	one, _ := SeededSuite(products, 1)
	two, _ := SeededSuite(products, 2)
	seen := map[int64]bool{}
	for i := range plain {
		if one[i].Config.Seed != plain[i].Config.Seed {
			t.Errorf("%s: seed 1 gives %d, Suite %d", plain[i].Name, one[i].Config.Seed, plain[i].Config.Seed)
		}
		seen[one[i].Config.Seed] = true
	}
	for _, s := range two {
		if seen[s.Config.Seed] {
			t.Errorf("%s: seed 2 reuses scenario seed %d of seed 1", s.Name, s.Config.Seed)
		}
	}

	chosen, err := Select(plain, []string{"long-stop", "single-product"})
	if err != nil || len(chosen) != 2 || chosen[0].Name != "long-stop" || chosen[1].Name != "single-product" {
		t.Fatalf("Select: %v %v", chosen, err)
	}
	if all, _ := Select(plain, nil); len(all) != len(plain) {
		t.Fatalf("Select without names: %d scenarios, want the suite's %d", len(all), len(plain))
	}
	_, err = Select(plain, []string{"nope"})
	var unknown *UnknownScenarioError
	if !errors.As(err, &unknown) || unknown.Name != "nope" || len(unknown.Known) != len(plain) {
		t.Fatalf("unknown name: %v", err)
	}
}

// Product images written for `ebrcs catalog import` read back as the same products, from a
// subdirectory or from a file named after the product.
func TestProductImagesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	products := SyntheticProducts(3, 1)
	for _, p := range products[:2] {
		if _, err := WriteProductImage(dir, p); err != nil {
			t.Fatal(err)
		}
	}
	single, _ := WriteProductImage(t.TempDir(), products[2])
	raw, _ := os.ReadFile(single)
	os.WriteFile(filepath.Join(dir, products[2].Name+".png"), raw, 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a product"), 0o644)

	got, err := LoadProducts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d products, want 3", len(got))
	}
	for i, p := range got {
		if p.Name != products[i].Name || p.Image.Bounds() != products[i].Image.Bounds() {
			t.Errorf("product %d: %s %v, want %s %v", i, p.Name, p.Image.Bounds(), products[i].Name, products[i].Image.Bounds())
		}
	}
	os.MkdirAll(filepath.Join(dir, products[0].Name+"x"), 0o755)
	os.WriteFile(filepath.Join(dir, products[0].Name+".png"), raw, 0o644)
	if _, err := LoadProducts(dir); err == nil {
		t.Fatal("a product given twice was accepted")
	}
	if _, err := LoadProducts(t.TempDir()); err == nil {
		t.Fatal("a directory without images was accepted")
	}
}
