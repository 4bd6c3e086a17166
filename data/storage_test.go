package data

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// inMountNamespace re-runs the calling test in a private mount namespace (unshare -m), where
// it may mount a small tmpfs, fill it and remount it read-only without touching the
// machine's mounts. It returns true in the child, which does the work; the parent waits and
// reports the child's result. Needs root (or CAP_SYS_ADMIN); skips, saying so, without it.
func inMountNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv("EBRCS_IN_MOUNT_NS") == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs in a private mount namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	cmd := exec.Command("unshare", "-m", "--propagation", "private", os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "EBRCS_IN_MOUNT_NS="+t.Name())
	out, err := cmd.CombinedOutput()
	if strings.HasPrefix(string(out), "unshare: ") {
		t.Skipf("cannot create a mount namespace here: %s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in a mount namespace: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "storage_test.go") {
			t.Log(strings.TrimSpace(line))
		}
	}
	return false
}

func mount(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Fatalf("mount %v: %v\n%s", args, err, out)
	}
}

// fill writes to dir until its file system is full and returns the filler's path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 64<<10)
	for {
		if _, err := f.Write(block); err != nil {
			if !strings.Contains(err.Error(), "no space") {
				t.Fatal(err)
			}
			break
		}
	}
	for _, n := range []int{4096, 512, 1} { // the last partial pages too
		for {
			if _, err := f.Write(block[:n]); err != nil {
				break
			}
		}
	}
	return path
}

// A full disk or a read-only data directory refuses changes with ErrDiskFull or ErrReadOnly
// naming the directory; nothing is stored and nothing stored before is touched; searches go
// on; the same changes succeed once there is room again; and after a reopen the database and
// the index agree.
func TestFullOrReadOnlyDataDirectory(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	dir := t.TempDir()
	mount(t, "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir)
	defer exec.Command("umount", "-l", dir).Run()

	e := newGridEmbedder(8)
	// The grid embedder's images all look alike: keep registrations from clearing the none
	// answer (not what this test is about).
	opts := Options{Adapt: AdaptOptions{ClearNone: 2, ClearNoneCosine: 2}}
	c := openTest(t, dir, e, opts)
	apple, pear, plum := makeProduct(t, "Apple", 1, 2, false), makeProduct(t, "Pear", 2, 2, false), makeProduct(t, "Plum", 3, 1, false)
	a := mustAdd(t, c, apple.new())
	if _, err := c.RecordPurchase("s-before", []PurchaseItem{{ProductID: a.ID, Product: "Apple", Quantity: 1}}); err != nil {
		t.Fatal(err)
	}
	learned, err := c.AddLearnedView(a.ID, apple.bytes[1], OriginReview)
	if err != nil {
		t.Fatal(err)
	}
	none, err := c.AddNone(plum.bytes[0], OriginReview)
	if err != nil {
		t.Fatal(err)
	}
	recognised := mustRecognise(t, c, 2, query(t, e, apple, 0))
	before := counts(t, c)

	refused := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "nothing was stored") {
			t.Fatalf("%s: %v, want %v naming %s", what, err, want, dir)
		}
		t.Logf("%s: %v", what, err)
		if got := counts(t, c); got != before {
			t.Fatalf("%s changed the database: %+v, before %+v", what, got, before)
		}
		if hits := mustSearch(t, c, query(t, e, apple, 0), 1); len(hits) != 1 || hits[0].ProductID != a.ID {
			t.Fatalf("%s: search no longer finds Apple: %+v", what, hits)
		}
		if ev := mustRecognise(t, c, 2, query(t, e, apple, 0)); len(ev.Hits) == 0 {
			t.Fatalf("%s: Recognise finds nothing", what)
		}
	}

	// Disk full.
	filler := fill(t, dir)
	_, err = c.AddProduct(pear.new())
	refused("add with the disk full", err, ErrDiskFull)
	_, err = c.AddLearnedView(a.ID, apple.bytes[0], OriginCorrection)
	refused("learned view with the disk full", err, ErrDiskFull)
	_, err = c.AddNone(pear.bytes[0], OriginReview)
	refused("none answer with the disk full", err, ErrDiskFull)
	sameEvidence(t, "after refused learning", []Evidence{recognised}, []Evidence{mustRecognise(t, c, 2, query(t, e, apple, 0))})
	_, err = c.RecordPurchase("s-full", []PurchaseItem{{ProductID: a.ID, Product: "Apple", Quantity: 2}})
	refused("purchase with the disk full", err, ErrDiskFull)
	if _, err := c.ProductByName("Pear"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Pear after the refused add: %v", err)
	}
	// A restart on the full disk: the catalog opens and serves.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openTest(t, dir, e, opts)
	_, err = c.AddProduct(pear.new())
	refused("add with the disk full, after a restart", err, ErrDiskFull)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	p := mustAdd(t, c, pear.new()) // room again: the same request succeeds
	if _, err := c.RecordPurchase("s-full", []PurchaseItem{{ProductID: a.ID, Product: "Apple", Quantity: 2}}); err != nil {
		t.Fatal(err)
	}
	before = counts(t, c)

	// Read-only: a volume mounted read-only, or a file system the kernel remounted
	// read-only after errors (Linux refuses a plain remount while files are open for
	// writing, so the catalog is reopened on it).
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	mount(t, "-o", "remount,ro", dir)
	c = openTest(t, dir, e, opts)
	if !c.Stats().ReadOnly {
		t.Fatal("the catalog did not notice its directory is read-only")
	}
	before = counts(t, c)
	_, err = c.AddProduct(plum.new())
	refused("add on a read-only directory", err, ErrReadOnly)
	refused("remove on a read-only directory", c.RemoveProduct(p.ID), ErrReadOnly)
	_, err = c.AddLearnedView(a.ID, apple.bytes[0], OriginReview)
	refused("learned view on a read-only directory", err, ErrReadOnly)
	_, err = c.AddNone(pear.bytes[0], OriginReview)
	refused("none answer on a read-only directory", err, ErrReadOnly)
	refused("learned view removal on a read-only directory", c.RemoveLearnedView(learned.ID), ErrReadOnly)
	if views, err := c.LearnedViews(a.ID); err != nil || len(views) != 1 {
		t.Fatalf("learned views on a read-only directory: %+v, %v", views, err)
	}
	if img, _, err := c.LearnedViewImage(none.ID); err != nil || len(img) == 0 {
		t.Fatalf("a none answer's image on a read-only directory: %v", err)
	}
	_, err = c.RecordPurchase("s-ro", []PurchaseItem{{ProductID: p.ID, Product: "Pear", Quantity: 1}})
	refused("purchase on a read-only directory", err, ErrReadOnly)
	if list, err := c.Products(); err != nil || len(list) != 2 {
		t.Fatalf("listing on a read-only directory: %d products, %v", len(list), err)
	}
	if img, _, err := c.Image(p.ID, 1); err != nil || len(img) == 0 {
		t.Fatalf("image on a read-only directory: %v", err)
	}
	if hits := mustSearch(t, c, query(t, e, pear, 1), 1); len(hits) != 1 || hits[0].ProductID != p.ID {
		t.Fatalf("Pear not found on a read-only directory: %+v", hits)
	}
	if st := c.Stats(); st.StorageErrors != 6 || st.LearnedViews != 1 || st.NoneViews != 1 {
		t.Fatalf("Stats = %+v, want 6 storage errors, 1 learned view and 1 none answer", st)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	mount(t, "-o", "remount,rw", dir)
	c = openTest(t, dir, e, opts)
	mustAdd(t, c, plum.new())
	if err := c.RemoveProduct(p.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened: what was acknowledged is there, what was refused is not, the index agrees.
	c = openTest(t, dir, e, opts)
	names := map[string]bool{}
	list, err := c.Products()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range list {
		names[pr.Name] = true
	}
	if len(names) != 2 || !names["Apple"] || !names["Plum"] {
		t.Fatalf("after reopening: %v, want Apple and Plum", names)
	}
	for _, id := range []string{"s-before", "s-full"} {
		if _, err := c.PurchaseBySession(id); err != nil {
			t.Fatalf("purchase %s: %v", id, err)
		}
	}
	if _, err := c.PurchaseBySession("s-ro"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused purchase was stored: %v", err)
	}
	if st := c.Stats(); st.Vectors != int(counts(t, c).embeddings) || st.Products != 2 || st.LearnedViews != 1 || st.NoneViews != 1 {
		t.Fatalf("index and database disagree: %+v, %d embeddings", st, counts(t, c).embeddings)
	}
	if hits := mustSearch(t, c, query(t, e, plum, 0), 1); len(hits) != 1 || hits[0].Name != "Plum" {
		t.Fatalf("Plum not found after reopening: %+v", hits)
	}
}
