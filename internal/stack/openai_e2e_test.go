package stack

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agentgate/agentgate/internal/config"
)

// TestOpenAIClient drives the real OpenAI Go client against the local
// stack: the agent's name is the model.
func TestOpenAIClient(t *testing.T) {
	gm := &gatedModel{deltas: []string{"Hello", ", ", "world", "!"}, next: make(chan struct{}, 64)}
	for range 64 {
		gm.next <- struct{}{}
	}
	cfg := config.Default()
	cfg.Auth.None = true
	l := startWithConfig(t, cfg, LocalOptions{Provider: gm})
	client := openai.NewClient(option.WithBaseURL(l.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	ctx := context.Background()

	t.Run("a streamed completion gives the deltas in order, the finish reason and the usage", func(t *testing.T) {
		var resp *http.Response
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "demo",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		}, option.WithResponseInto(&resp))
		var deltas []string
		var finish string
		var usage openai.CompletionUsage
		for stream.Next() {
			c := stream.Current()
			if len(c.Choices) > 0 {
				if d := c.Choices[0].Delta.Content; d != "" {
					deltas = append(deltas, d)
				}
				if c.Choices[0].FinishReason != "" {
					finish = c.Choices[0].FinishReason
				}
			}
			if c.Usage.TotalTokens > 0 {
				usage = c.Usage
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(deltas, "|"); got != "Hello|, |world|!" {
			t.Fatalf("deltas %q", got)
		}
		if finish != "stop" || usage.PromptTokens != 7 || usage.CompletionTokens != 4 || usage.TotalTokens != 11 {
			t.Fatalf("finish %q usage %+v", finish, usage)
		}
		if resp == nil || len(resp.Header.Get("X-Agentgate-Session-Id")) < 33 {
			t.Fatalf("no session header on the response")
		}
	})
	t.Run("a non-streamed completion carries the whole answer and the usage", func(t *testing.T) {
		c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "demo",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hi")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Choices) != 1 || c.Choices[0].Message.Content != "Hello, world!" || c.Choices[0].FinishReason != "stop" || c.Usage.TotalTokens != 11 || c.Model != "demo" {
			t.Fatalf("completion %+v", c)
		}
	})
	t.Run("the session continues through the header", func(t *testing.T) {
		var resp *http.Response
		if _, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "demo", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one")}}, option.WithResponseInto(&resp)); err != nil {
			t.Fatal(err)
		}
		sid := resp.Header.Get("X-Agentgate-Session-Id")
		if _, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "demo", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("two")}}, option.WithHeader("X-Agentgate-Session-Id", sid)); err != nil {
			t.Fatal(err)
		}
		reqs := gm.requests()
		last := reqs[len(reqs)-1].Messages
		if len(last) != 3 || last[0].Text != "one" || last[2].Text != "two" {
			t.Fatalf("the second call saw %+v", last)
		}
	})
	t.Run("an unknown model is an OpenAI-shaped 404", func(t *testing.T) {
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-9", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" || apiErr.Message == "" {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("the models list holds the public names only", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 1 || page.Data[0].ID != "demo" {
			t.Fatalf("models %+v", page.Data)
		}
	})
}
