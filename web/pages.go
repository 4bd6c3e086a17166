package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// static holds the pages and their scripts and styles: plain HTML, CSS and ES modules, no
// build step. Everything is in the binary; the pages load nothing from elsewhere.
//
//go:embed static
var static embed.FS

// staticTypes is the Content-Type of each served extension, fixed here rather than read from
// the system's MIME tables, which differ between hosts (and module scripts need a JavaScript
// type or the browser refuses them).
var staticTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".json":  "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".jpeg":  "image/jpeg",
	".ico":   "image/x-icon",
	".webp":  "image/webp",
	".woff2": "font/woff2",
	".txt":   "text/plain; charset=utf-8",
}

// pagePolicy is the Content-Security-Policy of everything under static/: the pages run only
// the scripts and styles this server sends (no inline script, style or event handler, no
// eval), talk only to this server (fetch, EventSource, WebSocket and WHIP/WHEP signaling;
// the WebRTC media itself is not governed by CSP), show images from it or from blob: URLs
// (the admin page's previews of chosen photos), play media from it, blob: or the camera's
// MediaStream, and cannot be framed, rebased or made to post forms elsewhere. So a script
// that slipped into a page (a product name rendered unescaped, say) could neither run nor
// send anything out.
const pagePolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; " +
	"media-src 'self' blob: mediastream:; connect-src 'self'; font-src 'self'; object-src 'none'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// staticFile is one embedded file, ready to serve.
type staticFile struct {
	data        []byte
	contentType string
	etag        string
}

var (
	staticOnce  sync.Once
	staticFiles map[string]staticFile // by path under static/, e.g. "js/api.js"
)

// loadStatic reads the embedded files once, with a content hash for each as its ETag: the
// pages are sent with "Cache-Control: no-cache", so browsers revalidate every time and get a
// 304 while the binary is unchanged, and the new files at once after an upgrade.
func loadStatic() map[string]staticFile {
	staticOnce.Do(func() {
		staticFiles = map[string]staticFile{}
		sub, _ := fs.Sub(static, "static")
		fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(sub, name)
			if err != nil {
				return err
			}
			ct, ok := staticTypes[strings.ToLower(path.Ext(name))]
			if !ok {
				ct = http.DetectContentType(b)
			}
			sum := sha256.Sum256(b)
			staticFiles[name] = staticFile{data: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
			return nil
		})
	})
	return staticFiles
}

// pageRoutes adds the pages: the checkout at /, the catalog and pipeline admin at /admin,
// and their files under /static/.
func (s *Server) pageRoutes(r *gin.Engine) {
	for _, p := range []struct{ route, file string }{{"/", "index.html"}, {"/admin", "admin.html"}} {
		h := func(c *gin.Context) { serveStatic(c, p.file) }
		r.GET(p.route, h)
		r.HEAD(p.route, h)
	}
	files := func(c *gin.Context) {
		name := strings.TrimPrefix(c.Param("filepath"), "/")
		// Only clean, relative names of files: no "..", no directories, no listing.
		if name == "" || !fs.ValidPath(name) || path.Clean(name) != name {
			fail(c, http.StatusNotFound, "", "no such file")
			return
		}
		serveStatic(c, name)
	}
	r.GET("/static/*filepath", files)
	r.HEAD("/static/*filepath", files)
}

// serveStatic sends one embedded file, answering conditional and range requests.
func serveStatic(c *gin.Context, name string) {
	f, ok := loadStatic()[name]
	if !ok {
		fail(c, http.StatusNotFound, "", "no such file: %s", name)
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", pagePolicy)
	// Links to other sites do not learn which page (or session) they came from.
	h.Set("Referrer-Policy", "same-origin")
	if strings.HasSuffix(name, ".html") {
		// The pages use the camera, so they must not be framed by another site
		// (frame-ancestors says it too, to browsers that read CSP).
		h.Set("X-Frame-Options", "DENY")
	}
	http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(f.data))
}
