package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"path"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is sent with every file of the page: scripts,
// styles and connections to the page's own origin only, no inline script,
// no plugins, no framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type file struct {
	data        []byte
	contentType string
	etag        string
}

// files maps the request paths the page is served under to its files.
var files = map[string]file{
	"/chat":          load("index.html", "text/html; charset=utf-8"),
	"/chat/chat.js":  load("chat.js", "text/javascript; charset=utf-8"),
	"/chat/chat.css": load("chat.css", "text/css; charset=utf-8"),
	// Browsers ask the site's root for its icon whatever the page says.
	"/favicon.ico": load("favicon.ico", "image/x-icon"),
}

func load(name, contentType string) file {
	data, err := static.ReadFile(path.Join("static", name))
	if err != nil {
		panic("web: embedded file missing: " + name) // a build mistake, caught by every test
	}
	sum := sha256.Sum256(data)
	return file{data: data, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// Paths lists the request paths Handler serves.
func Paths() []string {
	return []string{"/chat", "/chat/chat.js", "/chat/chat.css", "/favicon.ico"}
}

// Handler serves the chat page, its two assets and its icon for GET and
// HEAD, and 404 for any other path. The page is public: the API calls it makes are
// what the gateway authenticates. Browsers revalidate every load (ETag),
// so a new binary's page is seen at once.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
	})
}
