package gateway

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/limit"
)

// BenchmarkTurn measures what a durable turn adds to each burst of an
// event stream: the id line, the copy into the log and the batch shipped
// to a memory store, against the same writes straight to the client.
func BenchmarkTurn(b *testing.B) {
	block := []byte("data: {\"contentBlockDelta\":{\"delta\":{\"text\":\"~0123456789ab xxxxxxxxxxxxxxx\"}}}\n\n")
	for _, durable := range []bool{false, true} {
		name := "ephemeral"
		if durable {
			name = "durable"
		}
		b.Run(name, func(b *testing.B) {
			s := &Server{log: slog.New(slog.DiscardHandler)}
			s.opts.TurnRetention, s.opts.MaxTurnBytes = DefaultTurnRetention, 1<<40
			if durable {
				mem := limit.NewMemory(nil)
				mem.SetMaxLogBytes(1 << 40)
				s.opts.Turns, s.opts.TurnsLocal = mem, true
			}
			r := withState(httptest.NewRequest("POST", "/", nil))
			req := &invocation{format: format.Original, sessionID: "s-0123456789abcdef0123456789abcdef"}
			var w io.Writer = io.Discard
			var batch func()
			b.ReportAllocs()
			b.SetBytes(100 * int64(len(block)))
			for b.Loop() {
				var t *turn
				enc := req.encoder(w)
				if durable {
					t = s.startTurn(r, "bench", req)
					enc = req.encoder(t.writer(w, true))
					batch = t.log.batch
				}
				for range 100 {
					_ = enc.Raw(block)
					if batch != nil {
						batch()
					}
				}
				if t != nil {
					t.log.end()
				}
			}
		})
	}
}
