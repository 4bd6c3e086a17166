package web

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/data"
)

// maxCSVRows bounds one CSV export (the history's pages put together).
const maxCSVRows = 100000

// historyRoutes adds the back office's history (staff): every decision of the cameras with
// its crop, and the purchases with their lines and prices; filtered by time, station and
// product, as JSON pages or CSV.
func (s *Server) historyRoutes(r *gin.Engine) {
	if s.Catalog == nil {
		return
	}
	api := r.Group("/api/history", s.requireStaff())
	api.GET("/counts", s.historyCounts)
	api.GET("/counts.csv", s.historyCountsCSV)
	api.GET("/counts/:id/crop", s.historyCrop)
	api.GET("/purchases", s.historyPurchases)
	api.GET("/purchases.csv", s.historyPurchasesCSV)
}

// countJSON is a history record with the URL of its crop.
type countJSON struct {
	data.CountRecord
	Crop string `json:"crop,omitempty"`
}

func countView(r data.CountRecord) countJSON {
	v := countJSON{CountRecord: r}
	if r.HasCrop {
		v.Crop = fmt.Sprintf("/api/history/counts/%d/crop", r.ID)
	}
	return v
}

// historyFilter reads ?from=&to=&station=&product=&limit=&before=: times as RFC 3339 or a
// date (2026-12-06: from its start; to: through its end, UTC), a station's pipeline ("-":
// shoppers' sessions), a product id or name. A bad value is 400 naming it.
func historyFilter(c *gin.Context) (data.HistoryFilter, bool) {
	var f data.HistoryFilter
	parseTime := func(field string, endOfDay bool) (time.Time, bool) {
		v := strings.TrimSpace(c.Query(field))
		if v == "" {
			return time.Time{}, true
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, true
		}
		if t, err := time.Parse(time.DateOnly, v); err == nil {
			if endOfDay {
				t = t.AddDate(0, 0, 1)
			}
			return t, true
		}
		fail(c, http.StatusBadRequest, field, "%s: %q, want a date (2026-12-06) or a time (2026-12-06T14:30:00Z)", field, v)
		return time.Time{}, false
	}
	var ok bool
	if f.From, ok = parseTime("from", false); !ok {
		return f, false
	}
	if f.To, ok = parseTime("to", true); !ok {
		return f, false
	}
	f.Station = strings.TrimSpace(c.Query("station"))
	if p := strings.TrimSpace(c.Query("product")); p != "" {
		if id, err := strconv.ParseInt(p, 10, 64); err == nil && id > 0 {
			f.ProductID = id
		} else {
			f.Product = p
		}
	}
	if v := c.Query("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			fail(c, http.StatusBadRequest, "before", "before: %q, want a record id", v)
			return f, false
		}
		f.Before = n
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			fail(c, http.StatusBadRequest, "limit", "limit: %q, want 1 to 1000", v)
			return f, false
		}
		f.Limit = n
	}
	return f, true
}

// historyCounts: GET /api/history/counts → {"records": [...], "next_before": id} (0: no more).
func (s *Server) historyCounts(c *gin.Context) {
	f, ok := historyFilter(c)
	if !ok {
		return
	}
	list, err := s.Catalog.Counts(f)
	if err != nil {
		fail(c, http.StatusInternalServerError, "", "history: %v", err)
		return
	}
	out := make([]countJSON, len(list))
	for i, r := range list {
		out[i] = countView(r)
	}
	c.JSON(http.StatusOK, gin.H{"records": out, "next_before": nextBefore(f, len(list), func() int64 { return list[len(list)-1].ID })})
}

// historyCrop: GET /api/history/counts/{id}/crop, the visit's crop (JPEG).
func (s *Server) historyCrop(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		fail(c, http.StatusNotFound, "id", "no history record %q", c.Param("id"))
		return
	}
	img, mime, err := s.Catalog.CountCrop(id)
	if errors.Is(err, data.ErrNotFound) {
		fail(c, http.StatusNotFound, "", "%v", err)
		return
	}
	if err != nil {
		fail(c, http.StatusInternalServerError, "", "%v", err)
		return
	}
	c.Header("Cache-Control", "private, max-age=86400")
	c.Data(http.StatusOK, mime, img)
}

// historyPurchases: GET /api/history/purchases → {"purchases": [...], "next_before": id}.
func (s *Server) historyPurchases(c *gin.Context) {
	f, ok := historyFilter(c)
	if !ok {
		return
	}
	list, err := s.Catalog.PurchaseHistory(f)
	if err != nil {
		fail(c, http.StatusInternalServerError, "", "purchase history: %v", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"purchases": list, "next_before": nextBefore(f, len(list), func() int64 { return list[len(list)-1].ID })})
}

// nextBefore is the "before" of the next page: the last id of a full page, 0 after the last.
func nextBefore(f data.HistoryFilter, n int, last func() int64) int64 {
	limit := f.Limit
	if limit == 0 {
		limit = 100
	}
	if n == 0 || n < limit {
		return 0
	}
	return last()
}

// csvWriter starts a CSV download named name.
func csvWriter(c *gin.Context, name string) *csvOut {
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename=%q`, name))
	c.Status(http.StatusOK)
	return &csvOut{csv.NewWriter(c.Writer)}
}

// csvOut writes CSV rows whose text cells cannot be taken for formulas by a spreadsheet: a
// cell starting with =, +, -, @ (a product or station name, say) gets a leading apostrophe.
type csvOut struct{ *csv.Writer }

func (w *csvOut) Write(row []string) error {
	for i, cell := range row {
		if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
			if _, err := strconv.ParseFloat(cell, 64); err != nil {
				row[i] = "'" + cell
			}
		}
	}
	return w.Writer.Write(row)
}

// historyCountsCSV: GET /api/history/counts.csv, every record the filter passes (newest
// first), one a line.
func (s *Server) historyCountsCSV(c *gin.Context) {
	f, ok := historyFilter(c)
	if !ok {
		return
	}
	f.Limit = 1000
	first, err := s.Catalog.Counts(f)
	if err != nil {
		fail(c, http.StatusInternalServerError, "", "history: %v", err)
		return
	}
	w := csvWriter(c, "ebrcs-counts.csv")
	w.Write([]string{"id", "time", "session", "station", "product_id", "product", "score", "decision", "crop"})
	rows := 0
	for list := first; len(list) > 0 && rows < maxCSVRows; {
		for _, r := range list {
			v := countView(r)
			pid := ""
			if r.ProductID > 0 {
				pid = strconv.FormatInt(r.ProductID, 10)
			}
			score := ""
			if r.Score != 0 {
				score = strconv.FormatFloat(float64(r.Score), 'f', 3, 32)
			}
			w.Write([]string{strconv.FormatInt(r.ID, 10), r.CreatedAt.UTC().Format(time.RFC3339), r.SessionID, r.Station, pid, r.Product, score, r.Decision, v.Crop})
			rows++
		}
		if len(list) < f.Limit {
			break
		}
		f.Before = list[len(list)-1].ID
		if list, err = s.Catalog.Counts(f); err != nil {
			break // the status is sent; the file ends here
		}
	}
	w.Flush()
}

// historyPurchasesCSV: GET /api/history/purchases.csv, one line per purchase line, with its
// unit price, the line's total and the purchase's total.
func (s *Server) historyPurchasesCSV(c *gin.Context) {
	f, ok := historyFilter(c)
	if !ok {
		return
	}
	f.Limit = 1000
	first, err := s.Catalog.PurchaseHistory(f)
	if err != nil {
		fail(c, http.StatusInternalServerError, "", "purchase history: %v", err)
		return
	}
	cents := func(p *int64) string {
		if p == nil {
			return ""
		}
		return fmt.Sprintf("%d.%02d", *p/100, *p%100)
	}
	w := csvWriter(c, "ebrcs-purchases.csv")
	w.Write([]string{"purchase", "time", "session", "line", "product_id", "product", "quantity", "unit_price", "line_total", "purchase_total", "currency"})
	rows := 0
	for list := first; len(list) > 0 && rows < maxCSVRows; {
		for _, p := range list {
			total := p.TotalCents
			for i, it := range p.Items {
				pid := ""
				if it.ProductID > 0 {
					pid = strconv.FormatInt(it.ProductID, 10)
				}
				w.Write([]string{strconv.FormatInt(p.ID, 10), p.CreatedAt.UTC().Format(time.RFC3339), p.SessionID, strconv.Itoa(i + 1),
					pid, it.Product, strconv.Itoa(it.Quantity), cents(it.UnitCents), cents(it.LineCents), cents(&total), p.Currency})
				rows++
			}
		}
		if len(list) < f.Limit {
			break
		}
		f.Before = list[len(list)-1].ID
		if list, err = s.Catalog.PurchaseHistory(f); err != nil {
			break
		}
	}
	w.Flush()
}
