package gateway

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHeartbeatsKeepASilentStreamAlive has the agent stay silent for
// longer than the heartbeat interval before it answers: each streamed
// format fills the silence with its own heartbeat, transformed with
// nothing, and the answer arrives intact after them.
func TestHeartbeatsKeepASilentStreamAlive(t *testing.T) {
	tests := []struct {
		mode, beat string
	}{
		{"original", ": keep-alive\n\n"},
		{"openai", ": keep-alive\n\n"},
		{"ndjson", "{\"type\":\"ping\"}\n"},
		{"ui", ": keep-alive\n\n"},
		{"agui", ": keep-alive\n\n"},
		{"transformed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			inv := &pipeInvoker{calls: make(chan call, 1)}
			srv := newTestServer(t, inv, func(o *Options) { o.Heartbeat = 20 * time.Millisecond })
			body := `{"prompt":"hi","response":"` + tt.mode + `"}`
			if tt.mode == "openai" {
				body = `{"model":"demo","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			}
			path := "/"
			if tt.mode == "openai" {
				path = "/v1/chat/completions"
			}
			if tt.mode == "agui" {
				path, body = "/agui", aguiBody("t1", "hi")
			}
			resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			c := <-inv.calls
			got := readUntil(t, resp.Body, tt.beat+tt.beat)
			if tt.beat == "" {
				// transformed has no heartbeat: prove none comes while the agent is silent.
				time.Sleep(100 * time.Millisecond)
			}
			c.w.Write([]byte(textEvent))
			c.w.Close()
			rest, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			all := append(got, rest...)
			if tt.beat == "" {
				if !bytes.HasPrefix(all, []byte("Hello")) {
					t.Fatalf("transformed got more than the answer first: %q", all)
				}
				return
			}
			if !bytes.Contains(all, []byte("Hello")) {
				t.Fatalf("the answer is missing after the heartbeats: %q", all)
			}
			if tt.mode == "original" {
				// Apart from the comment lines, original stays byte-exact.
				if stripped := bytes.ReplaceAll(all, []byte(tt.beat), nil); string(stripped) != textEvent {
					t.Fatalf("original without heartbeats differs from the agent's bytes\nagent:  %q\nclient: %q", textEvent, stripped)
				}
			}
		})
	}
}

// readUntil reads r until what it read contains want ("" reads nothing),
// within five seconds.
func readUntil(t *testing.T, r io.Reader, want string) []byte {
	t.Helper()
	if want == "" {
		return nil
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		// A byte at a time: what follows want stays unread in r.
		var got []byte
		one := make([]byte, 1)
		for !bytes.Contains(got, []byte(want)) {
			if _, err := io.ReadFull(r, one); err != nil {
				done <- result{got, err}
				return
			}
			got = append(got, one[0])
		}
		done <- result{got, nil}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			t.Fatalf("read %q, then %v; want %q", res.b, res.err, want)
		}
		return res.b
	case <-time.After(5 * time.Second):
		t.Fatalf("no %q within 5 s", want)
		return nil
	}
}
