package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/session"
	"github.com/agentgate/agentgate/internal/sse"
	"github.com/agentgate/agentgate/internal/upstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipeInvoker answers every invocation with a stream the test writes.
type pipeInvoker struct {
	err   error
	calls chan call
}

type call struct {
	ctx context.Context
	req upstream.Request
	w   *io.PipeWriter
}

func (p *pipeInvoker) Invoke(ctx context.Context, req upstream.Request) (*upstream.Response, error) {
	if p.err != nil {
		return nil, p.err
	}
	r, w := io.Pipe()
	p.calls <- call{ctx, req, w}
	return &upstream.Response{Body: r, SessionID: req.SessionID, ContentType: "text/event-stream"}, nil
}

func (p *pipeInvoker) StopSession(context.Context, string) error { return nil }

// newTestServer serves a gateway in front of inv as the agent "demo", open
// to everyone, with small SSE bounds; edit, when given, changes its options.
func newTestServer(t *testing.T, inv upstream.Invoker, edit ...func(*Options)) *httptest.Server {
	srv, _ := newTestGateway(t, inv, edit...)
	return srv
}

// newTestGateway is newTestServer, also returning the gateway.
func newTestGateway(t *testing.T, inv upstream.Invoker, edit ...func(*Options)) (*httptest.Server, *Server) {
	t.Helper()
	issuer, err := session.NewIssuer(session.RandomKey())
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Agents:       map[string]upstream.Invoker{"demo": inv},
		DefaultAgent: "demo",
		Sessions:     issuer,
		Auth:         auth.None{},
		SSE:          sse.Options{MaxLineBytes: 1024, MaxEventBytes: 4096},
	}
	for _, e := range edit {
		e(&opts)
	}
	gw, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv, gw
}

const (
	textEvent = "data: {\"event\":{\"contentBlockDelta\":{\"delta\":{\"text\":\"Hello\"},\"contentBlockIndex\":0}}}\n\n"
	agentErr  = "data: {\"error\":\"boom at arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/x\",\"error_type\":\"ValueError\"}\n\n"
)

func TestMidStreamFailuresEndWithOneTerminalError(t *testing.T) {
	tests := []struct {
		name     string
		upstream func(w *io.PipeWriter)
		code     string
	}{
		{"an upstream that breaks mid-stream", func(w *io.PipeWriter) {
			w.Write([]byte(textEvent))
			w.CloseWithError(errors.New("connection reset by arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/x"))
		}, "upstream_stream_broken"},
		{"an upstream line past the limit", func(w *io.PipeWriter) {
			w.Write([]byte(textEvent))
			w.Write([]byte("data: " + strings.Repeat("x", 2000) + "\n\n"))
			w.Close()
		}, "upstream_event_too_large"},
		{"the agent's own error event", func(w *io.PipeWriter) {
			w.Write([]byte(textEvent + agentErr))
			w.Close()
		}, "agent_error"},
	}
	for _, tt := range tests {
		for _, mode := range []string{"original", "transformed"} {
			t.Run(tt.name+" ends a "+mode+" stream with one "+tt.code, func(t *testing.T) {
				inv := &pipeInvoker{calls: make(chan call, 1)}
				srv := newTestServer(t, inv)
				go func() {
					c := <-inv.calls
					tt.upstream(c.w)
				}()
				resp, err := http.Post(srv.URL+"/", "application/json", strings.NewReader(`{"prompt":"hi","response":"`+mode+`"}`))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if n := bytes.Count(body, []byte(tt.code)); n != 1 {
					t.Fatalf("%d terminal errors %q in %q, want exactly one", n, tt.code, body)
				}
				if bytes.Contains(body, []byte("----------")) {
					t.Fatalf("a failed stream reads as complete: %q", body)
				}
				rid := resp.Header.Get(RequestIDHeader)
				if bytes.Contains(body, []byte("arn:")) {
					t.Fatalf("the upstream's words reached the client: %q", body)
				}
				switch mode {
				case "original":
					if !bytes.HasPrefix(body, []byte(textEvent)) {
						t.Fatalf("the events before the failure were not passed through: %q", body)
					}
					rd := sse.NewReader(bytes.NewReader(body), sse.Options{})
					var last sse.Event
					for {
						ev, err := rd.Next()
						if err != nil {
							break
						}
						if ev.HasData {
							last = ev
							last.Data = bytes.Clone(ev.Data)
						}
					}
					var e struct {
						Error struct{ Code, Message, RequestID string }
					}
					if last.Type != "error" || json.Unmarshal(last.Data, &e) != nil || e.Error.Code != tt.code || e.Error.RequestID != rid {
						t.Fatalf("last event %q %s is not the terminal error %s with request id %s", last.Type, last.Data, tt.code, rid)
					}
				case "transformed":
					want := "Hello\n[error] "
					if !bytes.HasPrefix(body, []byte(want)) || !bytes.HasSuffix(body, []byte("request id "+rid+")\n")) {
						t.Fatalf("body %q: want the text, then one [error] line ending with the request id", body)
					}
				}
			})
		}
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	inv := &pipeInvoker{calls: make(chan call, 1)}
	srv := newTestServer(t, inv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/", strings.NewReader(`{"prompt":"hi"}`))
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	c := <-inv.calls
	c.w.Write([]byte(textEvent))
	cancel()
	select {
	case <-c.ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream call was not cancelled after the client went away")
	}
	c.w.Close()
	<-done
}

func TestUpstreamFailuresBeforeTheStream(t *testing.T) {
	leak := errors.New("AccessDenied for arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/x")
	tests := []struct {
		kind       upstream.Kind
		status     int
		retryAfter string
	}{
		{upstream.KindValidation, 400, ""},
		{upstream.KindAccessDenied, 502, ""},
		{upstream.KindNotFound, 404, ""},
		{upstream.KindThrottled, 429, "1"},
		{upstream.KindQuotaExceeded, 429, "30"},
		{upstream.KindAgentFailed, 502, ""},
		{upstream.KindInternal, 502, ""},
		{upstream.KindUnavailable, 503, "1"},
		{upstream.KindConflict, 503, "1"},
		{upstream.KindTimeout, 504, ""},
		{upstream.KindConnection, 502, ""},
	}
	for _, tt := range tests {
		t.Run("an upstream "+tt.kind.String()+" answers "+http.StatusText(tt.status), func(t *testing.T) {
			srv := newTestServer(t, &pipeInvoker{err: &upstream.Error{Kind: tt.kind, Err: leak}})
			resp, err := http.Post(srv.URL+"/", "application/json", strings.NewReader(`{"prompt":"hi"}`))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || resp.Header.Get("Retry-After") != tt.retryAfter {
				t.Fatalf("status %d Retry-After %q, want %d %q", resp.StatusCode, resp.Header.Get("Retry-After"), tt.status, tt.retryAfter)
			}
			if bytes.Contains(body, []byte("arn:")) || bytes.Contains(body, []byte("123456789012")) {
				t.Fatalf("the upstream's words reached the client: %s", body)
			}
			if !bytes.Contains(body, []byte(resp.Header.Get(RequestIDHeader))) {
				t.Fatalf("body %s lacks the request id", body)
			}
		})
	}
}

func TestPayloadKeepsExtraFieldsAndDropsGatewayOnes(t *testing.T) {
	inv := &pipeInvoker{calls: make(chan call, 1)}
	srv := newTestServer(t, inv)
	go func() {
		c := <-inv.calls
		var got map[string]any
		json.Unmarshal(c.req.Payload, &got)
		if got["prompt"] != "hi" || got["temperature"] != 0.5 || got["response"] != nil || got["runtimeSessionId"] != nil {
			c.w.CloseWithError(errors.New("bad payload"))
			return
		}
		c.w.Write([]byte(textEvent))
		c.w.Close()
	}()
	resp, err := http.Post(srv.URL+"/agents/demo/invocations", "application/json", strings.NewReader(`{"prompt":"hi","temperature":0.5,"response":"transformed"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !bytes.HasPrefix(body, []byte("Hello\n----------\n")) {
		t.Fatalf("body %q: the agent did not get the payload it should", body)
	}
}

func FuzzInvocationBody(f *testing.F) {
	for _, s := range []string{`{"prompt":"hi"}`, `{"prompt":"hi","response":"transformed"}`, `{"prompt":""}`, `[]`, `{"prompt":"\u0000"}`, "{\"prompt\":\"\xff\"}", `{"prompt":"a","runtimeSessionId":"x\r\ny"}`} {
		f.Add([]byte(s))
	}
	inv := &pipeInvoker{err: &upstream.Error{Kind: upstream.KindInternal, Err: errors.New("x")}}
	issuer, _ := session.NewIssuer(session.RandomKey())
	gw, err := New(Options{Agents: map[string]upstream.Invoker{"demo": inv}, DefaultAgent: "demo", Sessions: issuer, Auth: auth.None{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)))
		// Valid requests reach the failing upstream (502); everything else
		// must be refused as the client's fault, with a JSON error.
		if rec.Code != http.StatusBadGateway && (rec.Code < 400 || rec.Code > 499) {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		var e struct {
			Error struct{ Code, Message, RequestID string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.RequestID == "" {
			t.Fatalf("body %q is not a JSON error", rec.Body.Bytes())
		}
	})
}
