package stack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/testenv"
)

// The corpus's request bounds (server.readHeaderTimeout and
// server.readTimeout), shorter than the defaults so that slow clients
// wait them out sooner.
const (
	readHeaderTimeout = 3 * time.Second
	readTimeout       = 5 * time.Second
)

// rawRequest is a request written byte for byte to a fresh connection,
// where an HTTP client would have sanitised it.
type rawRequest struct {
	// head is written first, as is.
	head string
	// body, when set, is written after head until it ends or the exchange
	// is over (done is closed); it may never end.
	body func(done <-chan struct{}) io.Reader
}

// answer is what came back on the connection.
type answer struct {
	// resp is nil when the server closed the connection without answering.
	resp *http.Response
	body []byte
	// took is from the first byte written to the answer's head, or to the
	// close of a connection that got no answer.
	took time.Duration
	// closed is set when the server closed the connection.
	closed bool
}

func rawPost(path, body string, header ...string) rawRequest {
	return rawRequest{head: requestHead("POST", path, len(body), header...), body: fixed(body)}
}

func rawGet(target string, header ...string) rawRequest {
	return rawRequest{head: requestHead("GET", target, -1, header...)}
}

// requestHead writes a request line and headers; contentLength < 0 sends
// no Content-Length. Each header goes on the wire exactly as given.
func requestHead(method, target string, contentLength int, header ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: agentgate.test\r\n", method, target)
	if contentLength >= 0 {
		fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", contentLength)
	}
	for _, h := range header {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func fixed(s string) func(<-chan struct{}) io.Reader {
	return func(<-chan struct{}) io.Reader { return strings.NewReader(s) }
}

// stalled sends prefix and then nothing more, holding the request open
// until the exchange is over.
func stalled(prefix string) func(<-chan struct{}) io.Reader {
	return func(done <-chan struct{}) io.Reader {
		return io.MultiReader(strings.NewReader(prefix), blockUntil(done))
	}
}

type blockUntil <-chan struct{}

func (b blockUntil) Read([]byte) (int, error) {
	<-b
	return 0, io.EOF
}

// endlessChunks is a chunked body that never ends: 16 KiB chunks as fast as
// the connection takes them.
func endlessChunks(done <-chan struct{}) io.Reader {
	chunk := []byte(fmt.Sprintf("4000\r\n%s\r\n", bytes.Repeat([]byte("a"), 16<<10)))
	off := 0
	return readerFunc(func(p []byte) (int, error) {
		select {
		case <-done:
			return 0, io.EOF
		default:
		}
		n := copy(p, chunk[off:])
		off = (off + n) % len(chunk)
		return n, nil
	})
}

// paced sends s one byte per every: the slow client of a Slowloris attack.
func paced(s string, every time.Duration) func(<-chan struct{}) io.Reader {
	return func(done <-chan struct{}) io.Reader {
		r := strings.NewReader(s)
		return readerFunc(func(p []byte) (int, error) {
			select {
			case <-done:
				return 0, io.EOF
			case <-time.After(every):
			}
			return r.Read(p[:1])
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// exchange sends req on a fresh connection to addr while it reads the
// answer, and fails the test when no answer (nor close) comes within the
// bound: the server must never hang on hostile input.
func exchange(t *testing.T, addr string, req rawRequest, within time.Duration) answer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	wrote := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(wrote)
		// A write fails once the server has answered and hung up; that
		// is the server's right, so the error is not the test's concern.
		if _, err := io.WriteString(conn, req.head); err == nil && req.body != nil {
			_, _ = io.Copy(conn, req.body(done))
		}
	}()
	defer func() {
		close(done)
		conn.Close()
		<-wrote
	}()

	_ = conn.SetReadDeadline(start.Add(within))
	br := bufio.NewReader(conn)
	var a answer
	resp, err := http.ReadResponse(br, nil)
	a.took = time.Since(start)
	if err != nil {
		if isTimeout(err) {
			t.Fatalf("no answer and no close within %v: the server hangs", within)
		}
		a.closed = true
		return a
	}
	a.resp = resp
	if a.body, err = io.ReadAll(resp.Body); err != nil {
		if errors.Is(err, syscall.ECONNRESET) && resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 {
			// net/http's own refusals end at the close, and it closes
			// with our request unread, which resets the connection.
			a.closed = true
			return a
		}
		t.Fatalf("reading the %d answer's body: %v (got %q)", resp.StatusCode, err, a.body)
	}
	if resp.Close {
		// The server said it would hang up: prove it does, at once, so a
		// client still sending cannot keep the connection.
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := br.ReadByte(); isTimeout(err) {
			t.Fatalf("the server answered %d with Connection: close but kept the connection open", resp.StatusCode)
		}
		a.closed = true
	}
	return a
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// payloadLog records the payloads that reached the agent.
type payloadLog struct {
	mu       sync.Mutex
	payloads [][]byte
}

func (p *payloadLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/invocations" {
			b, _ := io.ReadAll(r.Body)
			p.mu.Lock()
			p.payloads = append(p.payloads, b)
			p.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		next.ServeHTTP(w, r)
	})
}

func (p *payloadLog) last() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.payloads) == 0 {
		return nil
	}
	return p.payloads[len(p.payloads)-1]
}

// reportLog records the emulator's invocation reports.
type reportLog struct {
	mu      sync.Mutex
	reports []agentcorelocal.InvocationReport
}

func (rl *reportLog) add(r agentcorelocal.InvocationReport) {
	rl.mu.Lock()
	rl.reports = append(rl.reports, r)
	rl.mu.Unlock()
}

func (rl *reportLog) all() []agentcorelocal.InvocationReport {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return append([]agentcorelocal.InvocationReport(nil), rl.reports...)
}

type hostileCase struct {
	name string
	req  rawRequest
	// status is the answer wanted. With byServer set it is net/http's own
	// answer, which precedes the gateway (0: a close without an answer);
	// otherwise it is the gateway's, and a 4xx carries the JSON error code,
	// in OpenAI's error shape when openAI is set.
	status   int
	code     string
	byServer bool
	openAI   bool
	// within bounds the wait for the answer; 0 means 5 s.
	within time.Duration
	// slow marks a client that waits out a server timeout: it may take
	// readHeaderTimeout and a margin.
	slow bool
	// check, when set, looks further at the answer.
	check func(t *testing.T, a answer)
	// bug, when set, names a reported gateway bug this case reveals.
	regression string
}

// TestHostileInputGetsAClearAnswer sends a corpus of hostile requests over
// raw connections. Each must get a clear answer in bounded time, never a
// 5xx: the gateway's own 4xx with a JSON error and a request id, or
// net/http's answer where the HTTP server refuses the request before the
// gateway sees it. Afterwards the gateway still serves.
func TestHostileInputGetsAClearAnswer(t *testing.T) {
	testenv.Slow(t)
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Server.ReadHeaderTimeout, cfg.Server.ReadTimeout = readHeaderTimeout, readTimeout
	agent := &payloadLog{}
	reports := &reportLog{}
	l := startWithConfig(t, cfg, LocalOptions{WrapAgent: agent.wrap, OnInvocation: reports.add})
	addr := strings.TrimPrefix(l.URL, "http://")
	limit := int(cfg.Limits.MaxBodyBytes)
	// A session id shaped like the gateway's, so only the CR/LF is wrong.
	sid := strings.Repeat("a", 40)

	tests := []hostileCase{
		{name: "a JSON body one byte over limits.maxBodyBytes is refused with 413",
			req:    rawPost("/", `{"prompt":"`+strings.Repeat("a", limit-len(`{"prompt":""}`)+1)+`"}`),
			status: 413, code: "body_too_large"},
		{name: "a 10 MB body is refused with 413 while most of it is still unsent",
			req: rawRequest{
				head: requestHead("POST", "/", 10<<20),
				body: stalled(`{"prompt":"` + strings.Repeat("a", 2<<20)),
			},
			status: 413, code: "body_too_large", within: 2 * time.Second},
		{name: "a 10 MB body sent at full speed is refused with 413 promptly",
			req:    rawPost("/", `{"prompt":"`+strings.Repeat("a", 10<<20)+`"}`),
			status: 413, code: "body_too_large", within: 3 * time.Second},
		{name: "an endless chunked body is refused with 413 and the connection closed",
			req: rawRequest{
				head: "POST / HTTP/1.1\r\nHost: agentgate.test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
				body: endlessChunks,
			},
			status: 413, code: "body_too_large", within: 3 * time.Second,
			check: func(t *testing.T, a answer) {
				if !a.closed {
					t.Fatal("the connection stayed open for more of the endless body")
				}
			}},
		{name: "a prompt over limits.maxPromptChars is refused with 413",
			req:    rawPost("/", `{"prompt":"`+strings.Repeat("a", cfg.Limits.MaxPromptChars+1)+`"}`),
			status: 413, code: "prompt_too_long"},
		{name: "an unterminated JSON object is 400",
			req:    rawPost("/", `{"prompt":"hi"`),
			status: 400, code: "invalid_request"},
		{name: "JSON followed by garbage is 400",
			req:    rawPost("/", `{"prompt":"hi"}garbage`),
			status: 400, code: "invalid_request"},
		{name: "two JSON objects in one body are 400",
			req:    rawPost("/", `{"prompt":"hi"} {"prompt":"again"}`),
			status: 400, code: "invalid_request"},
		{name: "invalid UTF-8 in the prompt is 400",
			req:    rawPost("/", "{\"prompt\":\"hi \xff\xfe there\"}"),
			status: 400, code: "invalid_request"},
		{name: "a raw NUL byte in the prompt is 400, as JSON forbids control characters in strings",
			req:    rawPost("/", "{\"prompt\":\"a\x00b\"}"),
			status: 400, code: "invalid_request"},
		{name: "an escaped NUL in the prompt is accepted as text and reaches the agent as is",
			req:    rawPost("/", `{"prompt":"a\u0000b","response":"transformed"}`),
			status: 200,
			check: func(t *testing.T, a answer) {
				if got := agentPrompt(t, agent.last()); got != "a\x00b" {
					t.Fatalf("the agent got the prompt %q, want %q", got, "a\x00b")
				}
			}},
		{name: "CR/LF in the body's runtimeSessionId is 400",
			req:    rawPost("/", `{"prompt":"hi","runtimeSessionId":"`+sid+`\r\nX-Injected: 1"}`),
			status: 400, code: "invalid_request"},
		{name: "CR/LF in the X-Agentgate-Session-Id header ends the header there and the id is 400",
			req:    rawPost("/", `{"prompt":"hi"}`, "X-Agentgate-Session-Id: "+sid+"\r\nX-Injected: 1"),
			status: 400, code: "invalid_request"},
		{name: "a bare CR in the X-Agentgate-Session-Id header is refused by the HTTP server with 400",
			req:    rawPost("/", `{"prompt":"hi"}`, "X-Agentgate-Session-Id: "+sid+"\rX-Injected: 1"),
			status: 400, byServer: true},
		{name: "a folded X-Agentgate-Session-Id header is refused by the HTTP server with 400",
			req:    rawPost("/", `{"prompt":"hi"}`, "X-Agentgate-Session-Id: "+sid, " X-Injected: 1"),
			status: 400, byServer: true},
		{name: "dot segments in the path are refused, not redirected",
			req:    rawPost("/agents/../x/invocations", `{"prompt":"hi"}`),
			status: 404, code: "not_found",
			// Regression (was a bug): http.ServeMux answers a path with dot segments
			// with a 307 redirect to the cleaned path, outside writeError.
			regression: "gateway/routes.go routes: ServeMux redirects /agents/../x/invocations with 307 and no JSON body"},
		{name: "percent-encoded dot segments as an agent name are 404",
			req:    rawPost("/agents/%2e%2e/invocations", `{"prompt":"hi"}`),
			status: 404, code: "agent_not_found"},
		{name: "an encoded slash in an agent name is 404",
			req:    rawPost("/agents/..%2fdemo/invocations", `{"prompt":"hi"}`),
			status: 404, code: "agent_not_found"},
		{name: "an encoded NUL in an agent name is 404",
			req:    rawPost("/agents/demo%00/invocations", `{"prompt":"hi"}`),
			status: 404, code: "agent_not_found"},
		{name: "an agent name of two path segments is 404, not 405",
			req:    rawPost("/agents/x/demo/invocations", `{"prompt":"hi"}`),
			status: 404, code: "not_found",
			// Regression (was a bug): handleNoRoute takes any path under /agents/ that
			// ends in /invocations for the invoke route and answers a POST
			// to it "405: use POST".
			regression: "gateway/routes.go handleNoRoute: POST /agents/x/demo/invocations answers 405 method_not_allowed with Allow: POST"},
		{name: "a 300-character agent name is 404 and not echoed back",
			req:    rawPost("/agents/"+strings.Repeat("n", 300)+"/invocations", `{"prompt":"hi"}`),
			status: 404, code: "agent_not_found",
			check: func(t *testing.T, a answer) {
				if bytes.Contains(a.body, []byte(strings.Repeat("n", 64))) {
					t.Fatalf("the answer echoes the name: %s", a.body)
				}
			}},
		{name: "JSON nested 100k arrays deep is 400",
			req:    rawPost("/", `{"prompt":"hi","x":`+strings.Repeat("[", 100_000)+strings.Repeat("]", 100_000)+`}`),
			status: 400, code: "invalid_request"},
		{name: "100k unclosed brackets are 400",
			req:    rawPost("/", strings.Repeat("[", 100_000)),
			status: 400, code: "invalid_request"},
		{name: "duplicate prompt keys: the last one wins and it is the only one the agent sees",
			req:    rawPost("/", `{"prompt":"first","prompt":"second","response":"transformed","response":"original","response":"transformed"}`),
			status: 200,
			check: func(t *testing.T, a answer) {
				p := agent.last()
				if got := agentPrompt(t, p); got != "second" || bytes.Count(p, []byte(`"prompt"`)) != 1 {
					t.Fatalf("the agent got %s, want exactly one prompt, \"second\"", p)
				}
			}},
		{name: "a numeric prompt is 400",
			req:    rawPost("/", `{"prompt":42}`),
			status: 400, code: "invalid_request"},
		{name: "an array prompt is 400",
			req:    rawPost("/", `{"prompt":["hi"]}`),
			status: 400, code: "invalid_request"},
		{name: "an object prompt is 400",
			req:    rawPost("/", `{"prompt":{"text":"hi"}}`),
			status: 400, code: "invalid_request"},
		{name: "a null prompt is 400",
			req:    rawPost("/", `{"prompt":null}`),
			status: 400, code: "invalid_request"},
		{name: "a runtimeSessionId that is not a string is 400",
			req:    rawPost("/", `{"prompt":"hi","runtimeSessionId":{"$ne":""}}`),
			status: 400, code: "invalid_request"},
		{name: "an extra field full of characters JSON may escape does not push the payload over the agent's limit",
			req:    rawPost("/", `{"prompt":"hi","response":"transformed","note":"`+strings.Repeat("<", limit/2)+`"}`),
			status: 200,
			// Regression (was a bug): the payload is re-encoded with json.Marshal,
			// which writes each of <, > and & as a 6-byte \u escape.
			regression: "gateway/request.go decodeInvocation: json.Marshal HTML-escapes the forwarded payload, inflating it up to 6x past limits.maxBodyBytes; the agent refuses it and the client gets 502 agent_failed"},
		{name: "a 10 MB chat completion request is refused with 413 while most of it is still unsent",
			req: rawRequest{
				head: requestHead("POST", "/v1/chat/completions", 10<<20),
				body: stalled(`{"model":"demo","messages":[{"role":"user","content":"` + strings.Repeat("a", 2<<20)),
			},
			status: 413, code: "body_too_large", openAI: true, within: 2 * time.Second},
		{name: "a chat completion request nested 100k arrays deep is 400",
			req:    rawPost("/v1/chat/completions", `{"model":"demo","messages":[{"role":"user","content":`+strings.Repeat("[", 100_000)+strings.Repeat("]", 100_000)+`}]}`),
			status: 400, code: "invalid_request", openAI: true},
		{name: "a chat message whose content is a number is 400",
			req:    rawPost("/v1/chat/completions", `{"model":"demo","messages":[{"role":"user","content":42}]}`),
			status: 400, code: "invalid_request", openAI: true},
		{name: "a chat completion for a 300-character model is 404 and not echoed back",
			req:    rawPost("/v1/chat/completions", `{"model":"`+strings.Repeat("n", 300)+`","messages":[{"role":"user","content":"hi"}]}`),
			status: 404, code: "model_not_found", openAI: true,
			check: func(t *testing.T, a answer) {
				if bytes.Contains(a.body, []byte(strings.Repeat("n", 64))) {
					t.Fatalf("the answer echoes the model: %s", a.body)
				}
			}},
		{name: "CR/LF in the X-Agentgate-Session-Id header of a chat completion request is 400",
			req:    rawPost("/v1/chat/completions", `{"model":"demo","messages":[{"role":"user","content":"hi"}]}`, "X-Agentgate-Session-Id: "+sid+"\r\nX-Injected: 1"),
			status: 400, code: "invalid_request", openAI: true},
		{name: "a GET with a 10 KB query and no prompt is 400",
			req:    rawGet("/?" + strings.Repeat("q=1&", 2560)),
			status: 400, code: "invalid_request"},
		{name: "a GET with a 10 KB prompt in its query streams the answer",
			req:    rawGet("/?response=transformed&prompt=" + strings.Repeat("word+", 2048)),
			status: 200},
		{name: "a GET whose query has invalid percent escapes is 400",
			req:    rawGet("/?prompt=%zz%"),
			status: 400, code: "invalid_request"},
		{name: "a 100 KB request line is refused with the gateway's 431",
			req:    rawGet("/?prompt=" + strings.Repeat("a", 100<<10)),
			status: 431, code: "headers_too_large",
			// Regression (was a bug): net/http refused it in plain text, without a
			// request id.
			regression: "stack.NewHTTPServer: MaxHeaderBytes refuses big headers with net/http's plain-text 431"},
		{name: "70 KB of headers are refused with the gateway's 431",
			req:    rawGet("/?prompt=hi", "X-Pad: "+strings.Repeat("a", 70<<10)),
			status: 431, code: "headers_too_large"},
		{name: "a request with both Content-Length and Transfer-Encoding is answered and its connection closed",
			req: rawRequest{
				head: "POST / HTTP/1.1\r\nHost: agentgate.test\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
				body: fixed("28\r\n{\"prompt\":\"hi\",\"response\":\"transformed\"}\r\n0\r\n\r\n"),
			},
			status: 200,
			check: func(t *testing.T, a answer) {
				if !a.closed {
					t.Fatal("the connection stayed open after a request that declared two body lengths (RFC 9112 §6.1)")
				}
			}},
		{name: "a 300 KB request line, far past server.maxHeaderBytes, is refused by the HTTP server with 431",
			req:    rawGet("/?prompt=" + strings.Repeat("a", 300<<10)),
			status: 431, byServer: true},
		{name: "headers sent one byte per 100 ms are cut off by server.readHeaderTimeout",
			req: rawRequest{body: paced("POST / HTTP/1.1\r\nHost: agentgate.test\r\nX-Pad: "+strings.Repeat("a", 1000), 100*time.Millisecond)},
			// net/http hangs up on a header timeout without answering.
			status: 0, byServer: true, slow: true},
		{name: "a body sent one byte per 100 ms is cut off by server.readTimeout",
			req: rawRequest{
				head: requestHead("POST", "/", 1000),
				body: paced(`{"prompt":"`+strings.Repeat("a", 1000-len(`{"prompt":"`)), 100*time.Millisecond),
			},
			status: 408, code: "request_timeout", slow: true,
			// Regression (was a bug): no deadline covers the request body: the server
			// has no ReadTimeout (streams need none) and the gateway sets
			// none while it reads the body.
			regression: "gateway/request.go decodeInvocation: io.ReadAll of the body has no deadline; a client trickling its body holds a connection and a goroutine forever"},
	}

	t.Run("the corpus", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				within := 5 * time.Second
				switch {
				case tt.slow:
					// A slow client waits out a server timeout: seconds
					// of waiting, not of work, so the slow ones overlap.
					within = readTimeout + 2*time.Second
					t.Parallel()
				case tt.within > 0:
					within = tt.within
				}
				a := exchange(t, addr, tt.req, within)
				checkAnswer(t, l, tt, a)
				if tt.check != nil {
					tt.check(t, a)
				}
			})
		}
	})

	t.Run("after the corpus a normal request still succeeds", func(t *testing.T) {
		resp, b := do(t, "POST", l.URL+"/", `{"prompt":"still there?","response":"transformed"}`)
		if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"runtimeSessionId"`)) {
			t.Fatalf("status %d %q", resp.StatusCode, b)
		}
	})
	t.Run("no session id with CR or LF reached the upstream", func(t *testing.T) {
		for _, r := range reports.all() {
			if strings.ContainsAny(r.SessionID, "\r\n") || strings.Contains(r.SessionID, "Injected") {
				t.Fatalf("the emulator was invoked with session id %q", r.SessionID)
			}
		}
	})
}

// checkAnswer holds every answer to the same standard: bounded (exchange
// saw to that), never a 5xx, and from the gateway a JSON error that names
// its request id.
func checkAnswer(t *testing.T, l *Local, tt hostileCase, a answer) {
	t.Helper()
	t.Logf("answered in %v", a.took.Round(time.Millisecond))
	if a.resp == nil {
		if tt.byServer && tt.status == 0 {
			return
		}
		t.Fatalf("the server closed the connection without an answer, want %d", tt.status)
	}
	got := a.resp.StatusCode
	if got >= 500 {
		t.Fatalf("status %d for hostile input: %s", got, a.body)
	}
	if got != tt.status {
		t.Fatalf("status %d, want %d; body %q", got, tt.status, a.body)
	}
	if tt.byServer {
		return
	}
	assertNoLeak(t, l, a.resp, a.body)
	if got == http.StatusOK {
		if !bytes.Contains(a.body, []byte(`"runtimeSessionId"`)) {
			t.Fatalf("the stream did not complete: %q", a.body)
		}
		return
	}
	if ct := a.resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json; body %q", ct, a.body)
	}
	var e struct {
		Error struct{ Code, Message, RequestID, Type string }
	}
	if err := json.Unmarshal(a.body, &e); err != nil {
		t.Fatalf("the body is not a JSON error: %q", a.body)
	}
	if e.Error.Code != tt.code || e.Error.Message == "" {
		t.Fatalf("error %+v, want code %q and a message", e.Error, tt.code)
	}
	id := a.resp.Header.Get("X-Request-Id")
	switch {
	case id == "":
		t.Fatal("no X-Request-Id header")
	case tt.openAI:
		// OpenAI's error shape has no request id field: the message names it.
		if e.Error.Type == "" || !strings.Contains(e.Error.Message, id) {
			t.Fatalf("OpenAI error %+v does not name request id %q or has no type", e.Error, id)
		}
	case e.Error.RequestID != id:
		t.Fatalf("request id %q in the body, %q in the header", e.Error.RequestID, id)
	}
}

// agentPrompt returns the prompt of a payload the agent received.
func agentPrompt(t *testing.T, payload []byte) string {
	t.Helper()
	var p struct{ Prompt string }
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatalf("the agent got a payload that is not JSON: %q", payload)
	}
	return p.Prompt
}
