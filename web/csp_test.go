package web

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Every page and file of the pages carries the Content-Security-Policy and the other
// protective headers, on full answers and on revalidations alike.
func TestPagesSecurityHeaders(t *testing.T) {
	h := pagesHandler()
	paths := []string{"/", "/admin"}
	for name := range loadStatic() {
		paths = append(paths, "/static/"+name)
	}
	for _, p := range paths {
		rec := serve(h, http.MethodGet, p, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, rec.Code)
		}
		check := func(what string, hdr http.Header) {
			csp := hdr.Get("Content-Security-Policy")
			for _, d := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self';", "connect-src 'self'",
				"frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "object-src 'none'", "media-src 'self' blob: mediastream:"} {
				if !strings.Contains(csp+";", d) {
					t.Errorf("%s %s: Content-Security-Policy %q lacks %q", what, p, csp, d)
				}
			}
			if strings.Contains(csp, "unsafe-") {
				t.Errorf("%s %s: the policy allows %q", what, p, csp)
			}
			if hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Referrer-Policy") != "same-origin" {
				t.Errorf("%s %s: X-Content-Type-Options %q, Referrer-Policy %q", what, p,
					hdr.Get("X-Content-Type-Options"), hdr.Get("Referrer-Policy"))
			}
		}
		check("GET", rec.Header())
		rec = serve(h, http.MethodGet, p, http.Header{"If-None-Match": {rec.Header().Get("ETag")}})
		check("revalidated", rec.Header())
	}
}

// Nothing in the pages needs what the policy forbids: no inline script, style or event
// handler, no javascript: URL in the HTML; no eval, string-built functions or style
// attributes in the scripts (setting element.style properties is allowed by the policy).
func TestPagesNeedNoInlineCode(t *testing.T) {
	for name, f := range loadStatic() {
		switch {
		case strings.HasSuffix(name, ".html"):
			doc, err := html.Parse(strings.NewReader(string(f.data)))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var walk func(*html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.ElementNode {
					if n.Data == "style" {
						t.Errorf("%s: an inline <style> element", name)
					}
					src := ""
					for _, a := range n.Attr {
						key := strings.ToLower(a.Key)
						switch {
						case key == "style":
							t.Errorf("%s: <%s style=%q>", name, n.Data, a.Val)
						case strings.HasPrefix(key, "on"):
							t.Errorf("%s: <%s %s=%q>", name, n.Data, a.Key, a.Val)
						case strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:"):
							t.Errorf("%s: <%s %s=%q>", name, n.Data, a.Key, a.Val)
						case key == "src":
							src = a.Val
						}
					}
					if n.Data == "script" && (src == "" || !strings.HasPrefix(src, "/static/")) {
						t.Errorf("%s: a <script> that is inline or not ours (src %q)", name, src)
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
		case strings.HasSuffix(name, ".js"):
			forbidden := regexp.MustCompile(`\beval\s*\(|new\s+Function\s*\(|setAttribute\(\s*['"](style|on\w+)['"]|cssText|` +
				`setTimeout\(\s*['"]|setInterval\(\s*['"]|style\s*=\s*\\?["']|\son(click|load|error|input|change|submit|key\w+|mouse\w+|pointer\w+|focus|blur)\s*=\s*\\?["']`)
			if m := forbidden.FindString(string(f.data)); m != "" {
				t.Errorf("%s: %q, which the Content-Security-Policy blocks", name, m)
			}
		}
	}
}
