package web

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ebrcs/ebrcs/pipelines"
)

// PipelineCreator is what POST /api/pipelines/{name} needs: a pipeline manager that can add
// a pipeline file (pipelines.Manager.Create).
type PipelineCreator interface {
	Create(name string, raw []byte) error
}

var _ PipelineCreator = (*pipelines.Manager)(nil)

// pipelineCreateRoutes adds POST /api/pipelines/{name} (admin): a new pipeline file from a
// definition, such as the camera station the back office's form writes. The YAML stays the
// experts' way (PUT replaces a definition).
func (s *Server) pipelineCreateRoutes(r *gin.Engine) {
	creator, ok := s.PipelineAdmin.(PipelineCreator)
	if !ok {
		return
	}
	r.POST("/api/pipelines/:name", s.requireAdmin(), func(c *gin.Context) { s.createPipeline(c, creator) })
}

func (s *Server) createPipeline(c *gin.Context, creator PipelineCreator) {
	name := c.Param("name")
	if s.PipelinesReadOnly {
		fail(c, http.StatusForbidden, "", "pipelines cannot be created through the API: pipelines_api is read-only (set pipelines_api: read-write to allow it)")
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxPipelineBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		fail(c, http.StatusRequestEntityTooLarge, "yaml", "the pipeline definition is larger than the limit of %d bytes", MaxPipelineBytes)
		return
	case err != nil:
		fail(c, http.StatusBadRequest, "yaml", "the body could not be read: %v", err)
		return
	case len(bytes.TrimSpace(raw)) == 0:
		fail(c, http.StatusBadRequest, "yaml", "the request needs the pipeline's YAML as its body")
		return
	}
	err = creator.Create(name, raw)
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
