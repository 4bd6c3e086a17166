package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"golang.org/x/net/html"
)

// pagesHandler serves the pages alone, as Handler does among the API's routes.
func pagesHandler() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	(&Server{}).pageRoutes(r)
	return r
}

func serve(h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// The pages and their files are served with the right types, uncached but revalidated.
func TestPageRoutes(t *testing.T) {
	h := pagesHandler()
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `data-testid="start-button"`},
		{"/admin", "text/html; charset=utf-8", `data-testid="token-input"`},
		{"/static/index.html", "text/html; charset=utf-8", "<!doctype html>"},
		{"/static/css/app.css", "text/css; charset=utf-8", ".video-wrap"},
		{"/static/js/checkout.js", "text/javascript; charset=utf-8", "window.ebrcs"},
		{"/static/js/admin.js", "text/javascript; charset=utf-8", "window.ebrcsAdmin"},
		{"/static/js/whip.js", "text/javascript; charset=utf-8", "application/sdp"},
		{"/static/js/api.js", "text/javascript; charset=utf-8", "export class ApiError"},
		{"/static/js/roi.js", "text/javascript; charset=utf-8", "export class RoiEditor"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := serve(h, http.MethodGet, tc.path, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", tc.path, rec.Code, rec.Body.String())
			}
			if got := rec.Header().Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("the body has no %q", tc.contains)
			}
			etag := rec.Header().Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			// Revalidation: unchanged, 304 without a body.
			rec = serve(h, http.MethodGet, tc.path, http.Header{"If-None-Match": {etag}})
			if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
				t.Errorf("If-None-Match: %d, %d bytes; want 304 and none", rec.Code, rec.Body.Len())
			}
			rec = serve(h, http.MethodHead, tc.path, nil)
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != tc.contentType {
				t.Errorf("HEAD: %d %q", rec.Code, rec.Header().Get("Content-Type"))
			}
		})
	}
}

// Directories, missing files and paths that climb out of static/ are 404 with the API's
// error body; nothing outside the embedded files is ever served.
func TestPageNotFound(t *testing.T) {
	h := pagesHandler()
	for _, p := range []string{
		"/static/", "/static/js", "/static/js/", "/static/nope.js", "/static/js/nope.js",
		"/static/../pages.go", "/static/js/../../pages.go", "/static/%2e%2e/pages.go",
		"/static//js/api.js", "/static/./js/api.js", "/static/js/./api.js",
	} {
		rec := serve(h, http.MethodGet, p, nil)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("GET %s: %d %q, want 404 with an error body", p, rec.Code, rec.Body.String())
		}
	}
}

var (
	// Static module imports and re-exports: import x from './a.js', import './a.js',
	// export { x } from './a.js', and dynamic import('./a.js').
	importFrom    = regexp.MustCompile(`(?m)^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]`)
	importBare    = regexp.MustCompile(`(?m)^\s*import\s*['"]([^'"]+)['"]`)
	importDynamic = regexp.MustCompile(`\bimport\(\s*['"]([^'"]+)['"]\s*\)`)
)

// reference is one URL a page or script loads, and where it was found.
type reference struct{ from, url string }

// htmlReferences parses an HTML file for what it loads or links to: scripts, style sheets
// and icons, images, and the page links.
func htmlReferences(t *testing.T, name string, b []byte) []reference {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var refs []reference
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				switch {
				case a.Key == "src" && (n.Data == "script" || n.Data == "img" || n.Data == "source" || n.Data == "video"),
					a.Key == "href" && (n.Data == "link" || n.Data == "a"):
					refs = append(refs, reference{name + " <" + n.Data + ">", a.Val})
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return refs
}

func jsReferences(name string, b []byte) []reference {
	var refs []reference
	for _, re := range []*regexp.Regexp{importFrom, importBare, importDynamic} {
		for _, m := range re.FindAllSubmatch(b, -1) {
			refs = append(refs, reference{name, string(m[1])})
		}
	}
	return refs
}

// Every file the pages load (scripts, style sheets, module imports, links between the pages)
// is in the embedded files and served, and nothing comes from another host.
func TestPageReferences(t *testing.T) {
	h := pagesHandler()
	sub, err := fs.Sub(static, "static")
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]string{"index.html": "/", "admin.html": "/admin"}
	var queue []reference
	fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, name)
		if err != nil {
			t.Fatal(err)
		}
		base := "/static/" + name
		if route, ok := pages[name]; ok {
			base = route
		}
		var refs []reference
		switch path.Ext(name) {
		case ".html":
			refs = htmlReferences(t, name, b)
			if len(refs) == 0 {
				t.Errorf("%s: no references found: the parser is broken", name)
			}
		case ".js":
			refs = jsReferences(name, b)
			if strings.Contains(string(b), "import") && !strings.Contains(string(b), "import.meta") && len(refs) == 0 && name != "js/api.js" {
				t.Errorf("%s mentions import but no import was parsed", name)
			}
		}
		for _, r := range refs {
			u, err := url.Parse(r.url)
			if err != nil {
				t.Errorf("%s: %q: %v", r.from, r.url, err)
				continue
			}
			if u.Scheme != "" || u.Host != "" {
				t.Errorf("%s: %q loads from another host: everything must be embedded", r.from, r.url)
				continue
			}
			if strings.HasPrefix(name, "js/") && !strings.HasPrefix(r.url, "./") && !strings.HasPrefix(r.url, "../") && !strings.HasPrefix(r.url, "/") {
				t.Errorf("%s: bare module specifier %q: browsers need a path", r.from, r.url)
				continue
			}
			resolved := (&url.URL{Path: base}).ResolveReference(u)
			queue = append(queue, reference{r.from, resolved.Path})
		}
		return nil
	})
	if len(queue) < 8 {
		t.Fatalf("only %d references found in the pages and scripts: %v", len(queue), queue)
	}
	for _, r := range queue {
		if file, ok := strings.CutPrefix(r.url, "/static/"); ok {
			if _, err := fs.Stat(sub, file); err != nil {
				t.Errorf("%s: %s is not in the embedded files", r.from, r.url)
				continue
			}
		}
		rec := serve(h, http.MethodGet, r.url, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: GET %s: %d", r.from, r.url, rec.Code)
		}
	}
}

// The pages say which elements tests and people rely on: the hooks for browser tests, and a
// label for every form control.
func TestPageHooks(t *testing.T) {
	for page, ids := range map[string][]string{
		"index.html": {"start-button", "stop-button", "video", "roi-canvas", "cart-list", "confirm-button", "connection-state", "event-log", "upload-input", "roi-save", "roi-clear", "roi-reset"},
		"admin.html": {"token-input", "product-name", "product-images", "camera-open", "product-sku", "product-price", "product-submit", "product-list", "pipeline-table"},
	} {
		b, err := static.ReadFile("static/" + page)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := html.Parse(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		testids := map[string]bool{}
		labelled := map[string]bool{}
		var controls []string
		var walk func(*html.Node, bool)
		walk = func(n *html.Node, inLabel bool) {
			if n.Type == html.ElementNode {
				attr := map[string]string{}
				for _, a := range n.Attr {
					attr[a.Key] = a.Val
				}
				if id := attr["data-testid"]; id != "" {
					if testids[id] {
						t.Errorf("%s: data-testid %q twice", page, id)
					}
					testids[id] = true
				}
				switch n.Data {
				case "label":
					labelled[attr["for"]] = true
					inLabel = true
				case "input", "select", "textarea":
					if attr["type"] != "hidden" && attr["aria-label"] == "" && attr["aria-labelledby"] == "" && !inLabel {
						controls = append(controls, attr["id"])
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c, inLabel)
			}
		}
		walk(doc, false)
		for _, id := range ids {
			if !testids[id] {
				t.Errorf("%s: no data-testid %q", page, id)
			}
		}
		for _, id := range controls {
			if id == "" || !labelled[id] {
				t.Errorf("%s: the control #%s has no label", page, id)
			}
		}
	}
}

// The scripts parse, where Node is installed (as modules: they import one another).
func TestPageScriptsParse(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	dir := t.TempDir()
	matches, err := fs.Glob(static, "static/js/*.js")
	if err != nil || len(matches) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, m := range matches {
		b, _ := static.ReadFile(m)
		// .mjs: Node then reads the file as an ES module whatever its version.
		f := filepath.Join(dir, strings.TrimSuffix(path.Base(m), ".js")+".mjs")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", m, err, out)
		}
	}
}
