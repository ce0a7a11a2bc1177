package model

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// collect streams req and returns the deltas in order.
func collect(t *testing.T, p Provider, req Request) ([]string, Result, error) {
	t.Helper()
	var deltas []string
	res, err := p.Stream(context.Background(), req, func(d string) error {
		deltas = append(deltas, d)
		return nil
	})
	return deltas, res, err
}

func user(text string) Message      { return Message{Role: RoleUser, Text: text} }
func assistant(text string) Message { return Message{Role: RoleAssistant, Text: text} }

func TestBuiltinReply(t *testing.T) {
	long := strings.Repeat("é", 500)
	tests := []struct {
		name string
		req  Request
		want []string // substrings of the joined reply
		not  []string
	}{
		{
			name: "a first turn says what it is and quotes the prompt",
			req:  Request{Messages: []Message{user("hello there")}},
			want: []string{"offline demo model", "no language model is attached", "“hello there”", "turn 1"},
		},
		{
			name: "a later turn knows the turn number and the opening message",
			req: Request{Messages: []Message{
				user("my name is Ada"), assistant("hi"),
				user("what next?"), assistant("more"),
				user("and now?"),
			}},
			want: []string{"turn 3", "“and now?”", "opened with “my name is Ada”"},
		},
		{
			name: "one token is counted in the singular",
			req:  Request{Messages: []Message{user("Hi")}},
			want: []string{"“Hi”, 1 token by my simple count."},
			not:  []string{"1 tokens"},
		},
		{
			name: "more tokens are counted in the plural",
			req:  Request{Messages: []Message{user("Hi there")}},
			want: []string{"“Hi there”, 2 tokens by my simple count."},
		},
		{
			name: "a very long prompt is quoted cut short",
			req:  Request{Messages: []Message{user(long)}},
			want: []string{"“" + strings.Repeat("é", builtinQuoteRunes) + "…”"},
			not:  []string{strings.Repeat("é", builtinQuoteRunes+1)},
		},
		{
			name: "invalid UTF-8 and control characters are quoted as spaces",
			req:  Request{Messages: []Message{user("bad\xff\xfebytes\x1b[31m\nnext")}},
			want: []string{"“bad bytes [31m next”"},
			not:  []string{"\x1b", "\n"},
		},
		{
			name: "without a caller it says nothing of one",
			req:  Request{Messages: []Message{user("hi")}},
			not:  []string{"signed in"},
		},
		{
			name: "a JWT caller is named with the claims the gateway vouches for",
			req: Request{Messages: []Message{user("hi")}, Caller: Caller{Principal: "jwt:0123456789ab:ada", Kind: "jwt",
				Details: []Detail{{"Email", "ada@example.com"}, {"Groups", `["ops"]`}, {"Tenant", "acme"}}}},
			want: []string{"This is turn 1 of our conversation; write again and I will remember how it began. You are signed in as “jwt:0123456789ab:ada” with a token from your identity provider, " +
				"and the gateway vouches for your Email “ada@example.com”, Groups “[\"ops\"]” and Tenant “acme”."},
		},
		{
			name: "an API key's caller is named with how they signed in",
			req:  Request{Messages: []Message{user("hi")}, Caller: Caller{Principal: "key:ci-bot", Kind: "apikey"}},
			want: []string{"You are signed in as “key:ci-bot” with an API key."},
		},
		{
			name: "an open gateway's caller is told so",
			req:  Request{Messages: []Message{user("hi")}, Caller: Caller{Principal: "anonymous", Kind: "none"}},
			want: []string{"You are not signed in: the gateway is open and calls everyone “anonymous”."},
		},
		{
			name: "a caller's details are quoted clipped, on one line",
			req:  Request{Messages: []Message{user("hi")}, Caller: Caller{Principal: "user:ada", Kind: "password", Details: []Detail{{"Bio", long + "\nX"}}}},
			want: []string{"with a password, and the gateway vouches for your Bio “" + strings.Repeat("é", builtinQuoteRunes) + "…”."},
			not:  []string{"\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deltas, res, err := collect(t, NewBuiltin(BuiltinOptions{Delay: -1}), tt.req)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			reply := strings.Join(deltas, "")
			if !utf8.ValidString(reply) {
				t.Errorf("reply is not valid UTF-8: %q", reply)
			}
			for _, w := range tt.want {
				if !strings.Contains(reply, w) {
					t.Errorf("reply %q lacks %q", reply, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(reply, n) {
					t.Errorf("reply %q holds %q", reply, n)
				}
			}
			if res.StopReason != "end_turn" {
				t.Errorf("StopReason = %q, want end_turn", res.StopReason)
			}
		})
	}
}

func TestBuiltinIsDeterministic(t *testing.T) {
	req := Request{System: "be brief", Messages: []Message{user("one"), assistant("two"), user("three")}}
	b := NewBuiltin(BuiltinOptions{Delay: -1})
	d1, r1, err1 := collect(t, b, req)
	d2, r2, err2 := collect(t, b, req)
	if err1 != nil || err2 != nil {
		t.Fatalf("Stream: %v, %v", err1, err2)
	}
	if strings.Join(d1, "|") != strings.Join(d2, "|") || r1 != r2 {
		t.Errorf("two runs differ:\n%q %+v\n%q %+v", d1, r1, d2, r2)
	}
}

func TestBuiltinStreamsSeveralDeltas(t *testing.T) {
	deltas, _, err := collect(t, NewBuiltin(BuiltinOptions{Delay: time.Millisecond}), Request{Messages: []Message{user("hi")}})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if len(deltas) < 5 {
		t.Errorf("got %d deltas, want at least 5: %q", len(deltas), deltas)
	}
	for i, d := range deltas {
		if strings.TrimSpace(d) == "" {
			t.Errorf("delta %d is blank: %q", i, d)
		}
	}
}

func TestBuiltinUsage(t *testing.T) {
	tests := []struct {
		name      string
		req       Request
		wantStop  string
		maxOutput int // 0: no cap to check
	}{
		{
			name:     "usage counts the system prompt, every message and the whole reply",
			req:      Request{System: "You are terse.", Messages: []Message{user("Hello, world!"), assistant("Hi."), user("Again?")}},
			wantStop: "end_turn",
		},
		{
			name:      "a token cap cuts the reply and says max_tokens",
			req:       Request{Messages: []Message{user("hello")}, MaxTokens: 7},
			wantStop:  "max_tokens",
			maxOutput: 7,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deltas, res, err := collect(t, NewBuiltin(BuiltinOptions{Delay: -1}), tt.req)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			in := CountTokens(tt.req.System)
			for _, m := range tt.req.Messages {
				in += CountTokens(m.Text)
			}
			out := CountTokens(strings.Join(deltas, ""))
			want := Usage{InputTokens: in, OutputTokens: out, TotalTokens: in + out}
			if res.Usage != want {
				t.Errorf("Usage = %+v, want %+v", res.Usage, want)
			}
			if res.StopReason != tt.wantStop {
				t.Errorf("StopReason = %q, want %q", res.StopReason, tt.wantStop)
			}
			if tt.maxOutput > 0 && (out > tt.maxOutput || out == 0) {
				t.Errorf("emitted %d tokens, want 1 to %d", out, tt.maxOutput)
			}
		})
	}
}

func TestCountTokens(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"   ", 0},
		{"hello", 1},
		{"Hello, world!", 4},
		{"agentgate's", 3},
		{"a...b", 3},
		{"naïve café 42", 3},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q has %d tokens", tt.in, tt.want), func(t *testing.T) {
			if got := CountTokens(tt.in); got != tt.want {
				t.Errorf("CountTokens(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestBuiltinRefusesBadRequests(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		is   error
	}{
		{name: "a request with no messages is refused", req: Request{}, is: ErrEmptyConversation},
		{name: "a request with only assistant turns is refused", req: Request{Messages: []Message{assistant("hi")}}, is: ErrEmptyConversation},
		{name: "a request ending on an assistant turn is refused", req: Request{Messages: []Message{user("a"), assistant("b")}}},
		{name: "a request with an unknown role is refused", req: Request{Messages: []Message{{Role: "system", Text: "x"}, user("a")}}},
		{name: "a negative token cap is refused", req: Request{Messages: []Message{user("a")}, MaxTokens: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			_, err := NewBuiltin(BuiltinOptions{Delay: -1}).Stream(context.Background(), tt.req, func(string) error {
				called = true
				return nil
			})
			if err == nil {
				t.Fatal("Stream succeeded, want an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if called {
				t.Error("emit was called for a refused request")
			}
		})
	}
}

func TestBuiltinStops(t *testing.T) {
	errStop := errors.New("client went away")
	tests := []struct {
		name   string
		delay  time.Duration
		cancel bool // cancel ctx in the first emit, else return errStop
		want   error
	}{
		{name: "cancelling during a long pause returns promptly", delay: time.Hour, cancel: true, want: context.Canceled},
		{name: "cancelling with no pause stops before the next delta", delay: -1, cancel: true, want: context.Canceled},
		{name: "an emit error is returned as is", delay: -1, want: errStop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			calls := 0
			done := make(chan error, 1)
			go func() {
				_, err := NewBuiltin(BuiltinOptions{Delay: tt.delay}).Stream(ctx, Request{Messages: []Message{user("hi")}}, func(string) error {
					calls++
					if tt.cancel {
						cancel()
						return nil
					}
					return errStop
				})
				done <- err
			}()
			select {
			case err := <-done:
				if err != tt.want {
					t.Errorf("Stream error = %v, want %v", err, tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Stream did not return within 5s")
			}
			if calls != 1 {
				t.Errorf("emit called %d times, want 1", calls)
			}
		})
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{name: "short text is kept", in: "hello", max: 10, want: "hello"},
		{name: "long text is cut at a rune with an ellipsis", in: "日本語のテキスト", max: 3, want: "日本語…"},
		{name: "a cut never leaves a trailing space", in: "ab cd", max: 3, want: "ab…"},
		{name: "whitespace collapses to single spaces", in: " a\t\n b ", max: 10, want: "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clip(tt.in, tt.max); got != tt.want {
				t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func TestNewBuiltinDelay(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want time.Duration
	}{
		{name: "zero takes the default", in: 0, want: DefaultBuiltinDelay},
		{name: "a negative delay means none", in: -time.Second, want: 0},
		{name: "a positive delay is kept", in: 5 * time.Millisecond, want: 5 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewBuiltin(BuiltinOptions{Delay: tt.in}).delay; got != tt.want {
				t.Errorf("delay = %v, want %v", got, tt.want)
			}
		})
	}
}
