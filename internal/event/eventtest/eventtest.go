// Package eventtest makes agent events for the tests of code that reads
// them: agent errors in the shapes agents send them, each naming an AWS
// resource that must never reach a client, and content deltas in every
// dialect, whose text must reach it unchanged even when it names such a
// resource too.
package eventtest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/agentgate/agentgate/internal/event"
)

// Identity is a made-up AWS resource that an error event names.
type Identity struct {
	Account string // a 12-digit account id
	Region  string
	ARN     string // a Bedrock inference profile in Account and Region
}

var regions = []string{"us-east-1", "us-west-2", "eu-central-1", "eu-west-3", "ap-northeast-1", "ap-southeast-2", "sa-east-1", "ca-central-1"}

// NewIdentity draws an identity from r.
func NewIdentity(r *rand.Rand) Identity {
	var id Identity
	id.Account = fmt.Sprintf("%012d", r.Int64N(1e12))
	id.Region = regions[r.IntN(len(regions))]
	id.ARN = fmt.Sprintf("arn:aws:bedrock:%s:%s:inference-profile/us.anthropic.claude-%d", id.Region, id.Account, r.IntN(1e6))
	return id
}

// Identifiers lists what an error naming id must not let out.
func (id Identity) Identifiers() []string { return []string{id.ARN, id.Account, id.Region} }

// Error is an agent error as one SSE event.
type Error struct {
	// Shape says what it is, for test names and failure messages.
	Shape string
	// Name is the SSE event field, "" when there is none.
	Name string
	// Data is the SSE data, on one line.
	Data []byte
}

// Block returns the error as an SSE block.
func (e Error) Block() []byte {
	var b []byte
	if e.Name != "" {
		b = append(append(append(b, "event: "...), e.Name...), '\n')
	}
	b = append(append(append(b, "data: "...), e.Data...), '\n', '\n')
	return b
}

// The exceptions of Bedrock ConverseStream's event union.
var converseExceptions = []string{"modelStreamErrorException", "internalServerException", "throttlingException", "validationException", "serviceUnavailableException"}

// errorNames are error names as services and SDKs spell them.
var errorNames = []string{"ThrottlingException", "ValidationException", "ModelStreamErrorException", "AccessDeniedException", "ServiceUnavailableException", "InternalServerError", "ModelTimeoutError", "error", "Error", "ERROR", "overloaded_error", "RUN_ERROR"}

// NewError draws an agent error naming id from r: a Bedrock ConverseStream
// exception event (with or without Strands' {"event": ...} wrapper), the
// AgentCore Python SDK's error object, AWS's query and JSON protocol error
// objects, an object with an error "code", AG-UI's RUN_ERROR and a RAW
// event carrying an exception, Anthropic's and Lambda's error objects, an
// object whose only member is an error kind, or data under an SSE event
// name that is an error name. Keys and names come in random ASCII case
// and with random \u escapes: the rule is about what a key says, not how
// it is written.
func NewError(r *rand.Rand, id Identity) Error {
	msg := errorMessage(r, id)
	name := errorNames[r.IntN(len(errorNames))]
	var shape string
	var obj object
	switch r.IntN(12) {
	case 0, 1:
		exc := converseExceptions[r.IntN(len(converseExceptions))]
		inner := object{{"message", msg}}
		if exc == "modelStreamErrorException" {
			inner = append(inner, member{"originalStatusCode", 424}, member{"originalMessage", msg})
		}
		obj = object{{exc, inner}}
		shape = "the Converse exception " + exc
		if r.IntN(2) == 0 {
			obj = object{{"event", obj}}
			shape += ", wrapped"
		}
	case 2:
		obj = object{{"error", msg}, {"error_type", name}, {"message", "An error occurred during streaming"}}
		shape = "the AgentCore SDK's error object"
	case 3:
		obj = object{{"Error", object{{"Type", "Sender"}, {"Code", name}, {"Message", msg}}}, {"RequestId", id.Account}}
		shape = "an AWS query protocol error"
	case 4:
		obj = object{{"__type", "com.amazonaws.bedrock#" + name}, {"message", msg}}
		shape = "an AWS JSON protocol error"
	case 5:
		obj = object{{"message", msg}, {"code", name}}
		shape = "an object with an error code"
	case 6:
		obj = object{{"type", "RUN_ERROR"}, {"message", msg}, {"code", name}}
		shape = "AG-UI's RUN_ERROR"
	case 7:
		exc := converseExceptions[r.IntN(len(converseExceptions))]
		obj = object{{"type", "RAW"}, {"event", object{{exc, object{{"message", msg}}}}}, {"source", "bedrock"}}
		shape = "an AG-UI RAW event carrying " + exc
	case 8:
		obj = object{{"type", "error"}, {"error", object{{"type", "overloaded_error"}, {"message", msg}}}}
		shape = "Anthropic's error event"
	case 9:
		obj = object{{"errorMessage", msg}, {"errorType", name}, {"requestId", id.Account}}
		shape = "Lambda's error object"
	case 10:
		obj = object{{name, object{{"message", msg}, {"resource", id.ARN}}}}
		shape = "an object whose kind is " + name
	default:
		e := Error{Shape: "an SSE event named " + name, Name: respell(r, name, false)}
		if r.IntN(2) == 0 {
			e.Data = []byte(msg)
		} else {
			e.Data = marshal(r, object{{"message", msg}}, true)
		}
		return e
	}
	return Error{Shape: shape, Data: marshal(r, obj, true)}
}

// errorMessage is what a service says when it fails, naming id.
func errorMessage(r *rand.Rand, id Identity) string {
	switch r.IntN(3) {
	case 0:
		return "An error occurred (ThrottlingException) when calling the ConverseStream operation: Too many requests for " + id.ARN
	case 1:
		return "User: arn:aws:sts::" + id.Account + ":assumed-role/agent/session is not authorized to perform: bedrock:InvokeModelWithResponseStream on resource: " + id.ARN
	}
	return "The model in " + id.Region + " returned an error (account " + id.Account + "): " + id.ARN
}

// ContentText draws what an assistant for AWS operators may answer:
// prose and JSON that name id, error names included. It is content, and
// must pass unchanged.
func ContentText(r *rand.Rand, id Identity) string {
	switch r.IntN(4) {
	case 0:
		return "Your profile " + id.ARN + " in " + id.Region + " is active."
	case 1:
		return "The call failed with ThrottlingException; retry against " + id.ARN + "."
	case 2:
		return `{"error": "` + id.ARN + `", "code": "ValidationException"}`
	}
	return `{"throttlingException": {"message": "account ` + id.Account + `"}}`
}

// Content returns the data of one delta of kind k carrying text, in
// dialect d's shape: for Strands (and Auto) a contentBlockDelta, wrapped in
// {"event": ...} or not; for AGUI a TEXT_MESSAGE_CONTENT, TOOL_CALL_ARGS or
// REASONING_MESSAGE_CONTENT event; for Text a JSON string, whatever k.
// Strings are written as json.dumps writes them, with or without
// ensure_ascii.
func Content(r *rand.Rand, d event.Dialect, k event.Kind, text string) []byte {
	var obj object
	switch d {
	case event.Text:
		return marshalString(nil, text, r.IntN(2) == 0)
	case event.AGUI:
		switch k {
		case event.KindToolUse:
			obj = object{{"type", "TOOL_CALL_ARGS"}, {"toolCallId", "t1"}, {"delta", text}}
		case event.KindReasoning:
			obj = object{{"type", "REASONING_MESSAGE_CONTENT"}, {"messageId", "r1"}, {"delta", text}}
		default:
			obj = object{{"type", "TEXT_MESSAGE_CONTENT"}, {"messageId", "m1"}, {"delta", text}}
		}
	default:
		var delta object
		switch k {
		case event.KindToolUse:
			delta = object{{"toolUse", object{{"input", text}}}}
		case event.KindReasoning:
			delta = object{{"reasoningContent", object{{"text", text}}}}
		default:
			delta = object{{"text", text}}
		}
		obj = object{{"contentBlockDelta", object{{"delta", delta}, {"contentBlockIndex", 0}}}}
		if r.IntN(4) != 0 {
			obj = object{{"event", obj}}
		}
	}
	return marshal(r, obj, false)
}

// object is a JSON object whose members keep their order.
type object []member

type member struct {
	key string
	val any // string, int, object
}

// marshal writes obj on one line, with Python's spacing or none. With
// respellKeys, every key is respelled.
func marshal(r *rand.Rand, obj object, respellKeys bool) []byte {
	sep, colon := ",", ":"
	if r.IntN(2) == 0 {
		sep, colon = ", ", ": "
	}
	ascii := r.IntN(2) == 0
	var write func(b []byte, o object) []byte
	write = func(b []byte, o object) []byte {
		b = append(b, '{')
		for i, m := range o {
			if i > 0 {
				b = append(b, sep...)
			}
			key := m.key
			if respellKeys {
				key = respell(r, key, true)
			}
			b = append(append(append(b, '"'), key...), '"')
			b = append(b, colon...)
			switch v := m.val.(type) {
			case string:
				if respellKeys && isNameMember(m.key) {
					b = append(append(append(b, '"'), respell(r, v, true)...), '"')
				} else {
					b = marshalString(b, v, ascii)
				}
			case int:
				b = strconv.AppendInt(b, int64(v), 10)
			case object:
				b = write(b, v)
			}
		}
		return append(b, '}')
	}
	return write(nil, obj)
}

// isNameMember reports whether a member's string value names an error's
// kind, so that respelling it keeps what it says.
func isNameMember(key string) bool {
	switch key {
	case "type", "__type", "code", "Code":
		return true
	}
	return false
}

// respell writes name, made of ASCII letters and punctuation, in random
// ASCII case and, with escapes (inside a JSON string, not an SSE field),
// with random letters as \u escapes.
func respell(r *rand.Rand, name string, escapes bool) string {
	if r.IntN(3) == 0 {
		return name
	}
	var b strings.Builder
	for _, c := range []byte(name) {
		if !isLetter(c) {
			b.WriteByte(c)
			continue
		}
		if r.IntN(3) == 0 {
			c ^= 0x20
		}
		switch {
		case !escapes || r.IntN(4) != 0:
			b.WriteByte(c)
		case r.IntN(2) == 0:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			fmt.Fprintf(&b, `\u%04X`, c)
		}
	}
	return b.String()
}

func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// marshalString appends s as a JSON string, as Python's json.dumps writes
// it: with ascii, every rune beyond ASCII as a \u escape (surrogate pairs
// above U+FFFF). Invalid UTF-8 becomes U+FFFD first.
func marshalString(b []byte, s string, ascii bool) []byte {
	s = strings.ToValidUTF8(s, "\uFFFD")
	b = append(b, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', byte(c))
		case c == '\n':
			b = append(b, `\n`...)
		case c < 0x20 || c == 0x7f:
			b = fmt.Appendf(b, `\u%04x`, c)
		case c < utf8.RuneSelf || !ascii:
			b = utf8.AppendRune(b, c)
		case c > 0xFFFF:
			c -= 0x10000
			b = fmt.Appendf(b, `\u%04x\u%04x`, 0xD800+(c>>10), 0xDC00+(c&0x3FF))
		default:
			b = fmt.Appendf(b, `\u%04x`, c)
		}
	}
	return append(b, '"')
}
