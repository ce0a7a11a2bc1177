package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/event/eventtest"
)

// TestAgentErrorsNeverPassThrough sends streams of text deltas that name
// one AWS resource, followed by an agent error in a random shape that
// names another (Bedrock ConverseStream exceptions, AWS error objects,
// escaped keys, an SSE "event: error" field ...), through the gateway's
// relay in every format. Every stream ends with one agent_error; nothing
// the error names comes out, and the text before it comes out whole, even
// though it names a resource of its own.
func TestAgentErrorsNeverPassThrough(t *testing.T) {
	inv := &pipeInvoker{calls: make(chan call, 1)}
	srv := newTestServer(t, inv)
	formats := []string{"original", "transformed", "ndjson", "openai"}
	for seed := range uint64(60) {
		r := rand.New(rand.NewPCG(seed, 3))
		contentID, errID := eventtest.NewIdentity(r), eventtest.NewIdentity(r)
		e := eventtest.NewError(r, errID)
		var stream []byte
		var texts []string
		for range 1 + r.IntN(3) {
			text := eventtest.ContentText(r, contentID)
			texts = append(texts, text)
			stream = append(append(append(stream, "data: "...), eventtest.Content(r, event.Strands, event.KindText, text)...), "\n\n"...)
		}
		stream = append(stream, e.Block()...)
		for _, f := range formats {
			go func() {
				c := <-inv.calls
				c.w.Write(stream)
				c.w.Close()
			}()
			resp, err := http.Post(srv.URL+"/", "application/json", strings.NewReader(`{"prompt":"hi","response":"`+f+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			where := func() string { return f + ", " + e.Shape + ": " + string(e.Block()) + "\ngot " + string(body) }
			if n := bytes.Count(body, []byte("agent_error")); n != 1 {
				t.Fatalf("%d agent_error in %s", n, where())
			}
			for _, id := range errID.Identifiers() {
				if bytes.Contains(body, []byte(id)) && !strings.Contains(string(stream[:len(stream)-len(e.Block())]), id) {
					t.Fatalf("%q from the error came out in %s", id, where())
				}
			}
			if f == "original" {
				if !bytes.HasPrefix(body, stream[:len(stream)-len(e.Block())]) {
					t.Fatalf("the content before the error did not pass byte for byte in %s", where())
				}
				continue
			}
			answer := decodeText(t, f, body)
			if want := strings.Join(texts, ""); answer != want {
				t.Fatalf("text %q, want %q in %s", answer, want, where())
			}
		}
	}
}

// decodeText reads the answer's text out of a failed stream in format f:
// the text deltas, without the terminal error.
func decodeText(t *testing.T, f string, body []byte) string {
	t.Helper()
	var b strings.Builder
	switch f {
	case "transformed":
		text, _, ok := strings.Cut(string(body), "\n[error] ")
		if !ok {
			t.Fatalf("no [error] line in %q", body)
		}
		return text
	case "ndjson":
		for line := range bytes.SplitSeq(bytes.TrimSpace(body), []byte("\n")) {
			var l struct{ Type, Text string }
			if err := json.Unmarshal(line, &l); err != nil {
				t.Fatalf("ndjson line %q: %v", line, err)
			}
			if l.Type == "text" {
				b.WriteString(l.Text)
			}
		}
	case "openai":
		for line := range strings.SplitSeq(string(body), "\n") {
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || data == "[DONE]" {
				continue
			}
			var chunk struct {
				Choices []struct{ Delta struct{ Content string } }
			}
			if err := json.Unmarshal([]byte(data), &chunk); err != nil {
				t.Fatalf("openai chunk %q: %v", data, err)
			}
			for _, c := range chunk.Choices {
				b.WriteString(c.Delta.Content)
			}
		}
	}
	return b.String()
}

// TestAReportCutShortNeverPassesThrough: a stream that ends inside an
// event that may be an error report (no decoder can read it) ends with the
// gateway's error, and original mode does not pass its bytes on.
func TestAReportCutShortNeverPassesThrough(t *testing.T) {
	inv := &pipeInvoker{calls: make(chan call, 1)}
	srv := newTestServer(t, inv)
	const arn = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/x"
	for _, tail := range []string{
		`data: {"modelStreamErrorException":{"message":"` + arn,
		`data: {"modelStreamErrorException":{"message":"` + arn + `"}}`,
		"data: {\"\\u0065rror\":\"" + arn + "\"}\n",
	} {
		go func() {
			c := <-inv.calls
			c.w.Write([]byte(textEvent + tail))
			c.w.Close()
		}()
		resp, err := http.Post(srv.URL+"/", "application/json", strings.NewReader(`{"prompt":"hi","response":"original"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(body, []byte("123456789012")) || !bytes.HasPrefix(body, []byte(textEvent)) || !bytes.Contains(body, []byte("upstream_stream_broken")) {
			t.Fatalf("a stream ending in %q gave %q", tail, body)
		}
	}
}
