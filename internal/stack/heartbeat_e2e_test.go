package stack

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/config"
)

// TestHeartbeatsKeepASilentStreamAlive has an agent think longer than the
// heartbeat interval before it answers.
func TestHeartbeatsKeepASilentStreamAlive(t *testing.T) {
	tests := []struct {
		mode, beat string
	}{
		{"original", ": keep-alive\n\n"},
		{"openai", ": keep-alive\n\n"},
		{"ndjson", "{\"type\":\"ping\"}\n"},
		{"transformed", ""},
	}
	for _, tt := range tests {
		t.Run("a silent agent gets heartbeats in "+tt.mode+" mode and the answer after them intact", func(t *testing.T) {
			gm := &gatedModel{deltas: []string{"after", " the pause"}, next: make(chan struct{})}
			tp := &tap{}
			cfg := config.Default()
			cfg.Auth.None = true
			cfg.Stream.Heartbeat = 40 * time.Millisecond
			l := startWithConfig(t, cfg, LocalOptions{Provider: gm, WrapAgent: tp.wrap})
			resp := post(t, l.URL+"/", `{"prompt":"hi","response":"`+tt.mode+`"}`)
			s := newStream(t, resp.Body)
			if tt.beat != "" {
				s.waitFor(tt.beat+tt.beat, 0) // two in a row: silence is being filled
			} else {
				time.Sleep(200 * time.Millisecond) // transformed has no heartbeat: prove none comes
			}
			gm.next <- struct{}{}
			gm.next <- struct{}{}
			body := s.rest()
			if tt.beat == "" {
				if strings.Contains(string(body), "keep-alive") || strings.Contains(string(body), "ping") {
					t.Fatalf("transformed got a heartbeat: %q", body)
				}
				return
			}
			if !strings.Contains(string(body), "after the pause") && !strings.Contains(string(body), `" the pause"`) {
				t.Fatalf("the answer is missing after the heartbeats: %q", body)
			}
			if tt.mode == "original" {
				// Apart from the comment lines, original stays byte-exact.
				stripped := bytes.ReplaceAll(body, []byte(tt.beat), nil)
				if agent := tp.last(); !bytes.Equal(stripped, agent) {
					t.Fatalf("original without heartbeats differs from the agent's bytes\nagent:  %q\nclient: %q", agent, stripped)
				}
			}
		})
	}
}
