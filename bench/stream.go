package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/agentgate/agentgate/internal/upstream"
)

// scanner finds event markers in a byte stream read in pieces, a marker
// split across two reads included.
type scanner struct {
	part [markerLen]byte
	n    int // bytes of a split marker held in part
}

// scan calls found with the stamp of every marker that ends in p.
func (s *scanner) scan(p []byte, found func(ts int64)) {
	if s.n > 0 {
		k := min(markerLen-s.n, len(p))
		s.n += copy(s.part[s.n:], p[:k])
		p = p[k:]
		if s.n < markerLen {
			return
		}
		s.n = 0
		if ts, ok := stamp(s.part[:]); ok {
			found(ts)
		}
	}
	for {
		i := bytes.IndexByte(p, marker)
		if i < 0 {
			return
		}
		p = p[i:]
		if len(p) < markerLen {
			s.n = copy(s.part[:], p)
			return
		}
		if ts, ok := stamp(p[:markerLen]); ok {
			found(ts)
		}
		p = p[1:]
	}
}

// stamp reads the hex stamp of a whole marker.
func stamp(m []byte) (int64, bool) {
	var ts int64
	for _, c := range m[1:] {
		switch {
		case c >= '0' && c <= '9':
			ts = ts<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			ts = ts<<4 | int64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return ts, true
}

// path is one way from a client to the agent.
type path interface {
	// name is "direct" or the gateway mode.
	name() string
	// open starts a stream and returns its body once the response header
	// has arrived. Cancelling ctx ends the stream. The stream continues
	// the runtime session *session names; when that is empty, open starts
	// one and stores its id there.
	open(ctx context.Context, spec streamSpec, session *string) (io.ReadCloser, error)
}

// Every worker of the harness keeps one runtime session for all its
// streams, as a user continues a conversation. It also keeps the number of
// sessions small: the emulator sweeps all the sessions it knows on every
// invocation (agentcorelocal's sessionStore.sweep, under one lock), so a
// new session per stream would make it slower with every stream, on both
// paths, and distort both.

// The gateway modes measured.
const (
	modeOriginal    = "original"
	modeTransformed = "transformed"
	modeOpenAI      = "openai"
)

// gatewayPath reaches the agent through the gateway: POST
// /agents/{agent}/invocations with a response format, or, in openai mode,
// POST /v1/chat/completions with stream: true, as an OpenAI SDK sends it.
type gatewayPath struct {
	mode   string
	url    string // the gateway's base URL
	agent  string // the agent's public name
	client *http.Client
}

func (g gatewayPath) name() string { return g.mode }

func (g gatewayPath) open(ctx context.Context, spec streamSpec, session *string) (io.ReadCloser, error) {
	url, body := g.url+"/agents/"+g.agent+"/invocations", map[string]any{"prompt": spec.prompt(), "response": g.mode}
	if *session != "" {
		body["runtimeSessionId"] = *session
	}
	if g.mode == modeOpenAI {
		url, body = g.url+"/v1/chat/completions", map[string]any{"model": g.agent, "stream": true,
			"messages": []map[string]string{{"role": "user", "content": spec.prompt()}}}
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if *session != "" {
		req.Header.Set(sessionHeader, *session) // /v1/chat/completions reads it here
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("gateway answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	*session = resp.Header.Get(sessionHeader)
	return resp.Body, nil
}

// sessionHeader carries the gateway's session id both ways.
const sessionHeader = "X-Agentgate-Session-Id"

// newGatewayClient returns a client with an idle connection for every
// stream a phase keeps open, so that no measurement pays for a dial.
func newGatewayClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
}

// directPath calls the emulator as the gateway does: the same
// upstream.AgentCore invoker, so the real bedrockagentcore SDK signs with
// SigV4 and the same HTTP client settings apply.
type directPath struct{ inv *upstream.AgentCore }

func (d directPath) name() string { return "direct" }

func (d directPath) open(ctx context.Context, spec streamSpec, session *string) (io.ReadCloser, error) {
	if *session == "" {
		*session = newSessionID()
	}
	payload, _ := json.Marshal(map[string]string{"prompt": spec.prompt()})
	resp, err := d.inv.Invoke(ctx, upstream.Request{Payload: payload, SessionID: *session})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// newSessionID returns a fresh runtime session id, as long as AgentCore
// wants (33 characters or more).
func newSessionID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return "bench-" + hex.EncodeToString(b)
}
