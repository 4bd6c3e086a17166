package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// refuseCrossSite stops another site's page from changing anything here through its
// visitors' browsers. CORS alone does not: a "simple" request (a form post, or fetch with
// text/plain or multipart/form-data) is sent without asking, and only its answer is hidden
// from the other page. Browsers say where a request comes from (Origin, and Sec-Fetch-Site in
// current ones), so a state-changing request (POST, PUT, PATCH, DELETE) from a page of
// another origin is refused unless that origin is allowed (cors_origins). Clients that are
// not browsers send neither header and are not affected; JSON endpoints also require
// application/json bodies (decodeJSON), which no simple request can send.
func (s *Server) refuseCrossSite(c *gin.Context) {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		c.Next()
		return
	}
	if s.crossSite(c.Request) {
		fail(c, http.StatusForbidden, "Origin", "cross-origin %s refused: the request comes from a page of another site (%s); list it in cors_origins to allow it",
			c.Request.Method, originOf(c.Request))
		return
	}
	c.Next()
}

// crossSite reports whether a browser sent the request for a page of an origin that is
// neither this server's nor an allowed one.
func (s *Server) crossSite(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin != "" && s.allowedOrigin(origin) {
		return false
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true // same-site is another origin too (a sibling subdomain)
	}
	if origin == "" {
		return false // not a browser, or a same-origin GET-like navigation
	}
	u, err := url.Parse(origin)
	return err != nil || origin == "null" || !strings.EqualFold(u.Host, r.Host)
}

func (s *Server) allowedOrigin(origin string) bool {
	return slices.Contains(s.CORSOrigins, origin) || slices.Contains(s.CORSOrigins, "*")
}

func originOf(r *http.Request) string {
	if o := r.Header.Get("Origin"); o != "" {
		return o
	}
	return "Sec-Fetch-Site: " + r.Header.Get("Sec-Fetch-Site")
}
