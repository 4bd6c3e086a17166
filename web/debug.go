package web

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/gin-gonic/gin"
)

// debugRoutes serves Go's profiler (pprof) to admins only: profiles reveal memory contents.
//
//	go tool pprof -http :0 'http://HOST:8080/debug/pprof/heap' (with the admin token header)
func (s *Server) debugRoutes(r *gin.Engine) {
	r.GET("/debug/pprof/*name", s.requireAdmin(), func(c *gin.Context) {
		switch name := strings.TrimPrefix(c.Param("name"), "/"); name {
		case "":
			pprof.Index(c.Writer, c.Request)
		case "cmdline":
			pprof.Cmdline(c.Writer, c.Request)
		case "profile":
			pprof.Profile(c.Writer, c.Request)
		case "symbol":
			pprof.Symbol(c.Writer, c.Request)
		case "trace":
			pprof.Trace(c.Writer, c.Request)
		default:
			pprof.Handler(name).ServeHTTP(c.Writer, c.Request)
		}
	})
}

// cors allows the configured origins (none by default: same origin only) to call the API
// from their pages, answering preflight requests.
func (s *Server) cors(c *gin.Context) {
	origin := c.GetHeader("Origin")
	if origin == "" || !s.allowedOrigin(origin) {
		c.Next()
		return
	}
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Location, X-Ebrcs-Session, X-Session-Key")
	if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Admin-Token, X-Session-Key, Last-Event-ID")
		h.Set("Access-Control-Max-Age", "600")
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}
