package clustertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/testkit/natstest"
	"github.com/ebrcs/ebrcs/testkit/pgtest"
	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// catalogNodes configures three nodes on one NATS server and one PostgreSQL catalog
// (catalog_url), started.
func catalogNodes(t testing.TB, broker *natstest.Server, catalogURL string) []*node {
	t.Helper()
	var nodes []*node
	for _, name := range []string{"n1", "n2", "n3"} {
		n := newNode(t, name, broker.URL, limits{})
		f, err := os.OpenFile(n.config, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "catalog_url: %s\n", catalogURL)
		f.Close()
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		n.start(t, true)
	}
	return nodes
}

// call makes a request as the admin and returns the status and body (status 0: no answer).
func (n *node) call(method, path, contentType string, body []byte) (int, []byte) {
	req, err := http.NewRequest(method, n.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-Admin-Token", adminToken)
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// register posts a product with its images (PNG) and returns the status and the id.
func (n *node) register(t testing.TB, name string, imgs ...image.Image) (int, int64, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("name", name)
	for _, img := range imgs {
		w, _ := mw.CreateFormFile("images", "product.png")
		if err := png.Encode(w, img); err != nil {
			t.Fatal(err)
		}
	}
	_ = mw.Close()
	code, b := n.call(http.MethodPost, "/api/products", mw.FormDataContentType(), body.Bytes())
	var p struct {
		ID int64 `json:"id"`
	}
	_ = json.Unmarshal(b, &p)
	return code, p.ID, string(b)
}

// has says whether the node's replica holds product id.
func (n *node) has(id int64) bool {
	code, _ := n.call(http.MethodGet, fmt.Sprintf("/api/products/%d", id), "", nil)
	return code == http.StatusOK
}

// replica reads the replica's state from /readyz.
type replicaState struct {
	Seq       int64 `json:"seq"`
	Connected bool  `json:"connected"`
	Products  int   `json:"products"`
	Vectors   int   `json:"vectors"`
}

func (n *node) replica() (replicaState, bool) {
	code, b := n.call(http.MethodGet, "/readyz", "", nil)
	var r struct {
		Catalog struct {
			Replica *replicaState `json:"replica"`
		} `json:"catalog"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &r) != nil || r.Catalog.Replica == nil {
		return replicaState{}, false
	}
	return *r.Catalog.Replica, true
}

// productList is the node's GET /api/products as "id:name:images,...".
func (n *node) productList(t testing.TB) string {
	t.Helper()
	code, b := n.call(http.MethodGet, "/api/products", "", nil)
	var list []struct {
		ID     int64  `json:"id"`
		Name   string `json:"name"`
		Images int    `json:"images"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &list) != nil {
		t.Fatalf("%s /api/products: %d %s", n.name, code, b)
	}
	var out []string
	for _, p := range list {
		out = append(out, fmt.Sprintf("%d:%s:%d", p.ID, p.Name, p.Images))
	}
	return strings.Join(out, ",")
}

// recordList is the same list read from PostgreSQL.
func recordList(t testing.TB, pg *pgtest.Server) string {
	t.Helper()
	return pg.Psql(t, "catalog", `SELECT coalesce(string_agg(p.id || ':' || p.name || ':' ||
		(SELECT count(*) FROM product_images i WHERE i.product_id = p.id), ',' ORDER BY p.id), '') FROM products p`)
}

// sameAsRecord waits until every node's replica has applied the record's last change, then
// fails unless each lists exactly the record's products and indexes exactly its vectors.
func sameAsRecord(t testing.TB, pg *pgtest.Server, nodes ...*node) {
	t.Helper()
	seq := pg.Psql(t, "catalog", "SELECT seq FROM change_seq")
	waitFor(t, 10*time.Second, "every replica at change "+seq, func() bool {
		for _, n := range nodes {
			if r, ok := n.replica(); !ok || fmt.Sprint(r.Seq) != seq || !r.Connected {
				return false
			}
		}
		return true
	})
	want := recordList(t, pg)
	vectors := pg.Psql(t, "catalog", "SELECT count(*) FROM embeddings")
	for _, n := range nodes {
		if got := n.productList(t); got != want {
			t.Fatalf("%s's replica lists\n%s\nthe database\n%s", n.name, got, want)
		}
		if r, _ := n.replica(); fmt.Sprint(r.Vectors) != vectors {
			t.Fatalf("%s indexes %d vectors, the database holds %s", n.name, r.Vectors, vectors)
		}
	}
}

// Three nodes on one PostgreSQL catalog and one NATS: a product registered on n1 is on n3
// within 2 s and counted there from a checkout video; removed on n2 it leaves the others
// within 2 s; a purchase confirmed on n2 is in PostgreSQL once and on the stream once; n3
// killed -9 catches up with what changed while it was down.
func TestCatalogAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PostgreSQL, NATS and three servers")
	}
	pg := pgtest.Start(t)
	catalogURL := pg.CreateDatabase(t, "catalog")
	broker := natstest.Start(t)
	nodes := catalogNodes(t, broker, catalogURL)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				t.Logf("%s's log:\n%s", n.name, n.log)
			}
		}
	})

	products, video, truth := checkoutVideo(t)

	// Registered on n1: on n2 and n3 within 2 s.
	ids := map[string]int64{}
	for _, p := range products {
		code, id, body := n1.register(t, p.Name, p.Image)
		if code != http.StatusCreated {
			t.Fatalf("register %s on n1: %d %s", p.Name, code, body)
		}
		start := time.Now()
		waitFor(t, 2*time.Second, p.Name+" on n2 and n3", func() bool { return n3.has(id) && n2.has(id) })
		t.Logf("%s registered on n1: on n2 and n3 after %v", p.Name, time.Since(start).Round(time.Millisecond))
		ids[p.Name] = id
	}

	// Counted on n3.
	session := n3.session(t)
	n3.upload(t, session, video)
	if got := n3.cart(t, session); fmt.Sprint(got) != fmt.Sprint(truth.Items) {
		t.Fatalf("n3 counted %v, want %v", got, truth.Items)
	}

	// Removed on n2: gone from n1 and n3 within 2 s.
	gone := products[5].Name
	if code, b := n2.call(http.MethodDelete, fmt.Sprintf("/api/products/%d", ids[gone]), "", nil); code != http.StatusNoContent {
		t.Fatalf("remove %s on n2: %d %s", gone, code, b)
	}
	start := time.Now()
	waitFor(t, 2*time.Second, gone+" gone from n1 and n3", func() bool { return !n1.has(ids[gone]) && !n3.has(ids[gone]) })
	t.Logf("%s removed on n2: gone from n1 and n3 after %v", gone, time.Since(start).Round(time.Millisecond))

	// A purchase confirmed on n2: once in PostgreSQL, once on the stream.
	buyer := n2.session(t)
	cartJSON := fmt.Sprintf(`{"items":[{"product":%q,"quantity":2}],"version":0}`, products[0].Name)
	if code, b := n2.call(http.MethodPut, "/api/sessions/"+buyer+"/cart", "application/json", []byte(cartJSON)); code != http.StatusOK {
		t.Fatalf("cart on n2: %d %s", code, b)
	}
	for range 2 { // the second confirm is refused: once only
		n2.call(http.MethodPost, "/api/sessions/"+buyer+"/cart/confirm", "application/json", nil)
	}
	if got := pg.Psql(t, "catalog", fmt.Sprintf(`SELECT count(*) || ' ' || coalesce(sum(i.quantity), 0) FROM purchases p
		JOIN purchase_items i ON i.purchase_id = p.id WHERE p.session_id = '%s'`, buyer)); got != "1 2" {
		t.Fatalf("the purchase in PostgreSQL: %q items/quantity, want one line of 2", got)
	}

	// n3 killed -9; meanwhile a product comes and one goes; back, it catches up.
	n3.kill()
	code, late, body := n1.register(t, "Late product", scenario.SyntheticProducts(8, 3)[7].Image)
	if code != http.StatusCreated {
		t.Fatalf("register on n1 with n3 down: %d %s", code, body)
	}
	if code, b := n2.call(http.MethodDelete, fmt.Sprintf("/api/products/%d", ids[products[4].Name]), "", nil); code != http.StatusNoContent {
		t.Fatalf("remove on n2 with n3 down: %d %s", code, b)
	}
	n3.start(t, true)
	if !n3.has(late) || n3.has(ids[products[4].Name]) {
		t.Fatal("n3 restarted has not caught up with the changes made while it was down")
	}
	sameAsRecord(t, pg, n1, n2, n3)

	for _, n := range nodes {
		n.stop()
	}
	confirmed := 0
	for s, k := range streamSubjects(t, broker.URL) {
		if s == "ebrcs.n2."+buyer+".confirmed" {
			confirmed += k
		}
	}
	if confirmed != 1 {
		t.Fatalf("%d confirmations of %s on the stream, want 1", confirmed, buyer)
	}
}

// PostgreSQL killed -9 twenty times while two nodes register products: a registration is
// either refused with 503 naming the database or stored whole; once it is back every replica
// equals the database. Recognition goes on throughout: each node's catalog answers while
// the database is down, and a checkout video is counted on n3 during one of the outages.
func TestCatalogDatabaseKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PostgreSQL, NATS and three servers")
	}
	pg := pgtest.Start(t)
	catalogURL := pg.CreateDatabase(t, "catalog")
	broker := natstest.Start(t)
	nodes := catalogNodes(t, broker, catalogURL)
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				t.Logf("%s's log:\n%s", n.name, n.log)
			}
		}
	})
	images := scenario.SyntheticProducts(40, 7)
	products, video, truth := checkoutVideo(t)
	for _, p := range products {
		if code, _, body := nodes[0].register(t, p.Name, p.Image); code != http.StatusCreated {
			t.Fatalf("register %s: %d %s", p.Name, code, body)
		}
	}
	waitFor(t, 2*time.Second, "the products on n3", func() bool { r, _ := nodes[2].replica(); return r.Products == len(products) })
	session := nodes[2].session(t)
	buyer := nodes[1].session(t)
	cartJSON := fmt.Sprintf(`{"items":[{"product":%q,"quantity":1}],"version":0}`, products[1].Name)
	if code, b := nodes[1].call(http.MethodPut, "/api/sessions/"+buyer+"/cart", "application/json", []byte(cartJSON)); code != http.StatusOK {
		t.Fatalf("cart on n2: %d %s", code, b)
	}

	var mu sync.Mutex
	created := map[int64]string{}
	refused, other := 0, []string{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, n := range nodes[:2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("%s product %d", n.name, i)
				code, id, body := n.register(t, name, images[(2*i+w)%len(images)].Image, images[(2*i+w+1)%len(images)].Image)
				mu.Lock()
				switch {
				case code == http.StatusCreated:
					created[id] = name
				case code == http.StatusServiceUnavailable && strings.Contains(body, "catalog database is unavailable"):
					refused++
				default:
					other = append(other, fmt.Sprintf("%s: %d %s", name, code, body))
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	start := time.Now()
	for k := range 20 {
		time.Sleep(300 * time.Millisecond)
		pg.Kill()
		// Down: every node still answers from its replica.
		for _, n := range nodes {
			if code, _ := n.call(http.MethodGet, "/api/products", "", nil); code != http.StatusOK {
				t.Fatalf("kill %d: %s's catalog does not answer with the database down: %d", k+1, n.name, code)
			}
		}
		if k == 4 {
			// A purchase is refused, the cart kept for a later confirm.
			code, b := nodes[1].call(http.MethodPost, "/api/sessions/"+buyer+"/cart/confirm", "application/json", nil)
			if code != http.StatusServiceUnavailable || !strings.Contains(string(b), "catalog database is unavailable") {
				t.Fatalf("a confirm with the database down: %d %s, want 503 naming the database", code, b)
			}
		}
		if k == 9 {
			nodes[2].upload(t, session, video)
			// Counted, or asked about (a review naming it: the catalog's fit may lag the
			// registrations that go on all through this test), never lost or counted wrong.
			got, reviews := nodes[2].cartAndAsked(t, session)
			missing := 0
			for name, n := range got {
				if n > truth.Items[name] {
					t.Fatalf("n3 counted %v with the database down, want %v", got, truth.Items)
				}
			}
			for name, want := range truth.Items {
				if got[name] < want {
					missing += want - got[name]
					if !slices.ContainsFunc(reviews, func(c []string) bool { return slices.Contains(c, name) }) {
						t.Fatalf("n3 counted %v with the database down and asked about %v, want %v", got, reviews, truth.Items)
					}
				}
			}
			if missing > len(reviews) {
				t.Fatalf("n3 counted %v with the database down and asked about %v, want %v", got, reviews, truth.Items)
			}
			t.Logf("kill %d: a checkout video counted on n3 with the database down", k+1)
		}
		time.Sleep(100 * time.Millisecond)
		pg.Start(t)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("20 kills in %v: %d products stored, %d registrations refused with 503", time.Since(start).Round(time.Millisecond), len(created), refused)
	if len(other) > 0 {
		t.Fatalf("registrations answered neither 201 nor 503 naming the database:\n%s", strings.Join(other, "\n"))
	}
	if len(created) == 0 || refused == 0 {
		t.Fatalf("%d stored, %d refused: the kills did not land during registrations", len(created), refused)
	}
	// No half product: every product of the database has both its photos and their vectors.
	if half := pg.Psql(t, "catalog", `SELECT count(*) FROM products p WHERE
		(SELECT count(*) FROM product_images i WHERE i.product_id = p.id) <> CASE WHEN p.name LIKE 'n_ product %' THEN 2 ELSE 1 END OR
		EXISTS (SELECT 1 FROM product_images i WHERE i.product_id = p.id AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.image_id = i.id))`); half != "0" {
		t.Fatalf("%s products without all their images and their vectors", half)
	}
	// Every 201 is in the database (a 503 may be too: the connection died during its commit).
	var ids []string
	for id := range created {
		ids = append(ids, fmt.Sprint(id))
	}
	sort.Strings(ids)
	if n := pg.Psql(t, "catalog", "SELECT count(*) FROM products WHERE id IN ("+strings.Join(ids, ",")+")"); n != fmt.Sprint(len(ids)) {
		t.Fatalf("%s of the %d products answered 201 are in the database", n, len(ids))
	}
	sameAsRecord(t, pg, nodes...)
	if code, b := nodes[1].call(http.MethodPost, "/api/sessions/"+buyer+"/cart/confirm", "application/json", nil); code != http.StatusOK {
		t.Fatalf("the confirm again once the database is back: %d %s", code, b)
	}
	if n := pg.Psql(t, "catalog", "SELECT count(*) FROM purchases WHERE session_id = '"+buyer+"'"); n != "1" {
		t.Fatalf("%s purchases of the session in the database, want 1", n)
	}
}

// checkoutVideo makes six products and a checkout video showing two of them, with its
// ground truth.
func checkoutVideo(t *testing.T) ([]scenario.Product, []byte, scenario.GroundTruth) {
	t.Helper()
	gst.Init(nil)
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
	videoPath, truthPath, err := scenario.Generate(t.TempDir(), sc, products, "mp4")
	if err != nil {
		t.Fatal(err)
	}
	video, _ := os.ReadFile(videoPath)
	var truth scenario.GroundTruth
	raw, _ := os.ReadFile(truthPath)
	if err := json.Unmarshal(raw, &truth); err != nil {
		t.Fatal(err)
	}
	return products, video, truth
}

// session, upload and cart drive a checkout on the node.
func (n *node) session(t *testing.T) string {
	t.Helper()
	code, b := n.call(http.MethodPost, "/api/sessions", "application/json", nil)
	var s struct {
		ID string `json:"id"`
	}
	if code != http.StatusCreated || json.Unmarshal(b, &s) != nil {
		t.Fatalf("%s: new session: %d %s", n.name, code, b)
	}
	return s.ID
}

func (n *node) upload(t *testing.T, session string, video []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("video", filepath.Base("checkout.mp4"))
	_, _ = w.Write(video)
	_ = mw.Close()
	code, b := n.call(http.MethodPost, "/api/sessions/"+session+"/video", mw.FormDataContentType(), body.Bytes())
	var task struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if code != http.StatusAccepted || json.Unmarshal(b, &task) != nil {
		t.Fatalf("%s: upload: %d %s", n.name, code, b)
	}
	waitFor(t, 90*time.Second, n.name+"'s upload task", func() bool {
		_, b := n.call(http.MethodGet, "/api/tasks/"+task.ID, "", nil)
		return json.Unmarshal(b, &task) == nil && task.State != "queued" && task.State != "running"
	})
	if task.State != "done" {
		t.Fatalf("%s: upload task %s", n.name, task.State)
	}
}

// cartAndAsked is a session's cart and its pending reviews' candidates.
func (n *node) cartAndAsked(t *testing.T, session string) (items map[string]int, reviews [][]string) {
	t.Helper()
	_, b := n.call(http.MethodGet, "/api/sessions/"+session+"/cart", "", nil)
	var cart struct {
		Pending []struct {
			Candidates []struct {
				Product string `json:"product"`
			} `json:"candidates"`
		} `json:"pending"`
	}
	if err := json.Unmarshal(b, &cart); err != nil {
		t.Fatalf("%s: cart: %s", n.name, b)
	}
	for _, p := range cart.Pending {
		var names []string
		for _, c := range p.Candidates {
			names = append(names, c.Product)
		}
		reviews = append(reviews, names)
	}
	return n.cart(t, session), reviews
}

func (n *node) cart(t *testing.T, session string) map[string]int {
	t.Helper()
	_, b := n.call(http.MethodGet, "/api/sessions/"+session+"/cart", "", nil)
	var cart struct {
		Items []struct {
			Product  string `json:"product"`
			Quantity int    `json:"quantity"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &cart); err != nil {
		t.Fatalf("%s: cart: %s", n.name, b)
	}
	got := map[string]int{}
	for _, it := range cart.Items {
		got[it.Product] += it.Quantity
	}
	return got
}

// BenchmarkRegisterUntilEveryNode: a product registered on n1 (its photo embedded there) until
// all three nodes' replicas have it, over 50 products: p50/p95 from the request and from the
// 201 response (the replication alone).
func BenchmarkRegisterUntilEveryNode(b *testing.B) {
	pg := pgtest.Start(b)
	catalogURL := pg.CreateDatabase(b, "catalog")
	broker := natstest.Start(b)
	nodes := catalogNodes(b, broker, catalogURL)
	images := scenario.SyntheticProducts(50, 11)
	var total, replication []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, p := range images {
			start := time.Now()
			code, id, body := nodes[0].register(b, fmt.Sprintf("%s %d-%d", p.Name, i, j), p.Image)
			if code != http.StatusCreated {
				b.Fatalf("register: %d %s", code, body)
			}
			stored := time.Now()
			for !nodes[0].has(id) || !nodes[1].has(id) || !nodes[2].has(id) {
				if time.Since(stored) > 10*time.Second {
					b.Fatalf("product %d not on every node within 10 s", id)
				}
				time.Sleep(2 * time.Millisecond)
			}
			total = append(total, time.Since(start))
			replication = append(replication, time.Since(stored))
		}
	}
	b.StopTimer()
	p := func(d []time.Duration, q float64) float64 {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[int(q*float64(len(s)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(p(total, 0.5), "p50-ms")
	b.ReportMetric(p(total, 0.95), "p95-ms")
	b.ReportMetric(p(replication, 0.5), "p50-after-201-ms")
	b.ReportMetric(p(replication, 0.95), "p95-after-201-ms")
}
