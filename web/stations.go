package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/pipelines"
)

// PipelineCreator is what POST /api/pipelines/{name} needs: a pipeline manager that can add
// a pipeline file (pipelines.Manager.Create).
type PipelineCreator interface {
	Create(name string, raw []byte) error
}

// PipelineSnapshotter takes the next frame of a running pipeline (pipelines.Manager.Snapshot).
type PipelineSnapshotter interface {
	Snapshot(ctx context.Context, name string, timeout time.Duration) (*pipelines.Snapshot, error)
}

var (
	_ PipelineCreator     = (*pipelines.Manager)(nil)
	_ PipelineSnapshotter = (*pipelines.Manager)(nil)
)

// pipelineCreateRoutes adds POST /api/pipelines/{name} (admin): a new pipeline file from a
// definition, such as the camera station the back office's form writes (the YAML stays the
// experts' way: PUT replaces a definition), with POST /api/stations/snapshot (admin), the
// camera's picture to draw the station's counting area on; and GET
// /api/pipelines/{name}/snapshot (staff), the picture of a running station.
func (s *Server) pipelineCreateRoutes(r *gin.Engine) {
	if creator, ok := s.PipelineAdmin.(PipelineCreator); ok {
		r.POST("/api/pipelines/:name", s.requireAdmin(), func(c *gin.Context) { s.createPipeline(c, creator) })
		r.POST("/api/stations/snapshot", s.requireAdmin(), s.stationSnapshot)
	}
	if snap, ok := s.PipelineAdmin.(PipelineSnapshotter); ok {
		r.GET("/api/pipelines/:name/snapshot", s.requireStaff(), func(c *gin.Context) { s.pipelineSnapshot(c, snap) })
	}
}

func (s *Server) createPipeline(c *gin.Context, creator PipelineCreator) {
	name := c.Param("name")
	raw, ok := s.pipelineBody(c, "pipelines cannot be created")
	if !ok {
		return
	}
	err := creator.Create(name, raw)
	var linkErr *pipelines.LinkError
	switch {
	case err == nil:
		s.logger().Info("pipeline created through the API", "pipeline", name, "client", c.ClientIP())
		c.Header("Location", "/api/pipelines/"+name)
		c.JSON(http.StatusCreated, gin.H{"status": "created", "name": name})
	case errors.Is(err, pipelines.ErrPipelineExists):
		fail(c, http.StatusConflict, "name", "%v", err)
	case pipelines.Errors(err) != nil, errors.As(err, &linkErr):
		fail(c, http.StatusUnprocessableEntity, "yaml", "%v", err)
	default:
		fail(c, http.StatusInternalServerError, "", "%v", err)
	}
}

// snapshotRequest is POST /api/stations/snapshot's body: the camera the station form names.
type snapshotRequest struct {
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password"`
	// Transport is tcp, udp or auto; empty: tcp.
	Transport string `json:"transport"`
}

// stationSnapshot: POST /api/stations/snapshot (admin) → one frame of the camera as a JPEG at
// the camera's size, so that the station form can draw the counting area on the camera's own
// picture. The camera is opened with the station's own source (pipelines.TakeSnapshot); a
// failure says why, naming the field to fix: 400 url for a bad address, 502 password for
// refused credentials, 502 url for a camera that cannot be reached or sends no video, 504
// url when it does not answer in time. The password is never logged nor sent back.
func (s *Server) stationSnapshot(c *gin.Context) {
	var req snapshotRequest
	if !decodeJSON(c, &req, false) {
		return
	}
	start := time.Now()
	shot, err := pipelines.TakeSnapshot(c.Request.Context(), pipelines.SnapshotRequest{
		URL: req.URL, User: req.Username, Password: req.Password, Transport: req.Transport, Timeout: s.SnapshotTimeout,
	})
	camera := pipelines.Redact(req.URL)
	if err != nil {
		msg := pipelines.RedactSecrets(err.Error(), []string{req.Password})
		s.logger().Warn("camera snapshot failed", "camera", camera, "error", msg, "took", time.Since(start).Round(time.Millisecond))
		credentials := "password"
		if req.Username == "" && req.Password == "" {
			credentials = "username"
		}
		switch {
		case errors.Is(err, context.Canceled):
			c.Abort() // the page went away
		case errors.Is(err, pipelines.ErrCameraURL):
			fail(c, http.StatusBadRequest, "url", "%s", msg)
		case errors.Is(err, pipelines.ErrCameraAuth) && credentials == "username":
			fail(c, http.StatusBadGateway, credentials, "the camera asks for a user name and password (RTSP 401 Unauthorized)")
		case errors.Is(err, pipelines.ErrCameraAuth):
			fail(c, http.StatusBadGateway, credentials, "%s: check the user name and password", msg)
		case errors.Is(err, pipelines.ErrCameraTimeout):
			fail(c, http.StatusGatewayTimeout, "url", "%s", msg)
		case errors.Is(err, pipelines.ErrCameraUnreachable), errors.Is(err, pipelines.ErrCameraNoStream), errors.Is(err, pipelines.ErrCameraNoVideo):
			fail(c, http.StatusBadGateway, "url", "%s", msg)
		case errors.Is(err, pipelines.ErrSnapshotBusy):
			c.Header("Retry-After", "2")
			fail(c, http.StatusServiceUnavailable, "", "%s: try again in a moment", msg)
		case errors.Is(err, pipelines.ErrCameraTransport):
			fail(c, http.StatusBadRequest, "transport", "%s", msg)
		default:
			fail(c, http.StatusInternalServerError, "", "%s", msg)
		}
		return
	}
	s.logger().Info("camera snapshot", "camera", camera, "width", shot.Width, "height", shot.Height,
		"took", time.Since(start).Round(time.Millisecond), "client", c.ClientIP())
	c.Header("Cache-Control", "no-store")
	c.Header("X-Frame-Width", strconv.Itoa(shot.Width))
	c.Header("X-Frame-Height", strconv.Itoa(shot.Height))
	c.Data(http.StatusOK, "image/jpeg", shot.JPEG)
}

// pipelineSnapshot: GET /api/pipelines/{name}/snapshot (staff) → the next frame of a running
// pipeline as a JPEG, taken where its chain first carries raw I420 video: a station's camera
// picture before anything is drawn on it. 404 for no such pipeline, 409 while it does not run,
// 422 when it carries no raw I420 video, 504 when no frame comes in time.
func (s *Server) pipelineSnapshot(c *gin.Context, snap PipelineSnapshotter) {
	name := c.Param("name")
	shot, err := snap.Snapshot(c.Request.Context(), name, s.SnapshotTimeout)
	switch {
	case err == nil:
		c.Header("Cache-Control", "no-store")
		c.Header("X-Frame-Width", strconv.Itoa(shot.Width))
		c.Header("X-Frame-Height", strconv.Itoa(shot.Height))
		c.Data(http.StatusOK, "image/jpeg", shot.JPEG)
	case errors.Is(err, context.Canceled):
		c.Abort()
	case errors.Is(err, pipelines.ErrNoPipeline):
		fail(c, http.StatusNotFound, "name", "%s: %v", name, err)
	case errors.Is(err, pipelines.ErrNotRunning):
		fail(c, http.StatusConflict, "", "%s: %v", name, err)
	case errors.Is(err, pipelines.ErrNoRawVideo):
		fail(c, http.StatusUnprocessableEntity, "", "%s: %v", name, err)
	case errors.Is(err, pipelines.ErrCameraNoVideo):
		fail(c, http.StatusGatewayTimeout, "", "%s: %v", name, err)
	default:
		fail(c, http.StatusInternalServerError, "", "%s: %v", name, err)
	}
}
