// Package web is EBRCS's HTTP server: health and readiness probes, metrics, the pipeline and
// catalog admin APIs, the checkout API (sessions, carts, event streams, video uploads), WebRTC
// signaling (WHIP/WHEP, from package signaling) and the pages. Who may call what is decided by
// checkout/access: shoppers hold their session's key, staff the admin token.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/signaling"
)

// PipelineSet is what the server needs from the pipeline manager.
type PipelineSet interface {
	Statuses() []pipelines.Status
}

// Server serves the HTTP API.
type Server struct {
	Pipelines PipelineSet
	// Checkout, when set, serves the checkout API (sessions, carts, events, uploads).
	Checkout *checkout.Manager
	// UploadLimit is the largest video upload in bytes (0: DefaultUploadLimit); UploadDir is
	// where uploads are spooled while processed (empty: the system's temporary directory).
	UploadLimit int64
	UploadDir   string
	Logger      *slog.Logger

	// Catalog serves the product admin API (nil: no product routes).
	Catalog *data.Catalog
	// PipelineAdmin serves GET/PUT of pipeline definitions (nil: read-only list only).
	PipelineAdmin PipelineAdmin
	// PipelinesReadOnly refuses PUT /api/pipelines/{name} with 403 (config pipelines_api:
	// read-only); the definitions can still be read.
	PipelinesReadOnly bool
	// Guard decides who may do what: the admin token (staff) for the admin endpoints, the
	// stations and the peers list; a session's key or staff for a session. nil: nobody is
	// staff (the admin API fails closed) and sessions open with their key only.
	Guard *access.Guard
	// CORSOrigins may call the API from their own pages ("*": any); none: same origin only.
	CORSOrigins []string
	// WebRTC serves WHIP and WHEP (nil: no live cameras).
	WebRTC *signaling.Service
	// IdleTimeout closes a keep-alive connection idle this long between requests (0:
	// DefaultIdleTimeout); BodyStallTimeout cuts a request whose body stops arriving for this
	// long (0: DefaultBodyStallTimeout). Neither limits a slow upload that keeps coming, nor
	// the event streams, WebSockets and WebRTC.
	IdleTimeout, BodyStallTimeout time.Duration
	// Nodes serves GET /api/nodes (nil: no such route).
	Nodes NodeDirectory
	// Store is how the pages show money, and whether unpriced carts may be confirmed.
	Store StoreSettings
	// SnapshotTimeout bounds POST /api/stations/snapshot, a frame from a camera (0:
	// pipelines.DefaultSnapshotTimeout).
	SnapshotTimeout time.Duration

	http *http.Server
}

// Handler returns the routes, for the server and for tests with httptest.
func (s *Server) Handler() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery(), observeRequests, s.cors, s.refuseCrossSite)
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.ready)
	r.GET("/metrics", s.metricsHandler())
	r.GET("/api/pipelines", func(c *gin.Context) { c.JSON(http.StatusOK, s.Pipelines.Statuses()) })
	if s.Nodes != nil {
		r.GET("/api/nodes", s.nodes)
	}
	s.storeRoutes(r)
	s.tokenRoutes(r)
	if s.Checkout != nil {
		s.checkoutRoutes(r)
	}
	s.adminRoutes(r)
	s.historyRoutes(r)
	s.productEditRoutes(r)
	s.pipelineCreateRoutes(r)
	s.debugRoutes(r)
	s.pageRoutes(r)
	if s.WebRTC != nil {
		s.WebRTC.Routes(r)
		// Every live session and stream id is here: staff only.
		r.GET("/api/webrtc/peers", s.requireStaff(), func(c *gin.Context) { c.JSON(http.StatusOK, s.WebRTC.Peers()) })
	}
	return r
}

// ready says whether every pipeline is up: 200 when all run (or finished, or wait idle to be
// run on demand), 503 listing the ones that do not.
func (s *Server) ready(c *gin.Context) {
	var notReady []pipelines.Status
	for _, st := range s.Pipelines.Statuses() {
		if st.State != pipelines.StateRunning && st.State != pipelines.StateFinished && st.State != pipelines.StateIdle {
			notReady = append(notReady, st)
		}
	}
	if len(notReady) > 0 {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready", "pipelines": notReady})
		return
	}
	body := gin.H{"status": "ready"}
	if s.Catalog != nil {
		// Ready either way (checkout works), but an operator should see that nothing can be
		// stored.
		st := s.Catalog.Stats()
		catalog := gin.H{"read_only": st.ReadOnly, "storage_errors": st.StorageErrors}
		if st.Replica {
			// A replica of the catalog database (catalog_url): how far it is, and whether
			// changes can be made now.
			catalog["replica"] = gin.H{"seq": st.RecordSeq, "connected": st.RecordConnected,
				"products": st.Products, "vectors": st.Vectors}
		}
		body["catalog"] = catalog
	}
	c.JSON(http.StatusOK, body)
}

// ListenAndServe serves on addr until ctx ends, then shuts down gracefully.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.http = s.httpServer()
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.http.Shutdown(shutdownCtx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && e != nil {
		return e
	}
	return err
}
