// Package format writes an agent's stream in the shape a client asked for.
// Each format is an Encoder; the gateway feeds it every upstream SSE block
// (for byte-exact pass-through) and the events decoded from it (for the
// derived formats), heartbeats while the agent is silent, then either
// Finish or Fail, exactly once.
//
// Derived formats read only the event model, so every agent dialect gives
// the same answer in every format. A tool loop (several model messages in
// one stream) reads as one continuous answer: its text deltas follow each
// other, its usage is the sum of every metadata report and its stop reason
// is the last message's.
package format

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/agentgate/agentgate/internal/event"
)

// Name identifies a format.
type Name string

// The formats.
const (
	// Original is the upstream SSE bytes, unchanged.
	Original Name = "original"
	// Transformed is the answer's text as plain text, then its metadata
	// and session id.
	Transformed Name = "transformed"
	// NDJSON is one JSON object per line.
	NDJSON Name = "ndjson"
	// OpenAI is an OpenAI chat.completion.chunk event stream.
	OpenAI Name = "openai"
	// OpenAIJSON is one OpenAI chat.completion object, written at Finish.
	// It is what /v1/chat/completions answers without "stream": true, so
	// it is not a value of the "response" field: Parse refuses it.
	OpenAIJSON Name = "openai-json"
	// Responses is an OpenAI Responses API event stream, and ResponsesJSON
	// one Responses API response object, written at Finish. They are what
	// /v1/responses answers, with "stream": true and without; like
	// OpenAIJSON, neither is a value of the "response" field.
	Responses     Name = "responses"
	ResponsesJSON Name = "responses-json"
	// UI is the AI SDK's UI message stream (v1), what useChat reads.
	UI Name = "ui"
	// AGUI is the AG-UI protocol's event stream, what CopilotKit's
	// HttpAgent reads. Its run events repeat the ids of a RunAgentInput
	// (Options.AGUI), so, like the Responses formats, it is what its own
	// route (/agui) answers, not a value of the "response" field.
	AGUI Name = "agui"
)

// Names lists the format names a request may ask for, in the order help
// texts show them.
var Names = []Name{Original, Transformed, NDJSON, OpenAI, UI}

// IsEventStream reports whether the format named n writes Server-Sent
// Events.
func IsEventStream(n Name) bool {
	switch n {
	case Transformed, NDJSON, OpenAIJSON, ResponsesJSON:
		return false
	}
	return true // the others, and original for an unknown name, as New
}

// ContentType returns the Content-Type of the format named n, as its
// encoder's ContentType does, without making one.
func ContentType(n Name) string {
	switch n {
	case Transformed:
		return "text/plain; charset=utf-8"
	case NDJSON:
		return "application/x-ndjson"
	case OpenAIJSON, ResponsesJSON:
		return "application/json"
	}
	return "text/event-stream; charset=utf-8"
}

// Announce returns the header, and its value, with which the format named
// n names itself beside Content-Type, as its encoder does as an
// Announcer; ok is false for a format that does not.
func Announce(n Name) (header, value string, ok bool) {
	if n == UI {
		return UIStreamHeader, UIStreamVersion, true
	}
	return "", "", false
}

// Parse returns the format named s, or an error that lists the valid ones.
func Parse(s string) (Name, error) {
	if slices.Contains(Names, Name(s)) {
		return Name(s), nil
	}
	valid := make([]string, len(Names))
	for i, n := range Names {
		valid[i] = string(n)
	}
	return "", fmt.Errorf("unknown response format %q: valid ones are %s", s, strings.Join(valid, ", "))
}

// Failure is a terminal error as the client sees it: agentgate's own
// wording, never upstream text.
type Failure struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

// Input is what of the upstream stream an encoder reads.
type Input int

const (
	// Bytes: the upstream SSE blocks exactly as read (Raw). Events are
	// decoded only to find what the gateway itself must see (an error
	// report, usage), and not handed over.
	Bytes Input = iota
	// Events: the events decoded from each block (Event).
	Events
)

// Encoder writes one response stream. Calls come from one goroutine: for
// each upstream block, Raw or Event (for each of its events) as Input
// says, Heartbeat between blocks when the agent is silent, then exactly
// one of Finish or Fail. An error means the client is gone, or
// (ErrResponseTooLarge) that a buffering encoder cannot hold the answer;
// either way the caller stops the stream.
type Encoder interface {
	// ContentType is the response's Content-Type.
	ContentType() string
	// Input says whether the encoder reads the upstream bytes or the
	// decoded events.
	Input() Input
	// Buffered reports whether the encoder is holding the whole response
	// back: nothing has reached its writer yet, and nothing will before
	// Finish. Before the stream, true means "do not send the status line
	// and headers now": the encoder's single write at Finish sends them. On
	// a failure, true means the client has seen nothing, so the caller
	// answers with a status code and its JSON error instead of a terminal
	// error in the stream (calling Fail is then allowed and writes
	// nothing). Streaming encoders are never buffered.
	Buffered() bool
	// Raw receives each upstream SSE block exactly as read, when Input is
	// Bytes.
	Raw(block []byte) error
	// Event receives each event decoded from the upstream stream, when
	// Input is Events.
	Event(e event.Event) error
	// Heartbeat writes a keep-alive that clients ignore, so that idle
	// timeouts on the way (CloudFront, ALB, nginx) do not cut a stream
	// while the agent is silent. Formats that cannot carry one write
	// nothing.
	Heartbeat() error
	// Finish ends a stream that completed.
	Finish(sessionID string) error
	// Fail ends a stream with one terminal error.
	Fail(f Failure) error
}

// Announcer is implemented by an encoder whose protocol names itself in a
// response header beside Content-Type (UI's x-vercel-ai-ui-message-stream:
// v1); the gateway sets it with the other headers.
type Announcer interface {
	Announce() (header, value string)
}

// DefaultMaxBufferedBytes is the default bound on the text an OpenAIJSON
// encoder holds until Finish.
const DefaultMaxBufferedBytes = 8 << 20

// ErrResponseTooLarge is returned, wrapped, by an encoder that holds the
// whole answer (OpenAIJSON, and the Responses formats, whose closing events
// repeat it) when the answer outgrows Options.MaxBufferedBytes. A buffering
// encoder has written nothing when it is returned.
var ErrResponseTooLarge = errors.New("format: response too large to buffer")

// Options configure an Encoder. The zero value suits original and
// transformed.
type Options struct {
	// Model is the public agent name the OpenAI formats report as "model".
	Model string
	// IncludeUsage adds the usage chunk to OpenAI, as a request's
	// stream_options.include_usage asks.
	IncludeUsage bool
	// IncludeTools adds tool-input deltas to Transformed and NDJSON, which
	// leave them out by default. The OpenAI formats ignore it: tools run
	// inside the agent, and a tool_calls delta would ask the client to run
	// them. UI and AGUI ignore it too: their tool events need the tool's
	// name, which the event model does not carry.
	IncludeTools bool
	// IncludeReasoning adds reasoning deltas to Transformed and NDJSON,
	// "reasoning_content" to the OpenAI formats, reasoning parts to UI and
	// reasoning messages to AGUI, which leave them out by default.
	IncludeReasoning bool
	// ID is the response id the OpenAI formats report, such as
	// "chatcmpl-<request id>", the message id UI reports, and the stem of
	// AGUI's message ids. New generates one when it is empty.
	ID string
	// Now gives the OpenAI formats their "created" time; nil means
	// time.Now.
	Now func() time.Time
	// MaxBufferedBytes bounds the text (answer and included reasoning) that
	// OpenAIJSON holds until Finish, and the Responses formats hold for
	// their closing events; zero or less means DefaultMaxBufferedBytes.
	MaxBufferedBytes int
	// Responses is what the Responses formats' response object reports of
	// its request. The response id is ID ("resp_…"), generated when empty.
	Responses ResponsesRequest
	// AGUI is the run the AGUI format answers, and whether the agent's own
	// AG-UI events pass through.
	AGUI AGUIRun
}

// New returns the encoder for name writing to w. An unknown name gives
// Original, the pass-through.
func New(name Name, w io.Writer, opts Options) Encoder {
	switch name {
	case Transformed:
		return &transformed{w: w, shown: deltas{opts.IncludeTools, opts.IncludeReasoning}}
	case NDJSON:
		return &ndjson{w: w, shown: deltas{opts.IncludeTools, opts.IncludeReasoning}}
	case OpenAI:
		return newOpenAI(w, opts)
	case OpenAIJSON:
		return newOpenAIJSON(w, opts)
	case Responses:
		return newResponses(w, opts, true)
	case ResponsesJSON:
		return newResponses(w, opts, false)
	case UI:
		return newUI(w, opts)
	case AGUI:
		if opts.AGUI.Passthrough {
			return &aguiPassthrough{original{w: w}}
		}
		return newAGUI(w, opts)
	default:
		return &original{w: w}
	}
}

// streaming is embedded by the encoders that write as they go.
type streaming struct{}

func (streaming) Buffered() bool { return false }

// readsEvents is embedded by the encoders that read decoded events, which
// is every one but original.
type readsEvents struct{}

func (readsEvents) Input() Input     { return Events }
func (readsEvents) Raw([]byte) error { return nil }

// deltas says which kinds of delta a format shows: text always, tool input
// and reasoning when asked.
type deltas struct{ tools, reasoning bool }

func (d deltas) shows(k event.Kind) bool {
	switch k {
	case event.KindText:
		return true
	case event.KindToolUse:
		return d.tools
	case event.KindReasoning:
		return d.reasoning
	}
	return false
}

// completion returns the id and creation time the OpenAI chat formats
// report.
func (o Options) completion() (id string, created int64) {
	return o.idAndTime("chatcmpl-")
}

// response returns the id and creation time the Responses formats report.
func (o Options) response() (id string, created int64) {
	return o.idAndTime("resp_")
}

func (o Options) idAndTime(prefix string) (id string, created int64) {
	id = o.ID
	if id == "" {
		id = prefix + rand.Text()
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return id, now().Unix()
}
