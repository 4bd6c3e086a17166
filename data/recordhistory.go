package data

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The history (history.go) in the catalog of record: every node's decisions and purchase
// prices in one place, in the tables of PostgreSQL migration 2, which mirror SQLite's
// migration 4. Like purchases, it is written and read there only. A decision that cannot be
// written while the database is down is refused with ErrCatalogUnavailable (the checkout
// logs it and counts on).

// recordCount writes a validated count record.
func (r *pgRecord) recordCount(ctx context.Context, rec CountRecord, crop []byte) (CountRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	var pid *int64
	if rec.ProductID > 0 {
		// A product removed meanwhile is kept by name only.
		var exists bool
		if err := r.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM products WHERE id = $1)", rec.ProductID).Scan(&exists); err != nil {
			return rec, unavailable(err)
		}
		if exists {
			pid = &rec.ProductID
		} else {
			rec.ProductID = 0
		}
	}
	var mime *string
	if len(crop) > 0 {
		m := "image/jpeg"
		mime = &m
	} else {
		crop = nil
	}
	err := r.pool.QueryRow(ctx, `INSERT INTO count_history (created_at, session_id, station, product_id, product_name, score, decision, crop, crop_mime)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		rec.CreatedAt, rec.SessionID, nullString(rec.Station), pid, nullString(rec.Product), nullScore(rec.Score), rec.Decision, crop, mime).Scan(&rec.ID)
	if err != nil {
		return rec, unavailable(err)
	}
	rec.HasCrop = len(crop) > 0
	return rec, nil
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullScore(f float32) *float32 {
	if f == 0 {
		return nil
	}
	return &f
}

// pgConds collects the conditions of a query with PostgreSQL's numbered parameters.
type pgConds struct {
	conds []string
	args  []any
}

// add adds a condition whose "?" is the next parameter, bound to arg.
func (q *pgConds) add(cond string, arg ...any) {
	for _, a := range arg {
		q.args = append(q.args, a)
		cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(q.args)), 1)
	}
	q.conds = append(q.conds, cond)
}

func (q *pgConds) where() string {
	if len(q.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.conds, " AND ")
}

// limit adds the page size as the last parameter and returns its placeholder.
func (q *pgConds) limit(n int) string {
	if n <= 0 {
		n = 100
	}
	q.args = append(q.args, min(n, 1000))
	return fmt.Sprintf("$%d", len(q.args))
}

// counts lists the count records that pass f, newest first.
func (r *pgRecord) counts(ctx context.Context, f HistoryFilter) ([]CountRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	var q pgConds
	if !f.From.IsZero() {
		q.add("h.created_at >= ?", f.From)
	}
	if !f.To.IsZero() {
		q.add("h.created_at < ?", f.To)
	}
	switch f.Station {
	case "":
	case "-":
		q.add("h.station IS NULL")
	default:
		q.add("h.station = ?", f.Station)
	}
	if f.ProductID > 0 {
		q.add("h.product_id = ?", f.ProductID)
	}
	if f.Product != "" {
		q.add("lower(h.product_name) = lower(?)", f.Product)
	}
	if f.Before > 0 {
		q.add("h.id < ?", f.Before)
	}
	where := q.where()
	rows, err := r.pool.Query(ctx, `SELECT h.id, h.created_at, h.session_id, coalesce(h.station, ''), coalesce(h.product_id, 0),
		coalesce(h.product_name, ''), coalesce(h.score, 0), h.decision, h.crop IS NOT NULL FROM count_history h`+where+
		" ORDER BY h.id DESC LIMIT "+q.limit(f.Limit), q.args...)
	if err != nil {
		return nil, unavailable(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (CountRecord, error) {
		var c CountRecord
		err := row.Scan(&c.ID, &c.CreatedAt, &c.SessionID, &c.Station, &c.ProductID, &c.Product, &c.Score, &c.Decision, &c.HasCrop)
		c.CreatedAt = c.CreatedAt.UTC()
		return c, err
	})
	if err != nil {
		return nil, unavailable(err)
	}
	if out == nil {
		out = []CountRecord{}
	}
	return out, nil
}

// countCrop returns a count record's crop, or ErrNotFound.
func (r *pgRecord) countCrop(ctx context.Context, id int64) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	var data []byte
	var mime *string
	err := r.pool.QueryRow(ctx, "SELECT crop, crop_mime FROM count_history WHERE id = $1", id).Scan(&data, &mime)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && len(data) == 0 {
		return nil, "", fmt.Errorf("%w: no crop for history record %d", ErrNotFound, id)
	}
	if err != nil {
		return nil, "", unavailable(err)
	}
	if mime == nil {
		return data, "", nil
	}
	return data, *mime, nil
}

// pruneHistory removes the count records older than before.
func (r *pgRecord) pruneHistory(ctx context.Context, before time.Time) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	tag, err := r.pool.Exec(ctx, "DELETE FROM count_history WHERE created_at < $1", before)
	if err != nil {
		return 0, unavailable(err)
	}
	return tag.RowsAffected(), nil
}

// recordPurchasePrices keeps the unit prices of a purchase's lines, in one transaction.
func (r *pgRecord) recordPurchasePrices(ctx context.Context, purchaseID int64, unitCents []*int64, currency string) error {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		for i, p := range unitCents {
			if _, err := tx.Exec(ctx, `INSERT INTO purchase_prices (purchase_id, position, unit_price_cents, currency) VALUES ($1, $2, $3, $4)
				ON CONFLICT (purchase_id, position) DO UPDATE SET unit_price_cents = EXCLUDED.unit_price_cents, currency = EXCLUDED.currency`,
				purchaseID, i+1, p, currency); err != nil {
				return err
			}
		}
		return nil
	})
	return unavailable(err)
}

// purchaseHistory is Catalog.PurchaseHistory in the record.
func (r *pgRecord) purchaseHistory(ctx context.Context, f HistoryFilter) ([]PricedPurchase, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	var q pgConds
	if !f.From.IsZero() {
		q.add("p.created_at >= ?", f.From)
	}
	if !f.To.IsZero() {
		q.add("p.created_at < ?", f.To)
	}
	switch f.Station {
	case "":
	case "-":
		q.add(`p.session_id NOT LIKE 'st\_%'`)
	default:
		q.add("p.session_id = ?", "st_"+f.Station)
	}
	if f.ProductID > 0 {
		q.add("EXISTS (SELECT 1 FROM purchase_items i WHERE i.purchase_id = p.id AND i.product_id = ?)", f.ProductID)
	}
	if f.Product != "" {
		q.add("EXISTS (SELECT 1 FROM purchase_items i WHERE i.purchase_id = p.id AND lower(i.product_name) = lower(?))", f.Product)
	}
	if f.Before > 0 {
		q.add("p.id < ?", f.Before)
	}
	where := q.where()
	rows, err := r.pool.Query(ctx, "SELECT p.id, p.session_id, p.created_at FROM purchases p"+where+" ORDER BY p.id DESC LIMIT "+q.limit(f.Limit), q.args...)
	if err != nil {
		return nil, unavailable(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PricedPurchase, error) {
		var p PricedPurchase
		err := row.Scan(&p.ID, &p.SessionID, &p.CreatedAt)
		p.CreatedAt = p.CreatedAt.UTC()
		return p, err
	})
	if err != nil {
		return nil, unavailable(err)
	}
	if out == nil {
		out = []PricedPurchase{}
	}
	for i := range out {
		if err := r.pricedItems(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pricedItems fills p's lines, prices and totals.
func (r *pgRecord) pricedItems(ctx context.Context, p *PricedPurchase) error {
	rows, err := r.pool.Query(ctx, `SELECT coalesce(i.product_id, 0), i.product_name, i.quantity, coalesce(i.score, 0), pp.unit_price_cents, pp.currency
		FROM purchase_items i LEFT JOIN purchase_prices pp ON pp.purchase_id = i.purchase_id AND pp.position = i.position
		WHERE i.purchase_id = $1 ORDER BY i.position`, p.ID)
	if err != nil {
		return unavailable(err)
	}
	defer rows.Close()
	p.Items = []PricedItem{}
	for rows.Next() {
		var it PricedItem
		var unit *int64
		var currency *string
		if err := rows.Scan(&it.ProductID, &it.Product, &it.Quantity, &it.Score, &unit, &currency); err != nil {
			return unavailable(err)
		}
		if unit != nil {
			line := *unit * int64(it.Quantity)
			it.UnitCents, it.LineCents = unit, &line
			p.TotalCents += line
		} else {
			p.Unpriced++
		}
		if currency != nil && p.Currency == "" {
			p.Currency = *currency
		}
		p.Items = append(p.Items, it)
	}
	return unavailable(rows.Err())
}
