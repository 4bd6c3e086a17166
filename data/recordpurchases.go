package data

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Purchases in the catalog of record: written and read there only (no replica needs them),
// so that every store's purchases are in one place. A purchase is one transaction, as in
// SQLite; the session's UNIQUE id keeps a cart from being recorded twice by any node.

// recordPurchase writes a validated purchase and returns it with its id.
func (r *pgRecord) recordPurchase(ctx context.Context, sessionID string, items []PurchaseItem) (*Purchase, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	p := &Purchase{SessionID: sessionID, CreatedAt: time.Now().UTC().Truncate(time.Microsecond), Items: append([]PurchaseItem(nil), items...)}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, "INSERT INTO purchases (session_id, created_at) VALUES ($1, $2) RETURNING id", sessionID, p.CreatedAt).Scan(&p.ID)
		if isPGUnique(err, "purchases_session_id_key") {
			return fmt.Errorf("%w: session %s", ErrAlreadyConfirmed, sessionID)
		}
		if err != nil {
			return err
		}
		for i, it := range items {
			// A product removed since it was counted is recorded by name only.
			var pid *int64
			if it.ProductID > 0 {
				var exists bool
				if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM products WHERE id = $1)", it.ProductID).Scan(&exists); err != nil {
					return err
				}
				if exists {
					pid = &it.ProductID
				} else {
					p.Items[i].ProductID = 0
				}
			}
			var score *float32
			if it.Score != 0 {
				score = &it.Score
			}
			if _, err := tx.Exec(ctx, `INSERT INTO purchase_items (purchase_id, position, product_id, product_name, quantity, score)
				VALUES ($1, $2, $3, $4, $5, $6)`, p.ID, i+1, pid, it.Product, it.Quantity, score); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return p, nil
}

// purchase returns the purchase matching where (a condition on purchases with one
// parameter), or ErrNotFound.
func (r *pgRecord) purchase(ctx context.Context, where string, arg any) (*Purchase, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	var p Purchase
	err := r.pool.QueryRow(ctx, "SELECT id, session_id, created_at FROM purchases WHERE "+where, arg).Scan(&p.ID, &p.SessionID, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: purchase %v", ErrNotFound, arg)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	if p.Items, err = r.purchaseItems(ctx, p.ID); err != nil {
		return nil, err
	}
	return &p, nil
}

// purchases lists the most recent purchases, newest first.
func (r *pgRecord) purchases(ctx context.Context, limit int) ([]Purchase, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	rows, err := r.pool.Query(ctx, "SELECT id, session_id, created_at FROM purchases ORDER BY id DESC LIMIT $1", limit)
	if err != nil {
		return nil, unavailable(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Purchase, error) {
		var p Purchase
		err := row.Scan(&p.ID, &p.SessionID, &p.CreatedAt)
		return p, err
	})
	if err != nil {
		return nil, unavailable(err)
	}
	for i := range out {
		if out[i].Items, err = r.purchaseItems(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *pgRecord) purchaseItems(ctx context.Context, id int64) ([]PurchaseItem, error) {
	rows, err := r.pool.Query(ctx, `SELECT coalesce(product_id, 0), product_name, quantity, coalesce(score, 0)
		FROM purchase_items WHERE purchase_id = $1 ORDER BY position`, id)
	if err != nil {
		return nil, unavailable(err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PurchaseItem, error) {
		var it PurchaseItem
		err := row.Scan(&it.ProductID, &it.Product, &it.Quantity, &it.Score)
		return it, err
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return items, nil
}
