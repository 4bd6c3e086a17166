package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/data"
)

// productEditRoutes adds PATCH /api/products/{id} (admin): a product's name, SKU and price
// change in place, its photos and learned views stay, and recognition reports the new name
// from the next frame.
func (s *Server) productEditRoutes(r *gin.Engine) {
	if s.Catalog == nil {
		return
	}
	r.PATCH("/api/products/:id", s.requireAdmin(), s.withProductID(s.patchProduct))
}

// productPatch is the body of PATCH /api/products/{id}: the fields to change. price is a
// decimal in currency units ("2.49"), "" or null for none; sku "" for none.
type productPatch struct {
	Name  *string        `json:"name"`
	SKU   *string        `json:"sku"`
	Price nullableString `json:"price"`
}

// nullableString tells an absent field (Set false) from an explicit null (Value nil).
type nullableString struct {
	Set   bool
	Value *string
}

func (n *nullableString) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	n.Value = &s
	return nil
}

func (s *Server) patchProduct(c *gin.Context, id int64) {
	var body productPatch
	if !decodeJSON(c, &body, false) {
		return
	}
	p, err := s.Catalog.Product(id)
	if err != nil {
		catalogError(c, err)
		return
	}
	name, sku, price := p.Name, p.SKU, p.PriceCents
	if body.Name != nil {
		name = *body.Name
	}
	if body.SKU != nil {
		sku = *body.SKU
	}
	if body.Price.Set {
		price = nil
		if v := body.Price.Value; v != nil && strings.TrimSpace(*v) != "" {
			cents, err := ParsePrice(*v)
			if err != nil {
				fail(c, http.StatusBadRequest, "price", "price: %v", err)
				return
			}
			price = &cents
		}
	}
	updated, err := s.Catalog.UpdateProduct(id, name, sku, price)
	if errors.Is(err, data.ErrEditUnsupported) {
		fail(c, http.StatusNotImplemented, "", "%s", strings.TrimPrefix(err.Error(), "data: "))
		return
	}
	if err != nil {
		catalogError(c, err)
		return
	}
	s.logger().Info("product edited through the API", "id", id, "name", updated.Name, "client", c.ClientIP())
	c.JSON(http.StatusOK, productView(updated))
}
