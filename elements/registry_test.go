package elements_test

import (
	"os"
	"testing"

	"github.com/ebrcs/ebrcs/elements"
	"github.com/ebrcs/ebrcs/elements/goelement"
)

// docs/elements.md is generated from the declarations; it must not drift from them.
func TestElementDocsAreCurrent(t *testing.T) {
	infos := make([]*goelement.Info, len(elements.All))
	for i, r := range elements.All {
		infos[i] = r.Describe()
	}
	want := goelement.Markdown(infos)
	got, err := os.ReadFile("../docs/elements.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("docs/elements.md is out of date: run `make docs`")
	}
}

// Every element has a unique name with our prefix and registers with GStreamer.
func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range elements.All {
		name := r.Describe().Name
		if seen[name] || len(name) < 7 || name[:6] != "ebrcs_" {
			t.Errorf("bad or duplicate element name %q", name)
		}
		seen[name] = true
		if elements.Lookup(name) == nil {
			t.Errorf("Lookup(%q) = nil", name)
		}
	}
}
