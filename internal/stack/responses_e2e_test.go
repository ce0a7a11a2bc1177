package stack

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/responses"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
)

// TestOpenAIResponsesClient drives the real OpenAI Go client's Responses
// API against the local stack and its built-in agent, which counts the
// turns of its session: previous_response_id must reach the same session,
// streamed or not, and only for the caller who got the response.
func TestOpenAIResponsesClient(t *testing.T) {
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = 0
	cfg.Retry.MaxAttempts = 1
	var keys []string
	for _, name := range []string{"alice", "bob"} {
		key, hash, err := auth.GenerateAPIKey()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
		cfg.Auth.APIKeys = append(cfg.Auth.APIKeys, config.APIKey{Name: name, Hash: hash})
	}
	l := startWithConfig(t, cfg, LocalOptions{})
	client := func(key string) openai.Client {
		return openai.NewClient(option.WithBaseURL(l.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
	}
	alice, bob := client(keys[0]), client(keys[1])
	ctx := context.Background()
	text := func(s string) responses.ResponseNewParamsInputUnion {
		return responses.ResponseNewParamsInputUnion{OfString: openai.String(s)}
	}

	var first *responses.Response
	t.Run("a streamed response gives its deltas, then the whole response with its usage", func(t *testing.T) {
		var resp *http.Response
		stream := alice.Responses.NewStreaming(ctx, responses.ResponseNewParams{
			Model: "demo", Input: text("Tell me about lighthouses"), Instructions: openai.String("Be brief."),
		}, option.WithResponseInto(&resp))
		var deltas strings.Builder
		var seq []int64
		for stream.Next() {
			ev := stream.Current()
			seq = append(seq, ev.SequenceNumber)
			switch ev.Type {
			case "response.output_text.delta":
				deltas.WriteString(ev.Delta)
			case "response.completed":
				r := ev.Response
				first = &r
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		for i, n := range seq {
			if n != int64(i) {
				t.Fatalf("sequence numbers %v", seq)
			}
		}
		if first == nil || first.Status != "completed" || first.OutputText() != deltas.String() || !strings.Contains(deltas.String(), "turn 1 of our conversation") {
			t.Fatalf("deltas %q, final response %+v", deltas.String(), first)
		}
		u := first.Usage
		if u.InputTokens == 0 || u.OutputTokens == 0 || u.TotalTokens != u.InputTokens+u.OutputTokens || first.Model != "demo" {
			t.Fatalf("usage %+v, model %q", u, first.Model)
		}
		if !strings.HasPrefix(first.ID, "resp_") || resp == nil || len(resp.Header.Get("X-Agentgate-Session-Id")) < 33 {
			t.Fatalf("response id %q, session header on %v", first.ID, resp)
		}
	})
	if first == nil {
		t.FailNow()
	}

	var second *responses.Response
	t.Run("previous_response_id continues the session in a non-streamed response", func(t *testing.T) {
		var err error
		second, err = alice.Responses.New(ctx, responses.ResponseNewParams{
			Model: "demo", PreviousResponseID: openai.String(first.ID),
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
				responses.ResponseInputItemParamOfMessage("and their keepers?", responses.EasyInputMessageRoleUser),
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		out := second.OutputText()
		if !strings.Contains(out, "turn 2 of our conversation, which you opened with “Tell me about lighthouses”") {
			t.Fatalf("the agent did not continue the session: %q", out)
		}
		if second.ID == first.ID || second.PreviousResponseID != first.ID || second.Status != "completed" || second.Usage.TotalTokens == 0 {
			t.Fatalf("response %+v", second)
		}
	})
	if second == nil {
		t.FailNow()
	}
	t.Run("a response id continues it streamed too", func(t *testing.T) {
		stream := alice.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "demo", Input: text("thanks"), PreviousResponseID: openai.String(second.ID)})
		var final string
		for stream.Next() {
			if ev := stream.Current(); ev.Type == "response.completed" {
				final = ev.Response.OutputText()
			}
		}
		if err := stream.Err(); err != nil || !strings.Contains(final, "turn 3 of our conversation") {
			t.Fatalf("err %v, answer %q", err, final)
		}
	})
	t.Run("another caller cannot continue it", func(t *testing.T) {
		_, err := bob.Responses.New(ctx, responses.ResponseNewParams{Model: "demo", Input: text("hi"), PreviousResponseID: openai.String(second.ID)})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "previous_response_not_found" || apiErr.Param != "previous_response_id" {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("tools are refused with a 400 naming them", func(t *testing.T) {
		_, err := alice.Responses.New(ctx, responses.ResponseNewParams{Model: "demo", Input: text("hi"),
			Tools: []responses.ToolUnionParam{responses.ToolParamOfFunction("lookup", map[string]any{"type": "object"}, false)}})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "unsupported_parameter" || apiErr.Param != "tools" {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("models.retrieve finds the agent and 404s the rest", func(t *testing.T) {
		m, err := alice.Models.Get(ctx, "demo")
		if err != nil || m.ID != "demo" || m.OwnedBy != "agentgate" {
			t.Fatalf("model %+v, err %v", m, err)
		}
		_, err = alice.Models.Get(ctx, "gpt-9")
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("an agent failing mid-stream is the client's error, in agentgate's words", func(t *testing.T) {
		if err := l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{DropAfter: 2, MidStreamError: "InternalServerException", Times: 1}); err != nil {
			t.Fatal(err)
		}
		stream := alice.Responses.NewStreaming(ctx, responses.ResponseNewParams{Model: "demo", Input: text("hi")})
		var deltas int
		for stream.Next() {
			if stream.Current().Type == "response.output_text.delta" {
				deltas++
			}
		}
		err := stream.Err()
		var se *ssestream.StreamError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "agent_error") || deltas == 0 {
			t.Fatalf("after %d deltas, err %v: want the stream's agent_error", deltas, err)
		}
		if strings.Contains(err.Error(), "arn:") || strings.Contains(err.Error(), l.AccountID) {
			t.Fatalf("the upstream's words reached the client: %v", err)
		}
	})
	t.Run("an agent failing before a non-streamed answer is whole is the client's 502", func(t *testing.T) {
		if err := l.Emulator.SetFault(l.ARN, agentcorelocal.Fault{DropAfter: 2, Times: 1}); err != nil {
			t.Fatal(err)
		}
		_, err := alice.Responses.New(ctx, responses.ResponseNewParams{Model: "demo", Input: text("hi")})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || apiErr.Code != "upstream_stream_broken" {
			t.Fatalf("err %v", err)
		}
	})
}
