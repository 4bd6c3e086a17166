package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/data"
)

// productEditRoutes adds PATCH /api/products/{id} (admin): a product's name, SKU and price
// change in place, its photos and learned views stay, and recognition reports the new name
// from the next frame; and POST /api/products/{id}/images and DELETE
// /api/products/{id}/images/{n} (admin): photos added and removed, recognised with (or no
// longer) from the next frame.
func (s *Server) productEditRoutes(r *gin.Engine) {
	if s.Catalog == nil {
		return
	}
	r.PATCH("/api/products/:id", s.requireAdmin(), s.withProductID(s.patchProduct))
	r.POST("/api/products/:id/images", s.requireAdmin(), s.withProductID(s.addProductImages))
	r.DELETE("/api/products/:id/images/:n", s.requireAdmin(), s.withProductID(s.removeProductImage))
}

// addProductImages: POST /api/products/{id}/images (admin), multipart/form-data with 1 or
// more "images" files, as POST /api/products takes them. → 200 with the product; every
// pipeline recognises it by the new photos from its next frame. A product keeps at most
// data.DefaultMaxImages photos (409 beyond); on any error nothing is stored.
func (s *Server) addProductImages(c *gin.Context, id int64) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxProductRequestBytes)
	form, ok := readProductForm(c)
	if !ok {
		return
	}
	for field, v := range map[string]*string{"name": form.name, "sku": form.sku, "price": form.price} {
		if v != nil {
			fail(c, http.StatusBadRequest, field, "%s: this form only adds photos (images); change the name, SKU and price with PATCH /api/products/%d", field, id)
			return
		}
	}
	if len(form.images) == 0 {
		fail(c, http.StatusBadRequest, "images", "images: required, 1 to %d image files", data.DefaultMaxImages)
		return
	}
	p, err := s.Catalog.AddProductImages(id, form.images)
	var imgErr *data.ImageError
	switch {
	case err == nil:
	case errors.As(err, &imgErr) && imgErr.Index < len(form.filenames):
		field := fmt.Sprintf("images[%d]", imgErr.Index)
		reason := imgErr.Reason
		if imgErr.Err != nil {
			reason += ": " + imgErr.Err.Error()
		}
		label := field
		if name := form.filenames[imgErr.Index]; name != "" {
			label += " (" + name + ")"
		}
		fail(c, http.StatusUnprocessableEntity, field, "%s: %s", label, reason)
		return
	case errors.Is(err, data.ErrTooManyImages):
		fail(c, http.StatusConflict, "images", "%s: remove one first", strings.TrimPrefix(err.Error(), "data: "))
		return
	case errors.Is(err, data.ErrNotFound):
		fail(c, http.StatusNotFound, "", "no such product: %d", id)
		return
	default:
		catalogError(c, err)
		return
	}
	s.logger().Info("product photos added through the API", "id", id, "added", len(form.images), "images", p.Images, "client", c.ClientIP())
	c.JSON(http.StatusOK, productView(p))
}

// removeProductImage: DELETE /api/products/{id}/images/{n} (admin) → 200 with the product;
// the photos after n move down by one, and no pipeline matches the removed photo from its
// next frame. The last photo cannot be removed (409): remove the product instead.
func (s *Server) removeProductImage(c *gin.Context, id int64) {
	n, ok := positiveInt(c.Param("n"))
	if !ok || n > 1<<20 {
		fail(c, http.StatusBadRequest, "n", "n: want a photo number from 1, got %q", c.Param("n"))
		return
	}
	p, err := s.Catalog.RemoveProductImage(id, int(n))
	switch {
	case err == nil:
	case errors.Is(err, data.ErrLastImage):
		fail(c, http.StatusConflict, "n", "%s: a product keeps at least one photo (add another first, or delete the product)", strings.TrimPrefix(err.Error(), "data: "))
		return
	case errors.Is(err, data.ErrNotFound):
		fail(c, http.StatusNotFound, "", "%s", strings.TrimPrefix(err.Error(), "data: "))
		return
	default:
		catalogError(c, err)
		return
	}
	s.logger().Info("product photo removed through the API", "id", id, "photo", n, "images", p.Images, "client", c.ClientIP())
	c.JSON(http.StatusOK, productView(p))
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
