package format_test

import (
	"fmt"
	"os"
	"time"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
)

func ExampleNew() {
	enc := format.New(format.NDJSON, os.Stdout, format.Options{})
	_ = enc.Event(event.Event{Kind: event.KindText, Text: "Hello"})
	_ = enc.Heartbeat()
	_ = enc.Event(event.Event{Kind: event.KindText, Text: ", <world>"})
	_ = enc.Event(event.Event{Kind: event.KindMetadata, Usage: &event.Usage{InputTokens: 3, OutputTokens: 2, TotalTokens: 5}})
	_ = enc.Finish("session-1")
	// Output:
	// {"type":"text","text":"Hello"}
	// {"type":"ping"}
	// {"type":"text","text":", <world>"}
	// {"type":"usage","usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5}}
	// {"type":"session","id":"session-1"}
}

func ExampleNew_openAI() {
	enc := format.New(format.OpenAI, os.Stdout, format.Options{
		Model: "demo", ID: "chatcmpl-1", Now: func() time.Time { return time.Unix(1700000000, 0) },
	})
	_ = enc.Event(event.Event{Kind: event.KindText, Text: "Hi"})
	_ = enc.Finish("session-1")
	// Output:
	// data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"demo","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}
	//
	// data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"demo","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}
	//
	// data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"demo","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}
	//
	// data: [DONE]
}

func ExampleFromAccept() {
	fmt.Println(format.FromAccept("application/json, text/plain;q=0.5, application/x-ndjson"))
	fmt.Println(format.FromAccept("*/*"))
	// Output:
	// ndjson true
	//  false
}

func ExampleEncoder_Buffered() {
	for _, n := range []format.Name{format.OpenAI, format.OpenAIJSON} {
		enc := format.New(n, os.Stdout, format.Options{})
		fmt.Println(n, enc.Buffered(), enc.Input() == format.Events)
	}
	// Output:
	// openai false true
	// openai-json true true
}
