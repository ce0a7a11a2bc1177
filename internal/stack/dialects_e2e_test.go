package stack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/format"
)

// answerText pulls the answer's text out of a response in each format.
func answerText(t *testing.T, mode string, body []byte) (text string, usage string) {
	t.Helper()
	switch mode {
	case "transformed":
		before, after, ok := strings.Cut(string(body), format.Separator)
		if !ok {
			t.Fatalf("no separator in %q", body)
		}
		var meta struct{ Usage json.RawMessage }
		json.Unmarshal([]byte(strings.SplitN(after, "\n", 2)[0]), &meta)
		return before, string(meta.Usage)
	case "ndjson":
		var b strings.Builder
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			var line struct {
				Type  string
				Text  string
				Usage json.RawMessage
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("ndjson line %q: %v", sc.Bytes(), err)
			}
			switch line.Type {
			case "text":
				b.WriteString(line.Text)
			case "usage":
				usage = string(line.Usage)
			}
		}
		return b.String(), usage
	case "openai":
		var b strings.Builder
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
		return b.String(), ""
	}
	t.Fatalf("unknown mode %s", mode)
	return "", ""
}

// TestEveryDialectGivesTheSameAnswer has the built-in agent answer in each
// dialect, over real HTTP, and reads the answer in each derived format.
func TestEveryDialectGivesTheSameAnswer(t *testing.T) {
	cfg := config.Default()
	cfg.Auth.None = true
	cfg.Agent.Builtin.Delay = 0
	l := startWithConfig(t, cfg, LocalOptions{})
	for _, mode := range []string{"transformed", "ndjson", "openai"} {
		texts := map[string]string{}
		for _, dialect := range []string{"strands", "text", "agui"} {
			t.Run("the "+dialect+" dialect reads in "+mode+" mode", func(t *testing.T) {
				resp, b := do(t, "POST", l.URL+"/", `{"prompt":"same question","response":"`+mode+`","dialect":"`+dialect+`"}`)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d %s", resp.StatusCode, b)
				}
				text, usage := answerText(t, mode, b)
				if !strings.Contains(text, "offline demo model") {
					t.Fatalf("no answer text in %q", b)
				}
				texts[dialect] = text
				if mode != "openai" {
					if wantNull := dialect != "strands"; wantNull != (usage == "null") {
						t.Fatalf("usage %s for the %s dialect: only strands carries usage; the others must say null", usage, dialect)
					}
				}
			})
		}
		if texts["strands"] != texts["text"] || texts["strands"] != texts["agui"] {
			t.Fatalf("%s mode reads different answers per dialect: %q", mode, texts)
		}
	}
}
