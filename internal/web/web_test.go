package web

import (
	"net/http/httptest"
	"os"
	"regexp"
	"testing"
)

func TestHandlerServesThePageAndRevalidates(t *testing.T) {
	h := Handler()
	tests := []struct {
		name, path, ifNoneMatch string
		status                  int
	}{
		{"the page", "/chat", "", 200},
		{"the script", "/chat/chat.js", "", 200},
		{"the style sheet", "/chat/chat.css", "", 200},
		{"the icon", "/favicon.ico", "", 200},
		{"an unchanged page is not sent again", "/chat", files["/chat"].etag, 304},
		{"a stale copy gets the page", "/chat", `"0000"`, 200},
		{"anything else is not found", "/chat/index.html", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.path, nil)
			if tt.ifNoneMatch != "" {
				req.Header.Set("If-None-Match", tt.ifNoneMatch)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if tt.status == 200 && (rec.Header().Get("Content-Security-Policy") != ContentSecurityPolicy || rec.Body.Len() == 0) {
				t.Fatalf("CSP %q, %d bytes", rec.Header().Get("Content-Security-Policy"), rec.Body.Len())
			}
		})
	}
	for _, p := range Paths() {
		if _, ok := files[p]; !ok {
			t.Errorf("Paths lists %s, which Handler does not serve", p)
		}
	}
	if len(Paths()) != len(files) {
		t.Errorf("Paths lists %d paths, Handler serves %d", len(Paths()), len(files))
	}
}

// TestThePageNeverParsesHTML guards the rule that keeps model output
// inert: the script builds DOM nodes and never hands a string to the HTML
// parser or to eval. The page has no inline script for the CSP to allow.
func TestThePageNeverParsesHTML(t *testing.T) {
	js, err := os.ReadFile("static/chat.js")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|DOMParser|createContextualFragment`).Find(js); m != nil {
		t.Errorf("chat.js uses %s", m)
	}
	page, err := os.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`<script>|<script [^>]*>[^<]|\son[a-z]+=|<style|style=`).Find(page); m != nil {
		t.Errorf("index.html has inline code the CSP would block: %s", m)
	}
}
