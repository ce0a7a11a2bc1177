package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBufferedAnswerFailsWithItsRealStatus: a non-streamed chat completion
// sends nothing until its answer is whole, so an agent that fails after
// its first events gets the failure's own status and an OpenAI error, not
// a 200 whose body is an error the client cannot read as a completion.
func TestBufferedAnswerFailsWithItsRealStatus(t *testing.T) {
	tests := []struct {
		name     string
		upstream func(w *io.PipeWriter, gw *Server)
		status   int
		code     string
	}{
		{"a stream that breaks after its first events", func(w *io.PipeWriter, _ *Server) {
			w.Write([]byte(textEvent + textEvent))
			w.CloseWithError(errors.New("connection reset"))
		}, http.StatusBadGateway, "upstream_stream_broken"},
		{"an event past the size limit", func(w *io.PipeWriter, _ *Server) {
			w.Write([]byte(textEvent))
			w.Write([]byte("data: " + strings.Repeat("x", 5000) + "\n\n"))
			w.Close()
		}, http.StatusBadGateway, "upstream_event_too_large"},
		{"the agent's own error event", func(w *io.PipeWriter, _ *Server) {
			w.Write([]byte(textEvent + agentErr))
			w.Close()
		}, http.StatusBadGateway, "agent_error"},
		{"a shutdown while the agent answers", func(w *io.PipeWriter, gw *Server) {
			w.Write([]byte(textEvent))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			gw.Abort(ctx)
		}, http.StatusServiceUnavailable, "shutting_down"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is "+tt.code, func(t *testing.T) {
			inv := &pipeInvoker{calls: make(chan call, 1)}
			srv, gw := newTestGateway(t, inv)
			go func() {
				c := <-inv.calls
				// An upstream body ends when its call's context does, as
				// the SDK's does.
				stop := context.AfterFunc(c.ctx, func() { c.w.CloseWithError(c.ctx.Err()) })
				defer stop()
				tt.upstream(c.w, gw)
			}()
			resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json",
				strings.NewReader(`{"model":"demo","messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			var e struct {
				Error struct{ Code, Type, Message string }
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tt.code || e.Error.Type == "" {
				t.Fatalf("body %s, want an OpenAI error with code %s", body, tt.code)
			}
			if strings.Contains(string(body), "Hello") {
				t.Fatalf("the failed answer's text reached the client: %s", body)
			}
		})
	}
}
