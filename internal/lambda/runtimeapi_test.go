package lambda

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runtimeAPI is a Lambda Runtime API stub: it hands out the events a test
// queues and records each streaming response as its bytes arrive, so a
// test can tell when each event reached the Runtime API.
type runtimeAPI struct {
	addr    string
	pending chan queued
	ids     atomic.Int64

	mu        sync.Mutex
	responses map[string]*response
}

type queued struct {
	id    string
	event []byte
}

// response is what the stub received for one invocation.
type response struct {
	id string
	// hangUpAt, when set, makes the stub close the connection as soon as
	// the body holds it, as the Runtime API does when the viewer leaves.
	hangUpAt string

	mu       sync.Mutex
	header   http.Header // the POST's request headers
	chunked  bool
	path     string
	body     []byte
	arrivals []arrival
	changed  chan struct{}
	done     chan struct{}
	trailer  http.Header
	hungUp   time.Time
	errBody  []byte // what an /error POST carried
}

// arrival is one read of the response body: when, and how many body bytes
// had arrived by then.
type arrival struct {
	at    time.Time
	total int
}

func newRuntimeAPI(t *testing.T) *runtimeAPI {
	t.Helper()
	a := &runtimeAPI{pending: make(chan queued, 8), responses: map[string]*response{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", a.serveNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", a.serveResponse)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", a.serveError)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a.addr = srv.Listener.Addr().String()
	return a
}

// invoke queues event and returns the response it will get.
func (a *runtimeAPI) invoke(event []byte, hangUpAt string) *response {
	id := "req-" + strconv.FormatInt(a.ids.Add(1), 10)
	r := &response{id: id, hangUpAt: hangUpAt, changed: make(chan struct{}, 1), done: make(chan struct{})}
	a.mu.Lock()
	a.responses[id] = r
	a.mu.Unlock()
	a.pending <- queued{id: id, event: event}
	return r
}

func (a *runtimeAPI) lookup(id string) *response {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.responses[id]
}

func (a *runtimeAPI) serveNext(w http.ResponseWriter, r *http.Request) {
	select {
	case q := <-a.pending:
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", q.id)
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(15*time.Minute).UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:agentgate")
		_, _ = w.Write(q.event)
	case <-r.Context().Done():
	}
}

func (a *runtimeAPI) serveResponse(w http.ResponseWriter, r *http.Request) {
	resp := a.lookup(r.PathValue("id"))
	if resp == nil {
		http.Error(w, "unknown invocation", http.StatusBadRequest)
		return
	}
	resp.mu.Lock()
	resp.header, resp.path = r.Header.Clone(), r.URL.Path
	resp.chunked = slices.Equal(r.TransferEncoding, []string{"chunked"})
	resp.mu.Unlock()
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Body.Read(buf)
		if n > 0 && resp.add(buf[:n]) {
			conn, _, herr := http.NewResponseController(w).Hijack()
			if herr == nil {
				conn.Close()
			}
			resp.end(nil, true)
			return
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			resp.end(nil, false)
			return
		}
	}
	resp.end(r.Trailer.Clone(), false)
	w.WriteHeader(http.StatusAccepted)
}

func (a *runtimeAPI) serveError(w http.ResponseWriter, r *http.Request) {
	resp := a.lookup(r.PathValue("id"))
	if resp == nil {
		http.Error(w, "unknown invocation", http.StatusBadRequest)
		return
	}
	b, _ := io.ReadAll(r.Body)
	resp.mu.Lock()
	resp.header, resp.path, resp.errBody = r.Header.Clone(), r.URL.Path, b
	resp.mu.Unlock()
	resp.end(nil, false)
	w.WriteHeader(http.StatusAccepted)
}

// add records p and reports whether the stub should now hang up.
func (r *response) add(p []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.body = append(r.body, p...)
	r.arrivals = append(r.arrivals, arrival{at: time.Now(), total: len(r.body)})
	select {
	case r.changed <- struct{}{}:
	default:
	}
	return r.hangUpAt != "" && bytes.Contains(r.body, []byte(r.hangUpAt))
}

func (r *response) end(trailer http.Header, hungUp bool) {
	r.mu.Lock()
	r.trailer = trailer
	if hungUp {
		r.hungUp = time.Now()
	}
	r.mu.Unlock()
	close(r.done)
}

// waitFor waits, a few seconds at most, until the bytes after offset from
// hold want; it returns the offset after want and when its last byte
// arrived.
func (r *response) waitFor(t *testing.T, want string, from int) (int, time.Time) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		i := bytes.Index(r.body[min(from, len(r.body)):], []byte(want))
		if i >= 0 {
			end := from + i + len(want)
			var at time.Time
			for _, a := range r.arrivals {
				if a.total >= end {
					at = a.at
					break
				}
			}
			r.mu.Unlock()
			return end, at
		}
		got := string(r.body)
		r.mu.Unlock()
		select {
		case <-r.changed:
		case <-r.done:
			r.mu.Lock()
			got := string(r.body)
			r.mu.Unlock()
			if !bytes.Contains([]byte(got[min(from, len(got)):]), []byte(want)) {
				t.Fatalf("the response ended without %q; got %q", want, got)
			}
		case <-timeout:
			t.Fatalf("%q did not reach the Runtime API in time (buffered?); got so far %q", want, got)
		}
	}
}

// prelude is the http-integration-response prelude.
type prelude struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Cookies    []string          `json:"cookies"`
}

var nuls = string(make([]byte, 8))

// prelude waits for the prelude and its 8 NUL bytes and returns them with
// the offset where the body starts.
func (r *response) prelude(t *testing.T) (prelude, int) {
	t.Helper()
	end, _ := r.waitFor(t, nuls, 0)
	r.mu.Lock()
	raw := bytes.Clone(r.body[:end-len(nuls)])
	r.mu.Unlock()
	var p prelude
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("the prelude %q is not JSON: %v", raw, err)
	}
	return p, end
}

// wait waits for the response to end and returns its body after the
// prelude and its trailers.
func (r *response) wait(t *testing.T) (body []byte, trailer http.Header) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.mu.Lock()
		defer r.mu.Unlock()
		t.Fatalf("the response did not end; got so far %q", r.body)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := bytes.Index(r.body, []byte(nuls)); i >= 0 {
		return bytes.Clone(r.body[i+len(nuls):]), r.trailer
	}
	return bytes.Clone(r.body), r.trailer
}

// functionURLEvent is a function URL event (payload format 2.0) for
// method path with a JSON body, as AWS sends it.
func functionURLEvent(method, target, body string) []byte {
	path, query, _ := strings.Cut(target, "?")
	ev := map[string]any{
		"version":        "2.0",
		"routeKey":       "$default",
		"rawPath":        path,
		"rawQueryString": query,
		"headers": map[string]string{
			"content-type":    "application/json",
			"accept-encoding": "gzip, deflate, br",
			"host":            "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
			"x-forwarded-for": "203.0.113.7",
		},
		"requestContext": map[string]any{
			"accountId":    "anonymous",
			"apiId":        "abcdefghijklmnop",
			"domainName":   "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
			"domainPrefix": "abcdefghijklmnop",
			"requestId":    "b1f8a6b4-6d1f-4a8e-9a3e-3f2f1c2d4e5f",
			"routeKey":     "$default",
			"stage":        "$default",
			"time":         time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700"),
			"timeEpoch":    time.Now().UnixMilli(),
			"http": map[string]string{
				"method":    method,
				"path":      path,
				"protocol":  "HTTP/1.1",
				"sourceIp":  "203.0.113.7",
				"userAgent": "curl/8.5.0",
			},
		},
		"body":            body,
		"isBase64Encoded": false,
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(fmt.Sprint("functionURLEvent: ", err))
	}
	return b
}
