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
	if strings.HasSuffix(name, ".html") {
		// The pages use the camera, so they must not be framed by another site.
		h.Set("X-Frame-Options", "DENY")
	}
	http.ServeContent(c.Writer, c.Request, name, time.Time{}, bytes.NewReader(f.data))
}
