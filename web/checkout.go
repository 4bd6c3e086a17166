package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/roi"
)

// DefaultUploadLimit is the largest video upload accepted when Server.UploadLimit is 0.
const DefaultUploadLimit = 512 << 20

// checkoutRoutes adds the checkout API: sessions, their ROI and cart, event streams and
// video uploads. Anyone may start a session (at a bounded rate); a session is then the
// shopper's who holds its key, and staff's; stations are staff's only (access.Guard).
func (s *Server) checkoutRoutes(r *gin.Engine) {
	api := r.Group("/api")
	api.POST("/sessions", s.createSession)
	api.GET("/stations", s.requireStaff(), func(c *gin.Context) { c.JSON(http.StatusOK, s.Checkout.Stations()) })
	api.GET("/sessions/:id", s.withSession(s.getSession))
	api.DELETE("/sessions/:id", s.withSession(s.deleteSession))
	api.PUT("/sessions/:id/roi", s.withSession(s.putROI))
	api.DELETE("/sessions/:id/roi", s.withSession(s.deleteROI))
	api.GET("/sessions/:id/cart", s.withSession(s.getCart))
	api.PUT("/sessions/:id/cart", s.withSession(s.putCart))
	api.POST("/sessions/:id/cart/confirm", s.withSession(s.confirmCart))
	api.GET("/sessions/:id/events", s.withSession(s.sessionEvents))
	api.GET("/sessions/:id/ws", s.withSession(s.sessionEvents))
	api.POST("/sessions/:id/video", s.withSession(s.uploadVideo))
	api.GET("/tasks/:task", s.withTask(s.getTask))
	api.GET("/tasks/:task/events", s.withTask(s.taskEvents))
	s.reviewRoutes(r)
}

// checkoutError maps the checkout's errors to HTTP.
func checkoutError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, checkout.ErrNoSession), errors.Is(err, checkout.ErrNoTask):
		fail(c, http.StatusNotFound, "", "%v", err)
	case errors.Is(err, checkout.ErrTooManySessions):
		fail(c, http.StatusTooManyRequests, "", "%v", err)
	case errors.Is(err, checkout.ErrStation):
		c.Header("Allow", "GET")
		fail(c, http.StatusMethodNotAllowed, "", "%v", err)
	case errors.Is(err, cart.ErrTooMany):
		fail(c, http.StatusBadRequest, "items", "items: %v", err)
	case errors.Is(err, cart.ErrConfirmed), errors.Is(err, cart.ErrStale), errors.Is(err, cart.ErrEmptyCart),
		errors.Is(err, cart.ErrPending), errors.Is(err, data.ErrAlreadyConfirmed):
		fail(c, http.StatusConflict, "", "%v", err)
	case errors.Is(err, data.ErrCatalogUnavailable):
		// The cart stays open and unchanged: confirming again succeeds once the catalog
		// database (catalog_url) is back.
		c.Header("Retry-After", "5")
		fail(c, http.StatusServiceUnavailable, "", "the catalog database is unavailable, so the purchase could not be stored; the cart is kept, confirm again later")
	case errors.Is(err, data.ErrReadOnly), errors.Is(err, data.ErrDiskFull):
		// The shopper's cart stays open and unchanged: confirming again succeeds once the
		// storage is fixed. The server's paths are for the operator's log, not the page.
		why := "its disk is full"
		if errors.Is(err, data.ErrReadOnly) {
			why = "its data directory is read-only"
		}
		fail(c, http.StatusInsufficientStorage, "", "the server could not store the purchase (%s); the cart is kept, confirm again later", why)
	case errors.Is(err, checkout.ErrBusy):
		c.Header("Retry-After", "10")
		fail(c, http.StatusServiceUnavailable, "", "%v", err)
	case errors.Is(err, checkout.ErrTooLong), errors.Is(err, checkout.ErrVideoTooLarge):
		fail(c, http.StatusRequestEntityTooLarge, "video", "video: %v", err)
	case errors.Is(err, checkout.ErrNotVideo):
		fail(c, http.StatusUnprocessableEntity, "video", "%v", err)
	default:
		fail(c, http.StatusInternalServerError, "", "%v", err)
	}
}

// withSession finds the session named by :id and lets the request through only with its
// key or staff credentials.
func (s *Server) withSession(h func(*gin.Context, *checkout.Session)) gin.HandlerFunc {
	return func(c *gin.Context) {
		sess, err := s.Checkout.Get(c.Param("id"))
		if err != nil {
			checkoutError(c, err)
			return
		}
		if !s.mayOpen(c, sess) {
			return
		}
		h(c, sess)
	}
}

// withTask finds the upload task named by :task; it is its session's, and opens as it does.
func (s *Server) withTask(h func(*gin.Context, *checkout.Task)) gin.HandlerFunc {
	return func(c *gin.Context) {
		t, err := s.Checkout.Task(c.Param("task"))
		if err != nil {
			checkoutError(c, err)
			return
		}
		if !s.mayOpen(c, t.Session()) {
			return
		}
		h(c, t)
	}
}

// mayOpen answers 401 or 403 (and false) unless the request may act on sess.
func (s *Server) mayOpen(c *gin.Context, sess *checkout.Session) bool {
	if err := s.Guard.Session(c.Request, sess); err != nil {
		if errors.Is(err, access.ErrNoCredentials) {
			c.Header("WWW-Authenticate", `Bearer realm="ebrcs session"`)
		}
		fail(c, access.Status(err), "", "%v", err)
		return false
	}
	return true
}

// roiBody is the ROI's JSON form: {"points": [[x, y], ...]}, normalised coordinates.
type roiBody struct {
	Points []json.RawMessage `json:"points"`
}

// polygon checks the points one coordinate at a time, so that the error names the field.
func (b *roiBody) polygon(c *gin.Context, prefix string) ([]roi.Point, bool) {
	if b.Points == nil {
		fail(c, http.StatusBadRequest, prefix+"points", "points: required, a list of [x, y] pairs")
		return nil, false
	}
	if len(b.Points) > roi.MaxPoints {
		fail(c, http.StatusBadRequest, prefix+"points", "%spoints: %d points, a ROI has at most %d", prefix, len(b.Points), roi.MaxPoints)
		return nil, false
	}
	pts := make([][]float64, len(b.Points))
	for i, raw := range b.Points {
		field := fmt.Sprintf("%spoints[%d]", prefix, i)
		var coords []json.RawMessage
		if err := json.Unmarshal(raw, &coords); err != nil {
			fail(c, http.StatusBadRequest, field, "%s: want a pair [x, y], got %s", field, raw)
			return nil, false
		}
		for j, rc := range coords {
			var v float64
			if err := json.Unmarshal(rc, &v); err != nil {
				fail(c, http.StatusBadRequest, fmt.Sprintf("%s[%d]", field, j), "%s[%d]: want a number, got %s", field, j, rc)
				return nil, false
			}
			pts[i] = append(pts[i], v)
		}
	}
	poly, err := roi.FromPoints(pts)
	var pe *roi.PointsError
	if errors.As(err, &pe) {
		field := prefix + "points"
		if pe.Index >= 0 {
			field = fmt.Sprintf("%spoints[%d]", prefix, pe.Index)
		}
		fail(c, http.StatusBadRequest, field, "%s: %s", field, pe.Reason)
		return nil, false
	}
	if err != nil {
		fail(c, http.StatusBadRequest, prefix+"points", "%v", err)
		return nil, false
	}
	return poly, true
}

// newSessionJSON is a new session as its creator sees it: with its key, shown only once.
type newSessionJSON struct {
	checkout.SessionView
	Key string `json:"key"`
}

// createSession: POST /api/sessions [{"roi": {"points": [...]}}] → 201 with the session and
// its key (also in the X-Session-Key header and a cookie; see access.GiveKey).
func (s *Server) createSession(c *gin.Context) {
	if err := s.Guard.AllowCreate(c.Request); err != nil {
		var rate *access.RateError
		if errors.As(err, &rate) {
			c.Header("Retry-After", strconv.Itoa(int(rate.RetryAfter.Round(time.Second)/time.Second)))
		}
		fail(c, access.Status(err), "", "%v", err)
		return
	}
	var body struct {
		ROI *roiBody `json:"roi"`
	}
	if !decodeJSON(c, &body, true) {
		return
	}
	var roi []roi.Point
	if body.ROI != nil {
		if !s.mayEditArea(c) {
			return
		}
		var ok bool
		if roi, ok = body.ROI.polygon(c, "roi."); !ok {
			return
		}
	}
	sess, err := s.Checkout.Create(roi)
	if err != nil {
		checkoutError(c, err)
		return
	}
	c.Header("Location", "/api/sessions/"+sess.ID)
	access.GiveKey(c.Writer, c.Request, sess)
	c.JSON(http.StatusCreated, newSessionJSON{SessionView: s.Checkout.View(sess), Key: sess.Key()})
}

func (s *Server) getSession(c *gin.Context, sess *checkout.Session) {
	c.JSON(http.StatusOK, s.Checkout.View(sess))
}

func (s *Server) deleteSession(c *gin.Context, sess *checkout.Session) {
	if err := s.Checkout.Delete(sess.ID); err != nil {
		checkoutError(c, err)
		return
	}
	access.ForgetKey(c.Writer, c.Request, sess.ID)
	c.Status(http.StatusNoContent)
}

func (s *Server) putROI(c *gin.Context, sess *checkout.Session) {
	if !s.mayEditArea(c) {
		return
	}
	var body roiBody
	if !decodeJSON(c, &body, false) {
		return
	}
	poly, ok := body.polygon(c, "")
	if !ok {
		return
	}
	if _, err := s.Checkout.SetROI(sess.ID, poly); err != nil {
		checkoutError(c, err)
		return
	}
	c.JSON(http.StatusOK, s.Checkout.View(sess))
}

func (s *Server) deleteROI(c *gin.Context, sess *checkout.Session) {
	if !s.mayEditArea(c) {
		return
	}
	if _, err := s.Checkout.SetROI(sess.ID, nil); err != nil {
		checkoutError(c, err)
		return
	}
	c.JSON(http.StatusOK, s.Checkout.View(sess))
}

func (s *Server) getCart(c *gin.Context, sess *checkout.Session) {
	c.JSON(http.StatusOK, sess.Cart.View())
}

// cartBody is a cart edit: the complete new content, and the version it was made on.
type cartBody struct {
	Items *[]struct {
		ProductID int64  `json:"product_id"`
		Product   string `json:"product"`
		Quantity  *int   `json:"quantity"`
	} `json:"items"`
	Version int64 `json:"version"`
}

// putCart replaces the cart's content: the cashier's corrections. Every product must be in
// the catalog (or already in the cart); quantity 0 removes a product. A camera count replaced
// by another product teaches the catalog (checkout.Manager.EditCart).
func (s *Server) putCart(c *gin.Context, sess *checkout.Session) {
	var body cartBody
	if !decodeJSON(c, &body, false) {
		return
	}
	if body.Items == nil {
		fail(c, http.StatusBadRequest, "items", "items: required, the cart's complete content")
		return
	}
	if body.Version < 0 {
		fail(c, http.StatusBadRequest, "version", "version: must not be negative")
		return
	}
	if n := len(*body.Items); n > cart.MaxLines {
		fail(c, http.StatusBadRequest, "items", "items: %d lines, a cart edit has at most %d", n, cart.MaxLines)
		return
	}
	current := sess.Cart.View()
	lines := make([]cart.Line, 0, len(*body.Items))
	found := map[string]*data.Product{} // catalog lookups by lower-case name: once per product
	for i, it := range *body.Items {
		field := fmt.Sprintf("items[%d]", i)
		name := strings.TrimSpace(it.Product)
		if name == "" {
			fail(c, http.StatusBadRequest, field+".product", "%s.product: required", field)
			return
		}
		if it.Quantity == nil {
			fail(c, http.StatusBadRequest, field+".quantity", "%s.quantity: required", field)
			return
		}
		if *it.Quantity < 0 {
			fail(c, http.StatusBadRequest, field+".quantity", "%s.quantity: %d is negative", field, *it.Quantity)
			return
		}
		if *it.Quantity > cart.MaxQuantity {
			fail(c, http.StatusBadRequest, field+".quantity", "%s.quantity: %d is more than %d", field, *it.Quantity, cart.MaxQuantity)
			return
		}
		line := cart.Line{ProductID: it.ProductID, Product: name, Quantity: *it.Quantity}
		if !inCart(current, &line) {
			key := strings.ToLower(name)
			p, looked := found[key]
			if !looked {
				p, _ = s.productByName(name)
				found[key] = p
			}
			if p == nil {
				fail(c, http.StatusUnprocessableEntity, field+".product", "%s.product: %q is not in the catalog", field, name)
				return
			}
			line.ProductID, line.Product = p.ID, p.Name
		}
		lines = append(lines, line)
	}
	view, err := s.Checkout.EditCart(sess, lines, body.Version)
	if err != nil {
		checkoutError(c, err)
		return
	}
	c.JSON(http.StatusOK, view)
}

// inCart completes line from the cart's line for the same product, if there is one.
func inCart(v cart.CartView, line *cart.Line) bool {
	for _, l := range v.Items {
		if strings.EqualFold(l.Product, line.Product) || (line.ProductID != 0 && line.ProductID == l.ProductID) {
			line.ProductID, line.Product = l.ProductID, l.Product
			return true
		}
	}
	return false
}

func (s *Server) productByName(name string) (*data.Product, error) {
	store := s.Checkout.Config().Store
	if store == nil {
		return nil, data.ErrNotFound
	}
	return store.ProductByName(name)
}

func (s *Server) confirmCart(c *gin.Context, sess *checkout.Session) {
	store := s.Checkout.Config().Store
	if store == nil {
		fail(c, http.StatusServiceUnavailable, "", "no catalog is configured to store purchases")
		return
	}
	if !s.checkPrices(c, sess) {
		return
	}
	view, err := sess.Cart.Confirm(store, sess.ID)
	if err != nil {
		checkoutError(c, err)
		return
	}
	c.JSON(http.StatusOK, view)
}

func (s *Server) getTask(c *gin.Context, t *checkout.Task) {
	c.JSON(http.StatusOK, t.View())
}

// uploadVideo: POST /api/sessions/{id}/video, multipart with the file in the field "video".
// The file is streamed to disk (never held in memory), checked to be a playable video, and
// queued: 202 with the task, whose events report progress and the resulting cart.
func (s *Server) uploadVideo(c *gin.Context, sess *checkout.Session) {
	limit := s.UploadLimit
	if limit <= 0 {
		limit = DefaultUploadLimit
	}
	// The multipart envelope adds a little; the file itself is held to the limit below.
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit+64<<10)
	mr, err := c.Request.MultipartReader()
	if err != nil {
		fail(c, http.StatusBadRequest, "video", "the upload must be multipart/form-data with the file in the field \"video\": %v", err)
		return
	}
	var part *multipart.Part
	for {
		part, err = mr.NextPart()
		if err == io.EOF {
			fail(c, http.StatusBadRequest, "video", "video: required, the form has no field \"video\"")
			return
		}
		if err != nil {
			uploadReadError(c, err, limit)
			return
		}
		if part.FormName() == "video" {
			break
		}
		part.Close()
	}
	dir := s.UploadDir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(c, http.StatusInternalServerError, "", "upload directory: %v", err)
		return
	}
	f, err := os.CreateTemp(dir, "upload-*"+safeExt(part.FileName()))
	if err != nil {
		if why, ok := noRoom(err); ok {
			fail(c, http.StatusInsufficientStorage, "", "the server cannot take uploads now (%s)", why)
			return
		}
		fail(c, http.StatusInternalServerError, "", "upload: %v", err)
		return
	}
	n, err := io.Copy(f, io.LimitReader(part, limit+1))
	closeErr := f.Close()
	if err == nil && n > limit {
		err = &http.MaxBytesError{Limit: limit}
	}
	if err == nil {
		err = closeErr
	}
	if err == nil && n == 0 {
		os.Remove(f.Name())
		fail(c, http.StatusBadRequest, "video", "video: the file is empty")
		return
	}
	if err != nil {
		os.Remove(f.Name())
		uploadReadError(c, err, limit)
		return
	}
	t, err := s.Checkout.Upload(sess.ID, f.Name(), filepath.Base(part.FileName()))
	if err != nil {
		checkoutError(c, err)
		return
	}
	c.Header("Location", "/api/tasks/"+t.ID)
	c.JSON(http.StatusAccepted, t.View())
}

func uploadReadError(c *gin.Context, err error, limit int64) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		fail(c, http.StatusRequestEntityTooLarge, "video", "video: the upload is larger than the limit of %d bytes", limit)
		return
	}
	if why, ok := noRoom(err); ok {
		fail(c, http.StatusInsufficientStorage, "", "the server cannot take uploads now (%s)", why)
		return
	}
	fail(c, http.StatusBadRequest, "video", "video: the upload could not be read: %v", err)
}

// noRoom recognises a write refused by the upload directory's file system.
func noRoom(err error) (string, bool) {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "its upload directory's disk is full", true
	case errors.Is(err, syscall.EROFS):
		return "its upload directory is read-only", true
	}
	return "", false
}

// safeExt keeps a short alphanumeric extension of the client's file name (decoders do not
// need it, but it helps whoever looks at the upload directory).
func safeExt(name string) string {
	ext := filepath.Ext(name)
	if len(ext) < 2 || len(ext) > 6 {
		return ""
	}
	for _, r := range ext[1:] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return ""
		}
	}
	return ext
}
