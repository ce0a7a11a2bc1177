package agent_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/model"
)

// greeter is a provider that always says hello, in two deltas.
type greeter struct{}

func (greeter) Name() string { return "greeter" }

func (greeter) Stream(ctx context.Context, req model.Request, emit func(string) error) (model.Result, error) {
	for _, d := range []string{"Hello, ", "world"} {
		if err := emit(d); err != nil {
			return model.Result{}, err
		}
	}
	return model.Result{StopReason: "end_turn", Usage: model.Usage{InputTokens: 3, OutputTokens: 2}}, nil
}

func Example() {
	srv, err := agent.New(agent.Config{
		Provider: greeter{},
		// A clock that stands still makes latencyMs 0 for the output below.
		Now: func() time.Time { return time.Unix(1767225600, 0) },
	})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/invocations", strings.NewReader(`{"prompt":"hi"}`))
	req.Header.Set(agent.SessionHeader, "example-session-0000-0000-0000-0000")
	resp, err := ts.Client().Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Header.Get("Content-Type"))
	fmt.Print(string(body))
	// Output:
	// text/event-stream
	// data: {"event":{"messageStart":{"role":"assistant"}}}
	//
	// data: {"event":{"contentBlockDelta":{"delta":{"text":"Hello, "},"contentBlockIndex":0}}}
	//
	// data: {"event":{"contentBlockDelta":{"delta":{"text":"world"},"contentBlockIndex":0}}}
	//
	// data: {"event":{"contentBlockStop":{"contentBlockIndex":0}}}
	//
	// data: {"event":{"messageStop":{"stopReason":"end_turn"}}}
	//
	// data: {"event":{"metadata":{"usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5},"metrics":{"latencyMs":0}}}}
}
