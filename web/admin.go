package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/pipelines"
)

// Limits of the admin API's request bodies.
const (
	// MaxProductImageBytes is the largest image accepted in POST /api/products.
	MaxProductImageBytes = 10 << 20
	// MaxProductRequestBytes is the largest whole POST /api/products request.
	MaxProductRequestBytes = 32 << 20
	// MaxPipelineBytes is the largest pipeline definition accepted by PUT /api/pipelines/{name}.
	MaxPipelineBytes = 1 << 20
	// maxFormFieldBytes bounds a text field of the product form (name, sku, price); the
	// catalog's own limits are far below it.
	maxFormFieldBytes = 4 << 10
)

// PipelineAdmin reads and replaces pipeline definitions. *pipelines.Manager implements it.
type PipelineAdmin interface {
	// Definition returns the file and current bytes of the named pipeline.
	Definition(name string) (file string, raw []byte, ok bool)
	// Replace validates, test-links and hot-swaps new content for the named pipeline. A
	// refused definition is a *pipelines.Error, pipelines.ErrorList or *pipelines.LinkError
	// and changes nothing; an unknown name is pipelines.ErrNoPipeline.
	Replace(name string, raw []byte) error
}

var _ PipelineAdmin = (*pipelines.Manager)(nil)

// adminRoutes adds the catalog API (/api/products, when Catalog is set) and the pipeline
// definitions (GET/PUT /api/pipelines/{name}, when PipelineAdmin is set). Reads are public,
// but for the learned views (crops of the shoppers' cameras); changes need the admin token
// (requireAdmin).
func (s *Server) adminRoutes(r *gin.Engine) {
	api := r.Group("/api")
	admin := s.requireAdmin()
	if s.Catalog != nil {
		api.GET("/products", s.listProducts)
		api.POST("/products", admin, s.createProduct)
		api.GET("/products/:id", s.withProductID(s.getProduct))
		api.DELETE("/products/:id", admin, s.withProductID(s.deleteProduct))
		api.GET("/products/:id/images/:n", s.withProductID(s.getProductImage))
		s.learnedViewRoutes(api)
	}
	if s.PipelineAdmin != nil {
		api.GET("/pipelines/:name", s.getPipelineDefinition)
		api.PUT("/pipelines/:name", admin, s.putPipelineDefinition)
	}
}

// requireAdmin lets a request through only with the admin token, given as
// "Authorization: Bearer <token>" or "X-Admin-Token: <token>" (see access.Guard.RoleOf); a
// refusal says what was wrong with the token sent.
func (s *Server) requireAdmin() gin.HandlerFunc { return s.requireRole(access.RoleAdmin) }

// requireStaff lets a request through with the staff or the admin token.
func (s *Server) requireStaff() gin.HandlerFunc { return s.requireRole(access.RoleStaff) }

func (s *Server) requireRole(want access.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		role, err := s.Guard.RoleOf(c.Request)
		switch {
		case role == access.RoleAdmin, role == want:
			c.Next()
			return
		case err != nil:
			c.Header("WWW-Authenticate", `Bearer realm="ebrcs `+string(want)+`"`)
			fail(c, access.Status(err), "token", "%s token required: %v", want, err)
		default:
			fail(c, http.StatusForbidden, "token", "%s token required: this is the %s token", want, role)
		}
	}
}

// isAdmin reports whether the request carries the admin token.
func (s *Server) isAdmin(r *http.Request) bool { return s.Guard.IsAdmin(r) }

// productJSON is a product's JSON form.
type productJSON struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	SKU        string    `json:"sku"`
	PriceCents *int64    `json:"price_cents"`
	Images     int       `json:"images"`
	CreatedAt  time.Time `json:"created_at"`
}

func productView(p *data.Product) productJSON {
	return productJSON{ID: p.ID, Name: p.Name, SKU: p.SKU, PriceCents: p.PriceCents, Images: p.Images, CreatedAt: p.CreatedAt.UTC()}
}

// catalogError maps the catalog's errors to HTTP.
func catalogError(c *gin.Context, err error) {
	var imgErr *data.ImageError
	switch {
	case errors.As(err, &imgErr):
		field := fmt.Sprintf("images[%d]", imgErr.Index)
		reason := imgErr.Reason
		if imgErr.Err != nil {
			reason += ": " + imgErr.Err.Error()
		}
		fail(c, http.StatusUnprocessableEntity, field, "%s: %s", field, reason)
	case errors.Is(err, data.ErrNotFound):
		fail(c, http.StatusNotFound, "", "%s", strings.TrimPrefix(err.Error(), "data: "))
	case errors.Is(err, data.ErrDuplicateName):
		fail(c, http.StatusConflict, "name", "%v", strings.TrimPrefix(err.Error(), "data: "))
	case errors.Is(err, data.ErrInvalidName):
		fail(c, http.StatusBadRequest, "name", "%v", strings.TrimPrefix(err.Error(), "data: "))
	case errors.Is(err, data.ErrInvalidSKU):
		fail(c, http.StatusBadRequest, "sku", "%v", strings.TrimPrefix(err.Error(), "data: "))
	case errors.Is(err, data.ErrInvalidPrice):
		fail(c, http.StatusBadRequest, "price", "%v", strings.TrimPrefix(err.Error(), "data: "))
	case errors.Is(err, data.ErrNoImages), errors.Is(err, data.ErrTooManyImages):
		fail(c, http.StatusBadRequest, "images", "%v", strings.TrimPrefix(err.Error(), "data: "))
	case errors.Is(err, data.ErrCatalogUnavailable):
		// 503: the catalog database (catalog_url) is down; nothing was stored, recognition
		// goes on from this node's replica, and the same request succeeds once it is back.
		c.Header("Retry-After", "5")
		fail(c, http.StatusServiceUnavailable, "", "%v", strings.TrimPrefix(err.Error(), "data: "))
	case errors.Is(err, data.ErrReadOnly), errors.Is(err, data.ErrDiskFull):
		// 507: the request was fine, the server could not store it; the same request
		// succeeds once the operator has made room or remounted the directory.
		fail(c, http.StatusInsufficientStorage, "", "%v", strings.TrimPrefix(err.Error(), "data: "))
	case errors.Is(err, data.ErrClosed):
		fail(c, http.StatusServiceUnavailable, "", "%v", err)
	default:
		fail(c, http.StatusInternalServerError, "", "%v", err)
	}
}

// listProducts: GET /api/products → every product, oldest first (always a JSON array).
func (s *Server) listProducts(c *gin.Context) {
	products, err := s.Catalog.Products()
	if err != nil {
		catalogError(c, err)
		return
	}
	out := make([]productJSON, len(products))
	for i := range products {
		out[i] = productView(&products[i])
	}
	c.JSON(http.StatusOK, out)
}

// withProductID parses the :id parameter: a positive integer, or 400 naming "id".
func (s *Server) withProductID(h func(*gin.Context, int64)) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := positiveInt(c.Param("id"))
		if !ok {
			fail(c, http.StatusBadRequest, "id", "id: want a positive integer, got %q", c.Param("id"))
			return
		}
		h(c, id)
	}
}

// positiveInt parses decimal digits only (no sign, no spaces) into a value ≥ 1.
func positiveInt(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v > 0
}

// getProduct: GET /api/products/{id}.
func (s *Server) getProduct(c *gin.Context, id int64) {
	p, err := s.Catalog.Product(id)
	if errors.Is(err, data.ErrNotFound) {
		fail(c, http.StatusNotFound, "", "no such product: %d", id)
		return
	}
	if err != nil {
		catalogError(c, err)
		return
	}
	c.JSON(http.StatusOK, productView(p))
}

// deleteProduct: DELETE /api/products/{id} → 204; from then on no pipeline recognises it.
func (s *Server) deleteProduct(c *gin.Context, id int64) {
	err := s.Catalog.RemoveProduct(id)
	if errors.Is(err, data.ErrNotFound) {
		fail(c, http.StatusNotFound, "", "no such product: %d", id)
		return
	}
	if err != nil {
		catalogError(c, err)
		return
	}
	s.logger().Info("product removed through the API", "id", id, "client", c.ClientIP())
	c.Status(http.StatusNoContent)
}

// getProductImage: GET /api/products/{id}/images/{n} (n from 1) → the stored bytes. Photo n
// changes when a photo before it is removed, so a cache revalidates it (no-cache) with its
// ETag, the bytes' SHA-256: unchanged, it costs a 304. Range requests are served.
func (s *Server) getProductImage(c *gin.Context, id int64) {
	n, ok := positiveInt(c.Param("n"))
	if !ok || n > 1<<20 {
		fail(c, http.StatusBadRequest, "n", "n: want an image number from 1, got %q", c.Param("n"))
		return
	}
	b, mime, err := s.Catalog.Image(id, int(n))
	if err != nil {
		if errors.Is(err, data.ErrNotFound) {
			fail(c, http.StatusNotFound, "", "no such image: product %d has no image %d", id, n)
			return
		}
		catalogError(c, err)
		return
	}
	sum := sha256.Sum256(b)
	h := c.Writer.Header()
	h.Set("Content-Type", mime)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, bytes.NewReader(b))
}

// createProduct: POST /api/products, multipart/form-data with "name", 1–3 "images" files and
// optionally "sku" and "price" (a decimal in currency units: "2.49"). → 201 with the product,
// recognisable at once by every pipeline that uses this catalog. On any error nothing is
// stored.
func (s *Server) createProduct(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxProductRequestBytes)
	form, ok := readProductForm(c)
	if !ok {
		return
	}
	if form.name == nil || strings.TrimSpace(*form.name) == "" {
		fail(c, http.StatusBadRequest, "name", "name: required")
		return
	}
	if len(form.images) == 0 {
		fail(c, http.StatusBadRequest, "images", "images: required, 1 to %d image files", data.DefaultMaxImages)
		return
	}
	np := data.NewProduct{Name: *form.name, Images: form.images}
	if form.sku != nil {
		np.SKU = strings.TrimSpace(*form.sku)
	}
	if form.price != nil && strings.TrimSpace(*form.price) != "" {
		cents, err := ParsePrice(*form.price)
		if err != nil {
			fail(c, http.StatusBadRequest, "price", "price: %v", err)
			return
		}
		np.PriceCents = &cents
	}
	p, err := s.Catalog.AddProduct(np)
	if err != nil {
		catalogError(c, err)
		return
	}
	s.logger().Info("product added through the API", "id", p.ID, "name", p.Name, "images", p.Images, "client", c.ClientIP())
	c.Header("Location", fmt.Sprintf("/api/products/%d", p.ID))
	c.JSON(http.StatusCreated, productView(p))
}

// productForm is what the product form carried; nil text fields were absent.
type productForm struct {
	name, sku, price *string
	images           [][]byte
	filenames        []string // of images, as the client named them
}

// readProductForm streams the multipart form, holding each part to its limit. It answers the
// request itself when the form is malformed, too large, or has unknown or repeated fields.
func readProductForm(c *gin.Context) (*productForm, bool) {
	mr, err := c.Request.MultipartReader()
	if err != nil {
		fail(c, http.StatusBadRequest, "", "the request must be multipart/form-data with the fields name, images (1 to %d files), sku and price: %v", data.DefaultMaxImages, err)
		return nil, false
	}
	form := &productForm{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return form, true
		}
		if err != nil {
			formReadError(c, "", err)
			return nil, false
		}
		ok := form.readPart(c, part)
		part.Close()
		if !ok {
			return nil, false
		}
	}
}

func (f *productForm) readPart(c *gin.Context, part *multipart.Part) bool {
	name := part.FormName()
	switch name {
	case "images":
		if len(f.images) == data.DefaultMaxImages {
			fail(c, http.StatusBadRequest, "images", "images: at most %d images per product", data.DefaultMaxImages)
			return false
		}
		b, err := io.ReadAll(io.LimitReader(part, MaxProductImageBytes+1))
		if err == nil && len(b) > MaxProductImageBytes {
			fail(c, http.StatusRequestEntityTooLarge, "images",
				"images[%d]: the image is larger than the limit of %d bytes", len(f.images), MaxProductImageBytes)
			return false
		}
		if err != nil {
			formReadError(c, "images", err)
			return false
		}
		f.images = append(f.images, b)
		f.filenames = append(f.filenames, part.FileName())
		return true
	case "name", "sku", "price":
		dst := map[string]**string{"name": &f.name, "sku": &f.sku, "price": &f.price}[name]
		if *dst != nil {
			fail(c, http.StatusBadRequest, name, "%s: given more than once", name)
			return false
		}
		b, err := io.ReadAll(io.LimitReader(part, maxFormFieldBytes+1))
		if err != nil {
			formReadError(c, name, err)
			return false
		}
		if len(b) > maxFormFieldBytes {
			fail(c, http.StatusBadRequest, name, "%s: longer than %d bytes", name, maxFormFieldBytes)
			return false
		}
		v := string(b)
		*dst = &v
		return true
	default:
		fail(c, http.StatusBadRequest, name, "unknown field %q: the form has name, images, sku and price", name)
		return false
	}
}

func formReadError(c *gin.Context, field string, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		fail(c, http.StatusRequestEntityTooLarge, "images", "the request is larger than the limit of %d bytes", MaxProductRequestBytes)
		return
	}
	fail(c, http.StatusBadRequest, field, "the form could not be read: %v", err)
}

// maxPriceDigits bounds the whole part of a price so that its cents fit in an int64 with room
// to spare (and no till shows more than a trillion).
const maxPriceDigits = 12

// ParsePrice reads a price in currency units ("2.49", "2.5", "3") as cents. Negative numbers,
// more than two decimals, signs, exponents, thousands separators and anything else are
// refused.
func ParsePrice(s string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, hasPoint := strings.Cut(s, ".")
	switch {
	case strings.HasPrefix(s, "-"):
		return 0, fmt.Errorf("%q is negative", s)
	case whole == "" || !allDigits(whole) || (hasPoint && (frac == "" || !allDigits(frac))):
		return 0, fmt.Errorf("%q is not a price: want a decimal number such as 2.49", s)
	case len(frac) > 2:
		return 0, fmt.Errorf("%q has more than 2 decimals", s)
	case len(strings.TrimLeft(whole, "0")) > maxPriceDigits:
		return 0, fmt.Errorf("%q is too large", s)
	}
	units, _ := strconv.ParseInt(whole, 10, 64)
	cents := int64(0)
	if frac != "" {
		cents, _ = strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			cents *= 10
		}
	}
	return units*100 + cents, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// getPipelineDefinition: GET /api/pipelines/{name} → the pipeline's YAML as on disk.
func (s *Server) getPipelineDefinition(c *gin.Context) {
	_, raw, ok := s.PipelineAdmin.Definition(c.Param("name"))
	if !ok {
		fail(c, http.StatusNotFound, "", "no such pipeline: %q", c.Param("name"))
		return
	}
	// Camera credentials are shown to admins only (who edit and PUT the file back). The
	// public gets the parsed document with every credential masked and no comments, or
	// nothing when that cannot be done safely (pipelines.PublicDefinition).
	c.Header("Vary", "Authorization, X-Admin-Token")
	if !s.isAdmin(c.Request) {
		public, err := pipelines.PublicDefinition(raw)
		if err != nil {
			fail(c, http.StatusForbidden, "", "%v", err)
			return
		}
		raw = public
	} else {
		c.Header("Cache-Control", "no-store")
	}
	c.Data(http.StatusOK, "application/yaml; charset=utf-8", raw)
}

// putPipelineDefinition: PUT /api/pipelines/{name} with the new YAML as the body. It is
// validated (under pipelines.Policy: no element may read or write files outside media_dir)
// and test-linked before anything changes; if refused (422, with file:line:column) the
// running version keeps running and the file is untouched. With pipelines_api: read-only
// every PUT is refused (403).
func (s *Server) putPipelineDefinition(c *gin.Context) {
	name := c.Param("name")
	raw, ok := s.pipelineBody(c, "pipeline definitions cannot be changed")
	if !ok {
		return
	}
	err := s.PipelineAdmin.Replace(name, raw)
	var linkErr *pipelines.LinkError
	switch {
	case err == nil:
		s.logger().Info("pipeline replaced through the API", "pipeline", name, "client", c.ClientIP())
		c.JSON(http.StatusOK, gin.H{"status": "replaced"})
	case errors.Is(err, pipelines.ErrNoPipeline):
		fail(c, http.StatusNotFound, "", "no such pipeline: %q", name)
	case pipelines.Errors(err) != nil, errors.As(err, &linkErr):
		fail(c, http.StatusUnprocessableEntity, "yaml", "%v", err)
	default:
		fail(c, http.StatusInternalServerError, "", "%v", err)
	}
}

// pipelineBody reads a pipeline's YAML from the request body for a PUT or POST (refused
// while pipelines_api is read-only: what says what is refused), answering the error itself
// when it returns false.
func (s *Server) pipelineBody(c *gin.Context, what string) ([]byte, bool) {
	if s.PipelinesReadOnly {
		fail(c, http.StatusForbidden, "", "%s through the API: pipelines_api is read-only (set pipelines_api: read-write to allow it)", what)
		return nil, false
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxPipelineBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		fail(c, http.StatusRequestEntityTooLarge, "yaml", "the pipeline definition is larger than the limit of %d bytes", MaxPipelineBytes)
		return nil, false
	case err != nil:
		fail(c, http.StatusBadRequest, "yaml", "the body could not be read: %v", err)
		return nil, false
	case len(bytes.TrimSpace(raw)) == 0:
		fail(c, http.StatusBadRequest, "yaml", "the request needs the pipeline's YAML as its body")
		return nil, false
	}
	return raw, true
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}
