package web

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/data"
)

// The back office's history: staff only; every record with its crop; filters by time, station
// and product; pages; CSV of counts and of purchases with their prices.
func TestHistoryAPI(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	e.withStore(StoreSettings{Currency: "EUR"})
	milk, err := e.catalog.ProductByName("Milk")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	for i, r := range []data.CountRecord{
		{CreatedAt: t0, SessionID: "s_1", ProductID: milk.ID, Product: "Milk", Score: 0.8, Decision: data.DecisionCount},
		{CreatedAt: t0.Add(time.Hour), SessionID: "st_cam", Station: "cam", Decision: data.DecisionUnknown},
		{CreatedAt: t0.Add(25 * time.Hour), SessionID: "st_cam", Station: "cam", ProductID: milk.ID, Product: "Milk", Score: 0.5, Decision: data.DecisionAsk},
	} {
		if _, err := e.catalog.RecordCount(r, []byte{0xff, 0xd8, byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(path string, token string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		e.h.ServeHTTP(rec, req)
		return rec
	}
	if rec := get("/api/history/counts", ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", rec.Code)
	}
	type page struct {
		Records []struct {
			ID       int64  `json:"id"`
			Product  string `json:"product"`
			Station  string `json:"station"`
			Decision string `json:"decision"`
			Crop     string `json:"crop"`
		} `json:"records"`
		Next int64 `json:"next_before"`
	}
	list := func(query string) page {
		t.Helper()
		rec := get("/api/history/counts"+query, shopStaffToken)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET counts%s: %d %s", query, rec.Code, rec.Body)
		}
		var p page
		json.Unmarshal(rec.Body.Bytes(), &p)
		return p
	}
	if p := list(""); len(p.Records) != 3 || p.Records[0].Decision != "ask" || p.Records[2].Product != "Milk" || p.Next != 0 {
		t.Fatalf("all: %+v", p)
	}
	for q, want := range map[string]int{
		"?station=cam": 2, "?station=-": 1, "?product=milk": 2, "?from=2026-12-06": 1, "?to=2026-12-05": 2,
		"?from=2026-12-05T09:30:00Z&station=cam": 2, "?product=Bread": 0,
	} {
		if p := list(q); len(p.Records) != want {
			t.Errorf("%s: %d records, want %d", q, len(p.Records), want)
		}
	}
	if p := list("?limit=2"); len(p.Records) != 2 || p.Next == 0 || len(list("?limit=2&before="+itoa64(p.Next)).Records) != 1 {
		t.Errorf("pages of 2: %+v", p)
	}
	for _, bad := range []string{"?from=yesterday", "?limit=0", "?before=x"} {
		if rec := get("/api/history/counts"+bad, shopStaffToken); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", bad, rec.Code, rec.Body)
		}
	}
	crop := list("?station=-").Records[0].Crop
	if rec := get(crop, shopStaffToken); rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/jpeg" || rec.Body.Len() != 3 {
		t.Fatalf("GET %s: %d %q %d bytes", crop, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
	if rec := get(crop, ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("a crop without a token: %d", rec.Code)
	}

	rec := get("/api/history/counts.csv?station=cam", shopStaffToken)
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil || rec.Code != http.StatusOK || len(rows) != 3 || rows[0][7] != "decision" || rows[1][5] != "Milk" || rows[1][3] != "cam" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("counts.csv: %d %v %v", rec.Code, rows, err)
	}

	// A name a spreadsheet would take for a formula is exported as text.
	if _, err := e.catalog.RecordCount(data.CountRecord{SessionID: "s_2", Product: "=HYPERLINK(\"x\")", Decision: data.DecisionUnknown}, nil); err != nil {
		t.Fatal(err)
	}
	rec = get("/api/history/counts.csv?station=-&limit=1", shopStaffToken)
	if rows, _ := csv.NewReader(rec.Body).ReadAll(); len(rows) < 2 || rows[1][5] != `'=HYPERLINK("x")` {
		t.Fatalf("a formula-like name in the CSV: %v", rows)
	}

	// A purchase, with its price when bought.
	id := e.create()
	e.do("PUT", "/api/sessions/"+id+"/cart", `{"items": [{"product": "Milk", "quantity": 3}]}`)
	code, body := e.do("POST", "/api/sessions/"+id+"/cart/confirm", "")
	if code != http.StatusOK {
		t.Fatalf("confirm: %d %v", code, body)
	}
	pid := int64(body["purchase"].(map[string]any)["id"].(float64))
	price := int64(119)
	if err := e.catalog.RecordPurchasePrices(pid, []*int64{&price}, "EUR"); err != nil {
		t.Fatal(err)
	}
	rec = get("/api/history/purchases?product=Milk", shopStaffToken)
	var purchases struct {
		Purchases []data.PricedPurchase `json:"purchases"`
	}
	if json.Unmarshal(rec.Body.Bytes(), &purchases); rec.Code != http.StatusOK || len(purchases.Purchases) != 1 || purchases.Purchases[0].TotalCents != 357 {
		t.Fatalf("purchases: %d %s", rec.Code, rec.Body)
	}
	rec = get("/api/history/purchases.csv", shopStaffToken)
	rows, err = csv.NewReader(rec.Body).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][5] != "Milk" || rows[1][7] != "1.19" || rows[1][8] != "3.57" || rows[1][10] != "EUR" {
		t.Fatalf("purchases.csv: %v %v", rows, err)
	}
}

func itoa64(n int64) string { b, _ := json.Marshal(n); return string(b) }
