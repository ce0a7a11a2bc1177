package lambda

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/gateway"
)

// responseWriter is the http.ResponseWriter a handler gets for one
// invocation. Nothing is buffered: the prelude goes out when the handler
// flushes its headers or first writes, and each Write is one chunk.
type responseWriter struct {
	s       *stream
	header  http.Header
	head    bool // the request was HEAD: no body
	status  int
	started bool // the prelude went out
	body    int64
	failure *format.Failure
	err     error
}

var (
	_ http.Flusher            = (*responseWriter)(nil)
	_ gateway.FailureReporter = (*responseWriter)(nil)
)

func newResponseWriter(s *stream, method string) *responseWriter {
	return &responseWriter{s: s, header: http.Header{}, head: method == http.MethodHead}
}

func (w *responseWriter) Header() http.Header { return w.header }

// WriteHeader records the status; it goes out in the prelude. A function
// URL has no informational responses, so 1xx codes are dropped.
func (w *responseWriter) WriteHeader(code int) {
	if w.started || w.status != 0 || code < 200 {
		return
	}
	w.status = code
}

// Write sends p as one chunk, after the prelude if it has not gone out.
func (w *responseWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if !w.started {
		return w.start(p)
	}
	if err := w.s.chunk(p); err != nil {
		w.err = err
		return 0, err
	}
	w.body += int64(len(p))
	return len(p), nil
}

// FlushError sends the prelude if it has not gone out, so the status and
// headers reach the viewer before the first event. Writes are never held
// back, so there is nothing else to flush.
func (w *responseWriter) FlushError() error {
	if !w.started {
		_, err := w.start(nil)
		return err
	}
	return w.err
}

func (w *responseWriter) Flush() { _ = w.FlushError() }

// ReportFailure notes that the stream failed after it started: the Runtime
// API gets the error trailers when the response ends.
func (w *responseWriter) ReportFailure(f format.Failure) { w.failure = &f }

// start sends the prelude, the 8 NUL bytes and p as one chunk.
func (w *responseWriter) start(p []byte) (int, error) {
	w.started = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	prelude := struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers,omitempty"`
		Cookies    []string          `json:"cookies,omitempty"`
	}{StatusCode: w.status, Headers: make(map[string]string, len(w.header))}
	for k, v := range w.header {
		if k == "Set-Cookie" {
			prelude.Cookies = v
			continue
		}
		prelude.Headers[k] = strings.Join(v, ",")
	}
	b, err := json.Marshal(prelude)
	if err != nil {
		w.err = err
		return 0, err
	}
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	if err := w.s.chunk(b, p); err != nil {
		w.err = err
		return 0, err
	}
	w.body += int64(len(p))
	return len(p), nil
}

// finish ends the response: the prelude if the handler sent nothing, one
// newline if the body would otherwise be empty (an empty streamed body can
// keep CloudFront waiting), then the last chunk, with the error trailers if
// the stream failed.
func (w *responseWriter) finish() error {
	if w.body == 0 && w.err == nil && w.bodyAllowed() {
		_, _ = w.Write([]byte("\n"))
	}
	if !w.started {
		_, _ = w.start(nil)
	}
	if w.failure == nil {
		return w.s.end("", "")
	}
	body, _ := json.Marshal(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}{w.failure.Message, w.failure.Code})
	return w.s.end(trailerSafe(w.failure.Code), base64.StdEncoding.EncodeToString(body))
}

func (w *responseWriter) bodyAllowed() bool {
	s := w.status
	return !w.head && s != http.StatusNoContent && s != http.StatusNotModified
}

// trailerSafe keeps an error type to the characters of a token, so it can
// never break the trailer section.
func trailerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '.' || r == '-' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return -1
	}, s)
}
