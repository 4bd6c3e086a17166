package data

import (
	"context"
	"errors"
	"fmt"
)

// ErrEditUnsupported: this catalog cannot edit products. No longer returned (a catalog of
// record edits them too); kept until its callers stop checking for it.
var ErrEditUnsupported = errors.New("data: editing a product is not supported with a catalog of record yet")

// UpdateProduct changes a product's name, SKU ("": none) and price (nil: none). Its photos,
// vectors and learned views stay; every pipeline's next recognition reports the new name, and
// the checkout prices carts with the new price from then on (purchases keep what they were
// sold at). A name another product has is ErrDuplicateName; an unknown id ErrNotFound.
func (c *Catalog) UpdateProduct(id int64, name, sku string, priceCents *int64) (*Product, error) {
	clean, err := cleanName(name)
	if err != nil {
		return nil, err
	}
	key := foldName(clean)
	sku, err = cleanSKU(sku)
	if err != nil {
		return nil, err
	}
	var price any
	if priceCents != nil {
		if *priceCents < 0 {
			return nil, fmt.Errorf("%w: %d cents", ErrInvalidPrice, *priceCents)
		}
		price = *priceCents
	}
	var skuArg any
	if sku != "" {
		skuArg = sku
	}
	if err := c.checkWritable(); err != nil {
		return nil, err
	}
	if c.record != nil {
		// In the record; every replica, this one first, applies it (replica.go).
		c.lockWrite()
		seq, err := c.record.updateProduct(context.Background(), id, clean, key, sku, priceCents)
		if err == nil {
			c.recordWroteLocked(context.Background(), seq)
		}
		c.unlockWrite()
		if err != nil {
			return nil, c.recordError(err)
		}
		return c.Product(id)
	}
	c.lockWrite()
	res, err := c.db.Exec("UPDATE products SET name = ?, name_key = ?, sku = ?, price_cents = ? WHERE id = ?", clean, key, skuArg, price, id)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			c.unlockWrite()
			return nil, fmt.Errorf("%w: product %d", ErrNotFound, id)
		}
	}
	if err == nil {
		c.mu.Lock()
		if p := c.products[id]; p != nil {
			p.name = clean
		}
		c.mu.Unlock()
	}
	c.unlockWrite()
	if isUniqueViolation(err, "products.name_key") {
		return nil, fmt.Errorf("%w: %q", ErrDuplicateName, clean)
	}
	if err != nil {
		return nil, c.storageError(fmt.Errorf("data: update product %d: %w", id, err))
	}
	return c.Product(id)
}
