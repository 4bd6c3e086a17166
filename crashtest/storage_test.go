package crashtest

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"image/png"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// mountNamespace is a private mount namespace kept alive by a sleeping process: mounts made
// in it (a small tmpfs for the catalog) outlive the servers that join it, and the machine's
// own mounts are never touched.
type mountNamespace struct{ holder *exec.Cmd }

func newMountNamespace(t *testing.T) *mountNamespace {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs in a private mount namespace")
	}
	for _, tool := range []string{"unshare", "nsenter", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (util-linux)", tool)
		}
	}
	holder := exec.Command("unshare", "-m", "--propagation", "private", "sleep", "3600")
	holder.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	ns := &mountNamespace{holder: holder}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	// unshare has switched namespaces once it execs sleep.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", holder.Process.Pid)); strings.HasSuffix(target, "/sleep") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("unshare did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A container without CAP_SYS_ADMIN has namespaces but cannot mount: skip, saying so.
	probe := t.TempDir()
	args := append(ns.enter(), "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe)
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Skipf("cannot mount in a private mount namespace here: %v %s", err, out)
	}
	ns.run(t, false, "umount", probe)
	return ns
}

// enter is the command prefix that runs a program inside the namespace.
func (ns *mountNamespace) enter() []string {
	return []string{"nsenter", "-t", fmt.Sprint(ns.holder.Process.Pid), "-m", "--"}
}

// run runs a command inside the namespace; allowFail for commands that end by failing
// (filling a disk).
func (ns *mountNamespace) run(t *testing.T, allowFail bool, args ...string) {
	t.Helper()
	full := append(ns.enter(), args...)
	if out, err := exec.Command(full[0], full[1:]...).CombinedOutput(); err != nil && !allowFail {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// TestServerWithFullOrReadOnlyDataDirectory runs the real server with its catalog on a small
// tmpfs. With the disk full: registering a product and confirming a cart are refused with
// 507 and a message saying the disk is full, nothing is stored, and checkout goes on
// (a video uploaded meanwhile is counted right; the cart waits); once there is room the
// same requests succeed. Started on the directory remounted read-only: the server comes up,
// says so in /readyz and /metrics, recognises products and refuses changes with 507. Back to
// read-write: every acknowledged product and purchase is in the database, none refused is.
func TestServerWithFullOrReadOnlyDataDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server and runs it on a full and a read-only disk")
	}
	ns := newMountNamespace(t)
	tmp := t.TempDir()
	catalogDir := filepath.Join(tmp, "catalog")
	if err := os.Mkdir(catalogDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ns.run(t, false, "mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", catalogDir)
	srv := newServer(t, tmp, catalogDir, "", ns.enter())
	c := &client{base: srv.base, http: &http.Client{Timeout: 60 * time.Second}}

	// A checkout video and its products.
	gst.Init(nil) // the scenario's MP4 encoder
	products := scenario.SyntheticProducts(6, 1)
	suite, err := scenario.Suite(products)
	if err != nil {
		t.Fatal(err)
	}
	chosen, err := scenario.Select(suite, []string{"two-products"})
	if err != nil {
		t.Fatal(err)
	}
	sc := chosen[0]
	videoPath, truthPath, err := scenario.Generate(tmp, sc, products, "mp4")
	if err != nil {
		t.Fatal(err)
	}
	video, _ := os.ReadFile(videoPath)
	var truth scenario.GroundTruth
	raw, _ := os.ReadFile(truthPath)
	if err := json.Unmarshal(raw, &truth); err != nil {
		t.Fatal(err)
	}

	srv.start(t)
	for _, p := range products {
		if code, body := registerImage(t, c, p); code != http.StatusCreated {
			t.Fatalf("register %s: %d %s", p.Name, code, body)
		}
	}
	late := scenario.SyntheticProducts(7, 2)[6]
	late.Name = "Late product"

	// Disk full.
	ns.run(t, true, "sh", "-c", "cat /dev/zero > "+filepath.Join(catalogDir, "filler"))
	code, body := registerImage(t, c, late)
	expectStorage(t, "register with the disk full", code, body, "full")
	first := newSession(t, c)
	checkCart(t, c, first, uploadAndWait(t, c, first, video), truth)
	code, body = confirm(t, c, first)
	expectStorage(t, "confirm with the disk full", code, body, "disk is full")
	checkCart(t, c, first, "after the refused confirm", truth) // kept, not confirmed
	// The registration and the confirm, and the history's records of the upload's decisions
	// (each one refused too: they are kept in the catalog's database).
	if m := metricsText(t, c); storageErrors(m) < 2 {
		t.Errorf("/metrics after two refusals:\n%s", grepLines(m, "ebrcs_catalog"))
	}
	ns.run(t, false, "rm", filepath.Join(catalogDir, "filler"))
	if code, body := confirm(t, c, first); code != http.StatusOK {
		t.Fatalf("confirm once there is room: %d %s", code, body)
	}
	if code, body := registerImage(t, c, late); code != http.StatusCreated {
		t.Fatalf("register once there is room: %d %s", code, body)
	}
	srv.stop(t)

	// Read-only at start.
	ns.run(t, false, "mount", "-o", "remount,ro", catalogDir)
	srv.start(t)
	_, ready, _ := c.do(http.MethodGet, "/readyz", "", nil, false)
	if !strings.Contains(string(ready), `"read_only":true`) {
		t.Errorf("/readyz on a read-only catalog: %s", ready)
	}
	if m := metricsText(t, c); !strings.Contains(m, "ebrcs_catalog_read_only 1") {
		t.Errorf("/metrics on a read-only catalog:\n%s", grepLines(m, "ebrcs_catalog"))
	}
	code, body = registerImage(t, c, scenario.Product{Name: "Refused", Image: late.Image})
	expectStorage(t, "register on a read-only directory", code, body, "read-only")
	code, del, _ := c.do(http.MethodDelete, "/api/products/1", "", nil, true)
	expectStorage(t, "delete on a read-only directory", code, string(del), "read-only")
	second := newSession(t, c)
	checkCart(t, c, second, uploadAndWait(t, c, second, video), truth)
	code, body = confirm(t, c, second)
	expectStorage(t, "confirm on a read-only directory", code, body, "read-only")
	srv.stop(t)

	// Read-write again: acknowledged changes are stored, refused ones are not.
	ns.run(t, false, "mount", "-o", "remount,rw", catalogDir)
	srv.start(t)
	srv.stop(t)
	copyDir := filepath.Join(tmp, "catalog-copy")
	ns.run(t, false, "cp", "-a", catalogDir+"/.", copyDir) // the tmpfs is visible only inside
	db, err := sql.Open("sqlite", filepath.Join(copyDir, "catalog.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var nProducts, nLate, nRefused, nFirst, nSecond int
	for q, dst := range map[string]*int{
		"SELECT count(*) FROM products":                                               &nProducts,
		"SELECT count(*) FROM products WHERE name = 'Late product'":                   &nLate,
		"SELECT count(*) FROM products WHERE name = 'Refused'":                        &nRefused,
		fmt.Sprintf("SELECT count(*) FROM purchases WHERE session_id = '%s'", first):  &nFirst,
		fmt.Sprintf("SELECT count(*) FROM purchases WHERE session_id = '%s'", second): &nSecond,
	} {
		if err := db.QueryRow(q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	if nProducts != 7 || nLate != 1 || nRefused != 0 || nFirst != 1 || nSecond != 0 {
		t.Fatalf("stored: %d products (Late %d, Refused %d), purchases: first %d, second %d; want 7 (1, 0), 1, 0",
			nProducts, nLate, nRefused, nFirst, nSecond)
	}
}

func registerImage(t *testing.T, c *client, p scenario.Product) (int, string) {
	t.Helper()
	var img bytes.Buffer
	if err := png.Encode(&img, p.Image); err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("name", p.Name)
	w, _ := mw.CreateFormFile("images", "product.png")
	_, _ = w.Write(img.Bytes())
	_ = mw.Close()
	code, b, err := c.do(http.MethodPost, "/api/products", mw.FormDataContentType(), body.Bytes(), true)
	if err != nil {
		t.Fatal(err)
	}
	return code, string(b)
}

func expectStorage(t *testing.T, what string, code int, body, says string) {
	t.Helper()
	if code != http.StatusInsufficientStorage || !strings.Contains(body, says) {
		t.Fatalf("%s: %d %s, want 507 saying %q", what, code, body, says)
	}
	t.Logf("%s: %d %s", what, code, strings.TrimSpace(body))
}

func newSession(t *testing.T, c *client) string {
	t.Helper()
	code, b, err := c.do(http.MethodPost, "/api/sessions", "application/json", nil, true)
	var sess struct {
		ID string `json:"id"`
	}
	if err != nil || code != http.StatusCreated || json.Unmarshal(b, &sess) != nil {
		t.Fatalf("create session: %d %s %v", code, b, err)
	}
	return sess.ID
}

// uploadAndWait uploads the video to the session and waits for its task to end.
func uploadAndWait(t *testing.T, c *client, session string, video []byte) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("video", "checkout.mp4")
	_, _ = w.Write(video)
	_ = mw.Close()
	code, b, err := c.do(http.MethodPost, "/api/sessions/"+session+"/video", mw.FormDataContentType(), body.Bytes(), true)
	var task struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err != nil || code != http.StatusAccepted || json.Unmarshal(b, &task) != nil {
		t.Fatalf("upload: %d %s %v", code, b, err)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_, b, err := c.do(http.MethodGet, "/api/tasks/"+task.ID, "", nil, true)
		if err == nil && json.Unmarshal(b, &task) == nil && task.State != "queued" && task.State != "running" {
			if task.State != "done" {
				t.Fatalf("upload task: %s", b)
			}
			return "after the upload"
		}
	}
	t.Fatal("the upload task did not finish within 60 s")
	return ""
}

func checkCart(t *testing.T, c *client, session, when string, truth scenario.GroundTruth) {
	t.Helper()
	_, b, err := c.do(http.MethodGet, "/api/sessions/"+session+"/cart", "", nil, true)
	var cart struct {
		Items []struct {
			Product  string `json:"product"`
			Quantity int    `json:"quantity"`
		} `json:"items"`
		Confirmed bool `json:"confirmed"`
	}
	if err != nil || json.Unmarshal(b, &cart) != nil {
		t.Fatalf("cart %s: %s %v", when, b, err)
	}
	got := map[string]int{}
	for _, it := range cart.Items {
		got[it.Product] += it.Quantity
	}
	if fmt.Sprint(got) != fmt.Sprint(truth.Items) || cart.Confirmed {
		t.Fatalf("cart %s: %s, want %v unconfirmed", when, b, truth.Items)
	}
}

func confirm(t *testing.T, c *client, session string) (int, string) {
	t.Helper()
	code, b, err := c.do(http.MethodPost, "/api/sessions/"+session+"/cart/confirm", "application/json", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	return code, string(b)
}

func metricsText(t *testing.T, c *client) string {
	t.Helper()
	_, b, err := c.do(http.MethodGet, "/metrics", "", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// storageErrors is ebrcs_catalog_storage_errors_total in a /metrics text (-1: absent).
func storageErrors(text string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(metricValue(text, "ebrcs_catalog_storage_errors_total")), 64)
	if err != nil {
		return -1
	}
	return f
}
