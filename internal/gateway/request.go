package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentgate/agentgate/internal/format"
)

// invocation is a decoded client request.
type invocation struct {
	prompt    string
	sessionID string
	format    format.Name
	// options tune the format: what to include, the model name.
	options format.Options
	// payload is what the agent receives: the prompt and any extra fields.
	payload []byte
	// maxTokens is the body's maxTokens, when it is a positive integer:
	// what the caller's token budget reserves for the answer. It still
	// reaches the agent, which may honour it.
	maxTokens int64
	// remember, when set, remembers the conversation once answered
	// (conversation.go).
	remember rememberFunc
}

// gatewayFields are read by the gateway and not forwarded to the agent.
var gatewayFields = []string{"runtimeSessionId", "response", "include"}

// decodeInvocation reads a POST body or GET query into an invocation. Its
// errors are *apiError with a message that names the bad field.
func (s *Server) decodeInvocation(w http.ResponseWriter, r *http.Request) (*invocation, error) {
	fields := map[string]json.RawMessage{}
	var inv invocation
	var responseField string
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		inv.prompt, inv.sessionID, responseField = q.Get("prompt"), q.Get("runtimeSessionId"), q.Get("response")
	} else {
		if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
			return nil, err
		}
		body, aerr := s.readBody(w, r, s.opts.MaxBodyBytes)
		if aerr != nil {
			return nil, aerr
		}
		if err := decodeObject(body, &fields); err != nil {
			return nil, err
		}
		if err := stringField(fields, "prompt", &inv.prompt); err != nil {
			return nil, err
		}
		if err := stringField(fields, "runtimeSessionId", &inv.sessionID); err != nil {
			return nil, err
		}
		if err := stringField(fields, "response", &responseField); err != nil {
			return nil, err
		}
		if err := decodeOptions(fields, &inv); err != nil {
			return nil, err
		}
	}
	if err := s.checkPrompt(inv.prompt, "prompt"); err != nil {
		return nil, err
	}
	if inv.sessionID == "" {
		inv.sessionID = r.Header.Get(SessionHeader)
	}
	f, err := s.pickFormat(responseField, r.Header.Get("Accept"))
	if err != nil {
		return nil, err
	}
	inv.format = f
	for _, k := range gatewayFields {
		delete(fields, k)
	}
	fields["prompt"] = marshalPlain(inv.prompt)
	inv.payload = marshalFields(fields)
	return &inv, nil
}

// decodeOptions reads the body fields that tune the answer: maxTokens,
// which the caller's token budget reserves, and include.
func decodeOptions(fields map[string]json.RawMessage, inv *invocation) error {
	if raw, ok := fields["maxTokens"]; ok {
		var n int64
		if json.Unmarshal(raw, &n) != nil || n < 0 {
			return badRequest("maxTokens: must be a whole number of tokens, 0 or more")
		}
		inv.maxTokens = n
	}
	raw, ok := fields["include"]
	if !ok {
		return nil
	}
	var include []string
	if json.Unmarshal(raw, &include) != nil {
		return badRequest(`include: must be a list of "tool_use", "reasoning"`)
	}
	for _, x := range include {
		switch x {
		case "tool_use":
			inv.options.IncludeTools = true
		case "reasoning":
			inv.options.IncludeReasoning = true
		default:
			return badRequest(fmt.Sprintf(`include: %q is not "tool_use" or "reasoning"`, x))
		}
	}
	return nil
}

// checkPrompt refuses an empty, invalid or oversized prompt.
func (s *Server) checkPrompt(prompt, field string) *apiError {
	if strings.TrimSpace(prompt) == "" {
		return badRequest(field + ": a non-empty prompt is required")
	}
	if !utf8.ValidString(prompt) {
		return badRequest(field + ": must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(prompt); n > s.opts.MaxPromptChars {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "prompt_too_long",
			Message: fmt.Sprintf("%s: %d characters, the limit is %d", field, n, s.opts.MaxPromptChars)}
	}
	return nil
}

func checkContentType(ct string) error {
	if ct == "" || ct == "application/json" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	// curl -d sends form-urlencoded unless told otherwise; the body is
	// still read as JSON, so those callers are served, not refused.
	if err == nil && (mt == "application/json" || mt == "text/plain" || mt == "application/x-www-form-urlencoded" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
		Message: "the request body must be JSON (Content-Type: application/json)"}
}

// pickFormat chooses the response format: the explicit field, else Accept,
// else the configured default.
func (s *Server) pickFormat(field, accept string) (format.Name, error) {
	if field != "" {
		f, err := format.Parse(field)
		if err != nil {
			return "", badRequest("response: " + err.Error())
		}
		return f, nil
	}
	if f, ok := format.FromAccept(accept); ok {
		return f, nil
	}
	return s.opts.DefaultFormat, nil
}

// readBody reads a request body within limit bytes and BodyTimeout.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *apiError) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		// Cleared at once: net/http reads on after the body to notice a
		// client that goes away, and a deadline there would end the
		// stream. After a failure it stays, so that net/http does not
		// wait for the rest of the body before it answers.
		_ = rc.SetReadDeadline(time.Time{})
		return body, nil
	case errors.As(err, &tooLarge):
		return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Message: fmt.Sprintf("the request body is larger than %d bytes", limit)}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, &apiError{Status: http.StatusRequestTimeout, Code: "request_timeout", Message: "the request body did not arrive in time"}
	}
	return nil, badRequest("the request body could not be read")
}

// marshalPlain encodes v without json.Marshal's HTML escaping, which writes
// each <, > and & as six bytes: a payload re-encoded with it could grow six
// times past the body limit the client was held to.
func marshalPlain(v any) []byte {
	if s, ok := v.(string); ok && plainString(s) {
		// What the encoder writes for a string it has nothing to escape in.
		return append(append(append(make([]byte, 0, len(s)+2), '"'), s...), '"')
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a string or a map of raw JSON always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
