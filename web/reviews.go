package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/data"
)

// reviewRoutes adds the reviews: a session's answer to a review (its shopper's or staff's, as
// every session route), the crops of its visits, and the staff's queue of every pending review.
func (s *Server) reviewRoutes(r *gin.Engine) {
	api := r.Group("/api")
	api.GET("/reviews", s.requireStaff(), func(c *gin.Context) { c.JSON(http.StatusOK, s.Checkout.Reviews()) })
	api.POST("/sessions/:id/reviews/:rid", s.withSession(s.resolveReview))
	api.GET("/sessions/:id/crops/:cid", s.withSession(s.getCrop))
}

// answerBody is a review's answer: {"product_id": N} or {"none": true}.
type answerBody struct {
	ProductID *int64 `json:"product_id"`
	None      *bool  `json:"none"`
}

// resolveReview: POST /api/sessions/{id}/reviews/{rid} → 200 with the resolution, the cart
// and whether the catalog learned from it.
func (s *Server) resolveReview(c *gin.Context, sess *checkout.Session) {
	var body answerBody
	if !decodeJSON(c, &body, false) {
		return
	}
	var a checkout.Answer
	switch {
	case body.ProductID != nil && body.None != nil:
		fail(c, http.StatusBadRequest, "none", "none: give product_id or none, not both")
		return
	case body.None != nil:
		if !*body.None {
			fail(c, http.StatusBadRequest, "none", "none: must be true (or answer with product_id)")
			return
		}
		a.None = true
	case body.ProductID != nil:
		if *body.ProductID <= 0 {
			fail(c, http.StatusBadRequest, "product_id", "product_id: want a positive integer, got %d", *body.ProductID)
			return
		}
		a.ProductID = *body.ProductID
	default:
		fail(c, http.StatusBadRequest, "product_id", "product_id: required (the product it was), or none: true")
		return
	}
	res, err := s.Checkout.Resolve(sess, c.Param("rid"), a)
	if err != nil {
		reviewError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// reviewError maps the errors of answering a review to HTTP.
func reviewError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, cart.ErrNoReview):
		fail(c, http.StatusNotFound, "", "%v", err)
	case errors.Is(err, cart.ErrResolved):
		fail(c, http.StatusConflict, "", "%v", err)
	case errors.Is(err, checkout.ErrNoProduct):
		fail(c, http.StatusUnprocessableEntity, "product_id", "product_id: %v", err)
	default:
		checkoutError(c, err)
	}
}

// getCrop: GET /api/sessions/{id}/crops/{cid} → the JPEG of a visit's crop, while the session
// keeps it. A crop never changes under its id.
func (s *Server) getCrop(c *gin.Context, sess *checkout.Session) {
	b, err := sess.Cart.Crop(c.Param("cid"))
	if err != nil {
		fail(c, http.StatusNotFound, "", "%v", err)
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, bytes.NewReader(b))
}

// learnedViewRoutes adds the learned views of a product (what answers and corrections taught
// the catalog): staff only, since they are crops of the shoppers' cameras.
func (s *Server) learnedViewRoutes(api *gin.RouterGroup) {
	admin := s.requireAdmin()
	api.GET("/products/:id/views", admin, s.withProductID(s.listViews))
	api.DELETE("/products/:id/views/:vid", admin, s.withProductID(s.withView(s.deleteView)))
	api.GET("/products/:id/views/:vid/image", admin, s.withProductID(s.withView(s.getViewImage)))
}

// viewJSON is a learned view's JSON form: the catalog's, with the URL of its image.
type viewJSON struct {
	data.LearnedView
	Image string `json:"image"`
}

func viewURL(v data.LearnedView) string {
	return fmt.Sprintf("/api/products/%d/views/%d/image", v.ProductID, v.ID)
}

// listViews: GET /api/products/{id}/views → the product's learned views, oldest first.
func (s *Server) listViews(c *gin.Context, id int64) {
	views, err := s.Catalog.LearnedViews(id)
	if err != nil {
		productError(c, id, err)
		return
	}
	out := make([]viewJSON, len(views))
	for i, v := range views {
		out[i] = viewJSON{LearnedView: v, Image: viewURL(v)}
	}
	c.JSON(http.StatusOK, out)
}

// withView finds the learned view named by :vid among the product's: a view of another
// product is as missing as one that never was.
func (s *Server) withView(h func(*gin.Context, data.LearnedView)) func(*gin.Context, int64) {
	return func(c *gin.Context, id int64) {
		vid, ok := positiveInt(c.Param("vid"))
		if !ok {
			fail(c, http.StatusBadRequest, "vid", "vid: want a positive integer, got %q", c.Param("vid"))
			return
		}
		views, err := s.Catalog.LearnedViews(id)
		if err != nil {
			productError(c, id, err)
			return
		}
		for _, v := range views {
			if v.ID == vid {
				h(c, v)
				return
			}
		}
		fail(c, http.StatusNotFound, "", "no such learned view: product %d has no view %d", id, vid)
	}
}

// deleteView: DELETE /api/products/{id}/views/{vid} → 204; the view stops counting at once.
func (s *Server) deleteView(c *gin.Context, v data.LearnedView) {
	if err := s.Catalog.RemoveLearnedView(v.ID); err != nil {
		if errors.Is(err, data.ErrNotFound) {
			fail(c, http.StatusNotFound, "", "no such learned view: %d", v.ID)
			return
		}
		catalogError(c, err)
		return
	}
	s.logger().Info("learned view removed through the API", "product", v.ProductID, "view", v.ID, "client", c.ClientIP())
	c.Status(http.StatusNoContent)
}

// getViewImage: GET /api/products/{id}/views/{vid}/image → the stored crop.
func (s *Server) getViewImage(c *gin.Context, v data.LearnedView) {
	b, mime, err := s.Catalog.LearnedViewImage(v.ID)
	if err != nil {
		if errors.Is(err, data.ErrNotFound) {
			fail(c, http.StatusNotFound, "", "no such learned view: %d", v.ID)
			return
		}
		catalogError(c, err)
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", mime)
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, bytes.NewReader(b))
}

// productError answers a catalog error about product id: 404 naming it when it is missing.
func productError(c *gin.Context, id int64, err error) {
	if errors.Is(err, data.ErrNotFound) {
		fail(c, http.StatusNotFound, "", "no such product: %d", id)
		return
	}
	catalogError(c, err)
}
