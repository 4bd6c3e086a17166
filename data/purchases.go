package data

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// PurchaseItem is one line of a confirmed cart.
type PurchaseItem struct {
	// ProductID is the catalog product; 0 once the product has been removed from the catalog
	// (the name stays, so old receipts remain readable).
	ProductID int64   `json:"product_id,omitempty"`
	Product   string  `json:"product"`
	Quantity  int     `json:"quantity"`
	Score     float32 `json:"score,omitempty"` // the last recognition score; 0 if never recognised
}

// Purchase is a confirmed checkout cart.
type Purchase struct {
	ID        int64          `json:"id"`
	SessionID string         `json:"session_id"`
	CreatedAt time.Time      `json:"created_at"`
	Items     []PurchaseItem `json:"items"`
}

// RecordPurchase stores a session's confirmed cart in one transaction and returns it with its
// id. A session can be confirmed only once: a second call returns ErrAlreadyConfirmed and
// changes nothing. Items keep their order.
func (c *Catalog) RecordPurchase(sessionID string, items []PurchaseItem) (*Purchase, error) {
	if err := c.checkWritable(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(sessionID) == "" {
		return nil, fmt.Errorf("%w: no session id", ErrInvalidPurchase)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: the cart is empty", ErrInvalidPurchase)
	}
	for i, it := range items {
		if strings.TrimSpace(it.Product) == "" {
			return nil, fmt.Errorf("%w: item %d has no product name", ErrInvalidPurchase, i)
		}
		if it.Quantity < 1 {
			return nil, fmt.Errorf("%w: item %d (%s) has quantity %d", ErrInvalidPurchase, i, it.Product, it.Quantity)
		}
	}
	if c.record != nil {
		p, err := c.record.recordPurchase(context.Background(), sessionID, items)
		return p, c.recordError(err)
	}
	p, err := c.recordPurchase(sessionID, items)
	return p, c.storageError(err)
}

// recordPurchase writes a validated purchase in one transaction.
func (c *Catalog) recordPurchase(sessionID string, items []PurchaseItem) (*Purchase, error) {
	ctx := context.Background()
	p := &Purchase{SessionID: sessionID, CreatedAt: time.Now().UTC().Truncate(time.Microsecond), Items: append([]PurchaseItem(nil), items...)}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("data: record purchase: %w", err)
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx, "INSERT INTO purchases (session_id, created_at) VALUES (?, ?) RETURNING id",
		sessionID, formatTime(p.CreatedAt)).Scan(&p.ID)
	if isUniqueViolation(err, "purchases.session_id") {
		return nil, fmt.Errorf("%w: session %s", ErrAlreadyConfirmed, sessionID)
	}
	if err != nil {
		return nil, fmt.Errorf("data: record purchase: %w", err)
	}
	for i, it := range items {
		// A product removed since it was counted is recorded by name only.
		var pid any
		if it.ProductID > 0 {
			var exists int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM products WHERE id = ?", it.ProductID).Scan(&exists); err != nil {
				return nil, fmt.Errorf("data: record purchase: %w", err)
			}
			if exists > 0 {
				pid = it.ProductID
			} else {
				p.Items[i].ProductID = 0
			}
		}
		var score any
		if it.Score != 0 {
			score = float64(it.Score)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO purchase_items
			(purchase_id, position, product_id, product_name, quantity, score) VALUES (?, ?, ?, ?, ?, ?)`,
			p.ID, i+1, pid, it.Product, it.Quantity, score); err != nil {
			return nil, fmt.Errorf("data: record purchase item %d: %w", i, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("data: record purchase: commit: %w", err)
	}
	return p, nil
}

// PurchaseBySession returns the purchase confirmed for a session, or ErrNotFound.
func (c *Catalog) PurchaseBySession(sessionID string) (*Purchase, error) {
	return c.onePurchase("session_id = ?", sessionID)
}

// PurchaseByID returns a purchase, or ErrNotFound.
func (c *Catalog) PurchaseByID(id int64) (*Purchase, error) {
	return c.onePurchase("id = ?", id)
}

// Purchases lists the most recent purchases, newest first, at most limit (<= 0: 100).
func (c *Catalog) Purchases(limit int) ([]Purchase, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	if c.record != nil {
		return c.record.purchases(context.Background(), limit)
	}
	rows, err := c.db.Query("SELECT id, session_id, created_at FROM purchases ORDER BY id DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("data: list purchases: %w", err)
	}
	var out []Purchase
	for rows.Next() {
		p, err := scanPurchase(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("data: list purchases: %w", err)
		}
		out = append(out, *p)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("data: list purchases: %w", err)
	}
	for i := range out {
		if out[i].Items, err = c.purchaseItems(out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (c *Catalog) onePurchase(where string, arg any) (*Purchase, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	if c.record != nil {
		return c.record.purchase(context.Background(), strings.Replace(where, "?", "$1", 1), arg)
	}
	p, err := scanPurchase(c.db.QueryRow("SELECT id, session_id, created_at FROM purchases WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: purchase %v", ErrNotFound, arg)
	}
	if err != nil {
		return nil, fmt.Errorf("data: purchase %v: %w", arg, err)
	}
	if p.Items, err = c.purchaseItems(p.ID); err != nil {
		return nil, err
	}
	return p, nil
}

func scanPurchase(r rowScanner) (*Purchase, error) {
	var p Purchase
	var created string
	if err := r.Scan(&p.ID, &p.SessionID, &created); err != nil {
		return nil, err
	}
	t, err := time.Parse(timeLayout, created)
	if err != nil {
		return nil, fmt.Errorf("created_at %q: %w", created, err)
	}
	p.CreatedAt = t
	return &p, nil
}

func (c *Catalog) purchaseItems(id int64) ([]PurchaseItem, error) {
	rows, err := c.db.Query(`SELECT product_id, product_name, quantity, score FROM purchase_items
		WHERE purchase_id = ? ORDER BY position`, id)
	if err != nil {
		return nil, fmt.Errorf("data: purchase %d items: %w", id, err)
	}
	items := []PurchaseItem{}
	for rows.Next() {
		var it PurchaseItem
		var pid sql.NullInt64
		var score sql.NullFloat64
		if err := rows.Scan(&pid, &it.Product, &it.Quantity, &score); err != nil {
			rows.Close()
			return nil, fmt.Errorf("data: purchase %d items: %w", id, err)
		}
		it.ProductID = pid.Int64
		it.Score = float32(score.Float64)
		items = append(items, it)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("data: purchase %d items: %w", id, err)
	}
	return items, nil
}

// isUniqueViolation reports whether err is a UNIQUE violation on the given table.column.
func isUniqueViolation(err error, column string) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE &&
		strings.Contains(se.Error(), column)
}
