package data

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Decisions a count record holds: what the camera decided about one visit.
const (
	DecisionCount    = "count"    // counted into the cart
	DecisionAsk      = "ask"      // not sure: the shopper or staff were asked
	DecisionUnknown  = "unknown"  // nothing of the catalog
	DecisionCooldown = "cooldown" // the same product counted moments before: not counted again
)

// CountRecord is one decision of a camera about a visit, as the back office's history shows it.
type CountRecord struct {
	ID        int64     `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	SessionID string    `json:"session_id"`
	// Station is the camera station's pipeline; "" for a shopper's session.
	Station string `json:"station,omitempty"`
	// ProductID is 0 when nothing was recognised, or once the product left the catalog.
	ProductID int64   `json:"product_id,omitempty"`
	Product   string  `json:"product,omitempty"`
	Score     float32 `json:"score,omitempty"`
	Decision  string  `json:"decision"`
	// HasCrop says whether the visit's crop is kept (CountCrop).
	HasCrop bool `json:"has_crop"`
}

// HistoryFilter narrows the history: a time range [From, To) (zero: open), a station (its
// pipeline; "-" for shoppers' sessions only), a product (by id, or by name, case-insensitive),
// and a page: at most Limit rows (0: 100, at most 1000) older than Before (an id; 0: the
// newest).
type HistoryFilter struct {
	From, To  time.Time
	Station   string
	ProductID int64
	Product   string
	Limit     int
	Before    int64
}

// ErrInvalidRecord: a history record without a session or with an unknown decision.
var ErrInvalidRecord = errors.New("data: invalid history record")

// RecordCount keeps one decision of a camera, with the visit's crop (JPEG; nil: none), and
// returns it with its id.
func (c *Catalog) RecordCount(r CountRecord, crop []byte) (CountRecord, error) {
	if err := c.checkWritable(); err != nil {
		return r, err
	}
	switch {
	case strings.TrimSpace(r.SessionID) == "":
		return r, fmt.Errorf("%w: no session", ErrInvalidRecord)
	case r.Decision != DecisionCount && r.Decision != DecisionAsk && r.Decision != DecisionUnknown && r.Decision != DecisionCooldown:
		return r, fmt.Errorf("%w: decision %q", ErrInvalidRecord, r.Decision)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	r.CreatedAt = r.CreatedAt.UTC().Truncate(time.Microsecond)
	if c.record != nil { // the catalog of record keeps every node's history (recordhistory.go)
		return c.record.recordCount(context.Background(), r, crop)
	}
	var pid, name, score, data, mime any
	if r.ProductID > 0 {
		// A product removed meanwhile is kept by name only (the foreign key would refuse it).
		var n int
		if err := c.db.QueryRow("SELECT count(*) FROM products WHERE id = ?", r.ProductID).Scan(&n); err != nil {
			return r, c.storageError(fmt.Errorf("data: record count: %w", err))
		}
		if n > 0 {
			pid = r.ProductID
		} else {
			r.ProductID = 0
		}
	}
	if r.Product != "" {
		name = r.Product
	}
	if r.Score != 0 {
		score = float64(r.Score)
	}
	if len(crop) > 0 {
		data, mime = crop, "image/jpeg"
	}
	var station any
	if r.Station != "" {
		station = r.Station
	}
	err := c.db.QueryRow(`INSERT INTO count_history (created_at, session_id, station, product_id, product_name, score, decision, crop, crop_mime)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		formatTime(r.CreatedAt), r.SessionID, station, pid, name, score, r.Decision, data, mime).Scan(&r.ID)
	if err != nil {
		return r, c.storageError(fmt.Errorf("data: record count: %w", err))
	}
	r.HasCrop = len(crop) > 0
	return r, nil
}

// Counts lists the history's records that pass f, newest first.
func (c *Catalog) Counts(f HistoryFilter) ([]CountRecord, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	if c.record != nil {
		return c.record.counts(context.Background(), f)
	}
	where, args := f.where("h.")
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	rows, err := c.db.Query(`SELECT h.id, h.created_at, h.session_id, h.station, h.product_id, h.product_name, h.score, h.decision, h.crop IS NOT NULL
		FROM count_history h`+where+` ORDER BY h.id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("data: history: %w", err)
	}
	out := []CountRecord{}
	for rows.Next() {
		var r CountRecord
		var created string
		var station, name sql.NullString
		var pid sql.NullInt64
		var score sql.NullFloat64
		if err := rows.Scan(&r.ID, &created, &r.SessionID, &station, &pid, &name, &score, &r.Decision, &r.HasCrop); err != nil {
			rows.Close()
			return nil, fmt.Errorf("data: history: %w", err)
		}
		if r.CreatedAt, err = time.Parse(timeLayout, created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("data: history: created_at %q: %w", created, err)
		}
		r.Station, r.ProductID, r.Product, r.Score = station.String, pid.Int64, name.String, float32(score.Float64)
		out = append(out, r)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("data: history: %w", err)
	}
	return out, nil
}

// where is the SQL condition of f on count_history (columns prefixed with p), and its
// arguments.
func (f HistoryFilter) where(p string) (string, []any) {
	var conds []string
	var args []any
	if !f.From.IsZero() {
		conds, args = append(conds, p+"created_at >= ?"), append(args, formatTime(f.From))
	}
	if !f.To.IsZero() {
		conds, args = append(conds, p+"created_at < ?"), append(args, formatTime(f.To))
	}
	switch f.Station {
	case "":
	case "-":
		conds = append(conds, p+"station IS NULL")
	default:
		conds, args = append(conds, p+"station = ?"), append(args, f.Station)
	}
	if f.ProductID > 0 {
		conds, args = append(conds, p+"product_id = ?"), append(args, f.ProductID)
	}
	if f.Product != "" {
		conds, args = append(conds, "lower("+p+"product_name) = lower(?)"), append(args, f.Product)
	}
	if f.Before > 0 {
		conds, args = append(conds, p+"id < ?"), append(args, f.Before)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// CountCrop returns a history record's crop and its type, or ErrNotFound.
func (c *Catalog) CountCrop(id int64) ([]byte, string, error) {
	if err := c.checkOpen(); err != nil {
		return nil, "", err
	}
	if c.record != nil {
		return c.record.countCrop(context.Background(), id)
	}
	var data []byte
	var mime sql.NullString
	err := c.db.QueryRow("SELECT crop, crop_mime FROM count_history WHERE id = ?", id).Scan(&data, &mime)
	if errors.Is(err, sql.ErrNoRows) || err == nil && len(data) == 0 {
		return nil, "", fmt.Errorf("%w: no crop for history record %d", ErrNotFound, id)
	}
	if err != nil {
		return nil, "", fmt.Errorf("data: history crop %d: %w", id, err)
	}
	return data, mime.String, nil
}

// PruneHistory removes the count records older than before (their crops with them) and
// returns how many went. Purchases are kept.
func (c *Catalog) PruneHistory(before time.Time) (int64, error) {
	if err := c.checkWritable(); err != nil {
		return 0, err
	}
	if c.record != nil {
		return c.record.pruneHistory(context.Background(), before)
	}
	res, err := c.db.Exec("DELETE FROM count_history WHERE created_at < ?", formatTime(before))
	if err != nil {
		return 0, c.storageError(fmt.Errorf("data: prune history: %w", err))
	}
	return res.RowsAffected()
}

// RecordPurchasePrices keeps the unit price of each line of a stored purchase (in the order
// of its items; nil: no price) and the currency they are in.
func (c *Catalog) RecordPurchasePrices(purchaseID int64, unitCents []*int64, currency string) error {
	if err := c.checkWritable(); err != nil {
		return err
	}
	ctx := context.Background()
	if c.record != nil {
		return c.record.recordPurchasePrices(ctx, purchaseID, unitCents, currency)
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return c.storageError(fmt.Errorf("data: purchase prices: %w", err))
	}
	defer tx.Rollback()
	for i, p := range unitCents {
		var v any
		if p != nil {
			v = *p
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO purchase_prices (purchase_id, position, unit_price_cents, currency)
			VALUES (?, ?, ?, ?)`, purchaseID, i+1, v, currency); err != nil {
			return c.storageError(fmt.Errorf("data: purchase %d prices: %w", purchaseID, err))
		}
	}
	return c.storageError(tx.Commit())
}

// PricedItem is a purchase line with its price when bought.
type PricedItem struct {
	PurchaseItem
	// UnitCents is the unit price when bought (nil: none, or not recorded).
	UnitCents *int64 `json:"unit_price_cents"`
	// LineCents is UnitCents × Quantity (nil when UnitCents is).
	LineCents *int64 `json:"line_cents"`
}

// PricedPurchase is a purchase with its lines' prices and total.
type PricedPurchase struct {
	ID        int64        `json:"id"`
	SessionID string       `json:"session_id"`
	CreatedAt time.Time    `json:"created_at"`
	Items     []PricedItem `json:"items"`
	// TotalCents is the sum of the priced lines; Unpriced counts the lines without a price.
	TotalCents int64  `json:"total_cents"`
	Unpriced   int    `json:"unpriced"`
	Currency   string `json:"currency,omitempty"`
}

// PurchaseHistory lists the purchases made in [f.From, f.To) that hold f's product (by id or
// name; none: any), newest first, with their lines, prices and totals; f.Station, when set,
// keeps the purchases of that station's session ("-": shoppers' sessions only).
func (c *Catalog) PurchaseHistory(f HistoryFilter) ([]PricedPurchase, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	if c.record != nil {
		return c.record.purchaseHistory(context.Background(), f)
	}
	var conds []string
	var args []any
	if !f.From.IsZero() {
		conds, args = append(conds, "p.created_at >= ?"), append(args, formatTime(f.From))
	}
	if !f.To.IsZero() {
		conds, args = append(conds, "p.created_at < ?"), append(args, formatTime(f.To))
	}
	switch f.Station {
	case "":
	case "-":
		conds = append(conds, "p.session_id NOT LIKE 'st\\_%' ESCAPE '\\'")
	default:
		conds, args = append(conds, "p.session_id = ?"), append(args, "st_"+f.Station)
	}
	if f.ProductID > 0 {
		conds, args = append(conds, "EXISTS (SELECT 1 FROM purchase_items i WHERE i.purchase_id = p.id AND i.product_id = ?)"), append(args, f.ProductID)
	}
	if f.Product != "" {
		conds, args = append(conds, "EXISTS (SELECT 1 FROM purchase_items i WHERE i.purchase_id = p.id AND lower(i.product_name) = lower(?))"), append(args, f.Product)
	}
	if f.Before > 0 {
		conds, args = append(conds, "p.id < ?"), append(args, f.Before)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	rows, err := c.db.Query("SELECT p.id, p.session_id, p.created_at FROM purchases p"+where+" ORDER BY p.id DESC LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("data: purchase history: %w", err)
	}
	out := []PricedPurchase{}
	for rows.Next() {
		var p PricedPurchase
		var created string
		if err := rows.Scan(&p.ID, &p.SessionID, &created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("data: purchase history: %w", err)
		}
		if p.CreatedAt, err = time.Parse(timeLayout, created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("data: purchase history: created_at %q: %w", created, err)
		}
		out = append(out, p)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("data: purchase history: %w", err)
	}
	for i := range out {
		if err := c.pricedItems(&out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pricedItems fills p's lines, prices and totals.
func (c *Catalog) pricedItems(p *PricedPurchase) error {
	rows, err := c.db.Query(`SELECT i.product_id, i.product_name, i.quantity, i.score, pp.unit_price_cents, pp.currency
		FROM purchase_items i LEFT JOIN purchase_prices pp ON pp.purchase_id = i.purchase_id AND pp.position = i.position
		WHERE i.purchase_id = ? ORDER BY i.position`, p.ID)
	if err != nil {
		return fmt.Errorf("data: purchase %d: %w", p.ID, err)
	}
	p.Items = []PricedItem{}
	for rows.Next() {
		var it PricedItem
		var pid, unit sql.NullInt64
		var score sql.NullFloat64
		var currency sql.NullString
		if err := rows.Scan(&pid, &it.Product, &it.Quantity, &score, &unit, &currency); err != nil {
			rows.Close()
			return fmt.Errorf("data: purchase %d: %w", p.ID, err)
		}
		it.ProductID, it.Score = pid.Int64, float32(score.Float64)
		if unit.Valid {
			u, line := unit.Int64, unit.Int64*int64(it.Quantity)
			it.UnitCents, it.LineCents = &u, &line
			p.TotalCents += line
		} else {
			p.Unpriced++
		}
		if currency.Valid && p.Currency == "" {
			p.Currency = currency.String
		}
		p.Items = append(p.Items, it)
	}
	return closeRows(rows)
}
