package web

import (
	"errors"
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
