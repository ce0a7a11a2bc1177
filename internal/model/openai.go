package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/agentgate/agentgate/internal/sse"
)

// statusExcerptRunes bounds how much of a refusing server's answer a
// StatusError carries: enough to tell "bad key" from "no such model",
// too little to copy a whole error page into a log line.
const statusExcerptRunes = 200

// OpenAIOptions configures a provider for an OpenAI-compatible
// chat-completions endpoint: OpenAI itself, Ollama, vLLM, LiteLLM and the
// like.
type OpenAIOptions struct {
	// BaseURL is the API root that "/chat/completions" is appended to, such
	// as "http://127.0.0.1:11434/v1" for Ollama. Required; an absolute http
	// or https URL.
	BaseURL string
	// APIKey is sent as a bearer token. Empty sends no Authorization header,
	// as local servers expect.
	APIKey string
	// Model names the model on that server. Required.
	Model string
	// HTTPClient sends the requests; nil uses http.DefaultClient. Its
	// Timeout, if any, bounds the whole reply, stream included.
	HTTPClient *http.Client
	// MaxTokens caps replies whose Request.MaxTokens is zero; zero leaves
	// the server's default. It is sent as max_tokens, which local servers
	// understand.
	MaxTokens int
}

// OpenAI streams replies from an OpenAI-compatible chat-completions
// endpoint over Server-Sent Events.
type OpenAI struct {
	url       string
	apiKey    string
	model     string
	client    *http.Client
	maxTokens int
}

var _ Provider = (*OpenAI)(nil)

// NewOpenAI checks opts and returns the provider. It makes no request: a
// wrong key or model shows on the first Stream.
func NewOpenAI(opts OpenAIOptions) (*OpenAI, error) {
	var errs []error
	if opts.BaseURL == "" {
		errs = append(errs, errors.New("model: OpenAIOptions.BaseURL is required"))
	} else if err := checkBaseURL(opts.BaseURL); err != nil {
		errs = append(errs, fmt.Errorf("model: OpenAIOptions.BaseURL %w", err))
	}
	if opts.Model == "" {
		errs = append(errs, errors.New("model: OpenAIOptions.Model is required"))
	}
	if opts.MaxTokens < 0 {
		errs = append(errs, fmt.Errorf("model: OpenAIOptions.MaxTokens is %d, want 0 or more", opts.MaxTokens))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	base, _ := url.Parse(opts.BaseURL) // checked above
	client := opts.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	return &OpenAI{
		url:       base.JoinPath("chat", "completions").String(),
		apiKey:    opts.APIKey,
		model:     opts.Model,
		client:    client,
		maxTokens: opts.MaxTokens,
	}, nil
}

// Name returns "openai".
func (*OpenAI) Name() string { return "openai" }

// openaiMessage and openaiRequest are the request's wire shapes.
type openaiMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type openaiRequest struct {
	Model         string          `json:"model"`
	Messages      []openaiMessage `json:"messages"`
	Stream        bool            `json:"stream"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens int `json:"max_tokens,omitempty"`
}

// openaiChunk is one streamed chunk. A server may also send an error object
// in place of a chunk once streaming has begun.
type openaiChunk struct {
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
	Error *openaiError `json:"error"`
}

type openaiError struct {
	Message string `json:"message"`
}

// Stream posts the conversation with stream set and emits each content
// delta of the first choice as its chunk arrives. The stop reason is the
// finish_reason in Bedrock's words; usage comes from the final usage chunk,
// which the request asks for, and is all zeros when the server sends none.
// A stream that ends before a finish_reason or "[DONE]" fails with
// ErrTruncated; one that ends after a finish_reason but before "[DONE]"
// succeeds, since the reply itself is whole.
func (o *OpenAI) Stream(ctx context.Context, req Request, emit func(delta string) error) (Result, error) {
	if err := req.check(); err != nil {
		return Result{}, err
	}
	body, err := json.Marshal(o.request(req))
	if err != nil {
		return Result{}, fmt.Errorf("model: openai: encode request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("model: openai: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	if o.apiKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+o.apiKey)
	}
	resp, err := o.client.Do(hreq)
	if err != nil {
		return Result{}, openaiFail(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Result{}, newStatusError("openai", resp)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		// The server ignored "stream": reading its one JSON answer as SSE
		// would only report a confusing truncation.
		return Result{}, errors.New("model: openai: the server answered with JSON, not an event stream")
	}
	return o.read(ctx, resp.Body, emit)
}

func (o *OpenAI) request(req Request) openaiRequest {
	r := openaiRequest{
		Model:     o.model,
		Messages:  make([]openaiMessage, 0, len(req.Messages)+1),
		Stream:    true,
		MaxTokens: req.maxTokens(o.maxTokens),
	}
	r.StreamOptions.IncludeUsage = true
	if req.System != "" {
		r.Messages = append(r.Messages, openaiMessage{Role: "system", Content: req.System})
	}
	for _, m := range req.Messages {
		r.Messages = append(r.Messages, openaiMessage{Role: string(m.Role), Content: m.Text})
	}
	return r
}

// read consumes the event stream until "[DONE]" or its end.
func (o *OpenAI) read(ctx context.Context, body io.Reader, emit func(string) error) (Result, error) {
	rd := sse.NewReader(body, sse.Options{})
	var res Result
	for {
		ev, err := rd.Next()
		if res.StopReason != "" && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			return res, nil // the reply is whole; only usage or [DONE] went missing
		}
		if err != nil {
			return Result{}, openaiFail(ctx, err)
		}
		if !ev.HasData || ev.Incomplete {
			continue // comments, keep-alives, and a block cut off mid-way
		}
		if string(ev.Data) == "[DONE]" {
			if res.StopReason == "" {
				res.StopReason = "end_turn"
			}
			return res, nil
		}
		// A fresh chunk each time: Unmarshal into a reused one would keep
		// fields that the next chunk leaves out, such as an old delta.
		var chunk openaiChunk
		if err := json.Unmarshal(ev.Data, &chunk); err != nil {
			return Result{}, fmt.Errorf("model: openai: decode chunk: %w", err)
		}
		if chunk.Error != nil {
			return Result{}, fmt.Errorf("model: openai: the server failed mid-stream: %s", clip(chunk.Error.Message, statusExcerptRunes))
		}
		if u := chunk.Usage; u != nil {
			res.Usage = Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
			if res.Usage.TotalTokens == 0 {
				res.Usage.TotalTokens = u.PromptTokens + u.CompletionTokens
			}
		}
		for _, c := range chunk.Choices {
			if c.Index != 0 {
				continue // we ask for one choice; ignore any others
			}
			if c.Delta.Content != "" {
				if err := emit(c.Delta.Content); err != nil {
					return Result{}, err
				}
			}
			if c.FinishReason != "" {
				res.StopReason = openaiStopReason(c.FinishReason)
			}
		}
	}
}

// openaiStopReason puts a finish_reason in Bedrock's words, which is what
// Result.StopReason speaks; reasons Bedrock has no word for pass unchanged.
func openaiStopReason(finish string) string {
	switch finish {
	case "stop":
		return "end_turn"
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "content_filtered"
	}
	return finish
}

// openaiFail is the one place a failed read or request becomes an error. A
// cancelled ctx wins, because net/http reports it as whatever it
// interrupted; a stream's plain end is a truncation, since success returns
// before it.
func openaiFail(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the OpenAI-compatible stream ended without a finish_reason or [DONE]", ErrTruncated)
	}
	return fmt.Errorf("model: openai: %w", err)
}

// StatusError reports that a model server refused a request with a status
// outside 2xx. Message is a short, one-line excerpt of the server's
// explanation; it is still the server's text, fit for logs, not for clients.
type StatusError struct {
	Provider   string
	StatusCode int
	Message    string
}

// Error names the provider and the status, then the server's excerpt.
func (e *StatusError) Error() string {
	return fmt.Sprintf("model: %s: the server answered %d %s: %s",
		e.Provider, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// newStatusError reads at most a few kilobytes of a refusal: enough for an
// OpenAI-style error object, whose message it prefers, or for the start of
// anything else.
func newStatusError(provider string, resp *http.Response) *StatusError {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	msg := string(raw)
	var body struct {
		Error *openaiError `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != nil && body.Error.Message != "" {
		msg = body.Error.Message
	}
	return &StatusError{Provider: provider, StatusCode: resp.StatusCode, Message: clip(msg, statusExcerptRunes)}
}
