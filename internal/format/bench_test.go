package format_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
)

// BenchmarkEncoder measures one 64-byte text delta (its upstream block and
// its event) through each format, in answers of 1024 deltas (64 KiB); the
// allocations per op are what a stream pays per event.
func BenchmarkEncoder(b *testing.B) {
	text := strings.Repeat("The quick brown fox — jumps \"over\" ", 2)[:64]
	e := event.Event{Kind: event.KindText, Text: text}
	delta, _ := json.Marshal(map[string]any{"event": map[string]any{"contentBlockDelta": map[string]any{"delta": map[string]string{"text": text}, "contentBlockIndex": 0}}})
	block := append(append([]byte("data: "), delta...), "\n\n"...)
	for _, n := range allFormats {
		b.Run(string(n), func(b *testing.B) {
			opts := openAIOptions()
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			enc := format.New(n, io.Discard, opts)
			i := 0
			for b.Loop() {
				// openai-json and responses hold the whole answer, so they cannot take
				// b.N deltas: start a new response as a new request would.
				if i++; i%1024 == 0 {
					enc = format.New(n, io.Discard, opts)
				}
				if err := enc.Raw(block); err != nil {
					b.Fatal(err)
				}
				if err := enc.Event(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStream measures a whole short answer (64 deltas, a stop, a
// metadata report and the end) through each format, new encoder included.
func BenchmarkStream(b *testing.B) {
	text := strings.Repeat("x", 64)
	var events []event.Event
	events = append(events, event.Event{Kind: event.KindMessageStart})
	for range 64 {
		events = append(events, event.Event{Kind: event.KindText, Text: text})
	}
	events = append(events, event.Event{Kind: event.KindMessageStop, StopReason: "end_turn"},
		metadata(`{"usage":{"inputTokens":10,"outputTokens":64,"totalTokens":74},"metrics":{"latencyMs":900}}`))
	for _, n := range allFormats {
		b.Run(string(n), func(b *testing.B) {
			opts := openAIOptions()
			opts.IncludeUsage = true
			b.ReportAllocs()
			for b.Loop() {
				enc := format.New(n, io.Discard, opts)
				for _, e := range events {
					_ = enc.Event(e)
				}
				_ = enc.Finish(sessionID)
			}
		})
	}
}
