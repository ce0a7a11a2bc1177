package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/model"
	"github.com/agentgate/agentgate/internal/telemetry"
)

// Outcomes, as logged.
const (
	outcomeOK            = "ok"
	outcomeRejected      = "rejected"
	outcomeProviderError = "provider_error"
	outcomeClientGone    = "client_gone"
)

// statusClientGone is logged, never sent, for a client that left before its
// stream started (nginx's convention).
const statusClientGone = 499

// Stream error classification and text. The text is generic on purpose:
// provider errors can carry endpoint URLs and account ids, which go to the
// log instead.
const (
	errorTypeProvider = "ModelProviderError"
	errorTextProvider = "the model provider failed"
)

// record collects what the one log line of an invocation says.
type record struct {
	start   time.Time
	first   time.Time // of the first text delta
	session string
	status  int
	outcome string
	deltas  int
	usage   model.Usage
	err     error
}

// invoke is the life of one POST /invocations: read the prompt, take the
// session, stream the reply, then record the exchange in the session.
func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rec := &record{start: s.now(), session: r.Header.Get(SessionHeader)}
	defer s.logInvocation(ctx, rec)
	if rec.session != "" {
		w.Header().Set(SessionHeader, rec.session)
	}

	inv, bad := s.readInvocation(w, r, rec.session)
	if bad != nil {
		rec.status, rec.outcome = bad.status, outcomeRejected
		writeError(w, bad.status, bad.msg)
		return
	}
	// Busy from here: a call waiting for its session is work in progress
	// too, and the platform must not reclaim the session under it.
	defer s.busy()()
	if s.cfg.Metrics != nil {
		defer s.cfg.Metrics.Started()()
	}

	var history, turn []model.Message
	if rec.session != "" {
		sess, err := s.sessions.acquire(ctx, rec.session)
		if err != nil {
			rec.status, rec.outcome = statusClientGone, outcomeClientGone
			return
		}
		// Deferred so that a panicking provider cannot leave the session
		// locked; turn stays nil unless the reply reached the client whole.
		defer func() { s.sessions.release(sess, turn...) }()
		history = sess.messages()
	}
	// A conversation the caller brings along starts a session that holds
	// none, and the session keeps it with the turn.
	var brought []model.Message
	if len(history) == 0 {
		brought = lastMessages(inv.History, s.cfg.MaxMessages)
		history = brought
	}

	dia, _ := newDialect(inv.Dialect, rec.session) // checked by readInvocation
	user := model.Message{Role: model.RoleUser, Text: inv.Prompt}
	req := model.Request{System: s.cfg.System, Messages: append(slices.Clip(history), user), MaxTokens: inv.MaxTokens, Caller: callerOf(r.Header)}
	rec.status = http.StatusOK
	// An empty reply is not kept: Bedrock refuses empty text blocks, so
	// it would break every later call in the session.
	if reply, ok := s.stream(ctx, startSSE(w), dia, req, rec); ok && reply != "" {
		turn = append(slices.Clip(brought), user, model.Message{Role: model.RoleAssistant, Text: reply})
	}
}

// stream runs the provider and writes its reply as events. It reports the
// reply's text and whether the client got all of it.
func (s *Server) stream(ctx context.Context, out *sse, dia dialect, req model.Request, rec *record) (reply string, ok bool) {
	if err := dia.begin(out); err != nil {
		rec.outcome = outcomeClientGone
		return "", false
	}

	var text strings.Builder
	// A provider may emit from a goroutine of its own, even (if buggy)
	// after Stream returns; mu and closed keep those writes off a
	// ResponseWriter that ServeHTTP has given back.
	var mu sync.Mutex
	closed := false
	emit := func(delta string) error {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return errors.New("agent: emit called after Stream returned")
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		text.WriteString(delta)
		if rec.deltas == 0 {
			rec.first = s.now()
		}
		rec.deltas++
		return dia.text(out, delta)
	}
	began := s.now()
	res, err := s.cfg.Provider.Stream(ctx, req, emit)
	latency := s.now().Sub(began)
	mu.Lock()
	closed = true
	mu.Unlock()

	if err != nil {
		s.fail(ctx, out, dia, rec, err)
		return "", false
	}
	rec.usage = res.Usage
	if rec.usage.TotalTokens == 0 {
		rec.usage.TotalTokens = rec.usage.InputTokens + rec.usage.OutputTokens
	}
	stopReason := res.StopReason
	if stopReason == "" {
		stopReason = "end_turn"
	}
	if err := dia.end(out, stopReason, rec.usage, latency); err != nil {
		rec.outcome = outcomeClientGone
		return "", false
	}
	if ctx.Err() != nil {
		// The provider finished but the client had already gone: it did not
		// see this reply, so the session must not remember it.
		rec.outcome = outcomeClientGone
		return "", false
	}
	rec.outcome = outcomeOK
	return text.String(), true
}

// fail ends a started stream after a provider error, with the error event
// the AgentCore Python SDK writes, unless the client is the one that went.
func (s *Server) fail(ctx context.Context, out *sse, dia dialect, rec *record, err error) {
	if errors.Is(err, errWrite) || ctx.Err() != nil {
		rec.outcome = outcomeClientGone
		return
	}
	rec.outcome, rec.err = outcomeProviderError, err
	// The stream is over either way; a failed write here only means the
	// client left at the same moment.
	_ = dia.fail(out)
}

// callerOf reads who is asking from the custom headers agentgate's gateway
// sends (identity): the principal, its kind, and every other custom header
// as a detail named after it, such as a forwarded claim. AgentCore passes
// on only the custom headers the runtime allow-lists, from whoever may
// invoke it: the agent believes them as far as it trusts those callers.
func callerOf(h http.Header) model.Caller {
	c := model.Caller{Principal: h.Get(identity.PrincipalHeader), Kind: h.Get(identity.PrincipalKindHeader)}
	for name, values := range h {
		if !identity.IsCustom(name) || strings.EqualFold(name, identity.PrincipalHeader) || strings.EqualFold(name, identity.PrincipalKindHeader) {
			continue
		}
		c.Details = append(c.Details, model.Detail{Name: name[len(identity.HeaderPrefix):], Value: strings.Join(values, ", ")})
	}
	slices.SortFunc(c.Details, func(a, b model.Detail) int { return strings.Compare(a.Name, b.Name) })
	return c
}

// requestError is a request refused before its stream starts.
type requestError struct {
	status int
	msg    string
}

// readInvocation reads and checks the body and the session id.
func (s *Server) readInvocation(w http.ResponseWriter, r *http.Request, sessionID string) (invocation, *requestError) {
	if len(sessionID) > maxSessionIDLen {
		return invocation{}, &requestError{http.StatusBadRequest, fmt.Sprintf("%s is longer than %d characters", SessionHeader, maxSessionIDLen)}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return invocation{}, &requestError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", s.cfg.MaxBodyBytes)}
		}
		return invocation{}, &requestError{http.StatusBadRequest, "body could not be read"}
	}
	inv, err := parseInvocation(body)
	if err != nil {
		return invocation{}, &requestError{http.StatusBadRequest, err.Error()}
	}
	return inv, nil
}

// invocation is the body of POST /invocations.
type invocation struct {
	Prompt string
	// Dialect is the shape to stream in: strands (default), text, agui.
	Dialect string
	// MaxTokens caps the reply; 0 leaves the configured cap.
	MaxTokens int
	// History is the conversation before the prompt that the caller
	// brought, for a session that holds none (payload.go).
	History []model.Message
	// Fields holds every top-level member, prompt included, for the
	// features that will read more of them (such as a "dialect").
	Fields map[string]json.RawMessage
}

// parseInvocation decodes a body. Its errors are fit for the client.
func parseInvocation(body []byte) (invocation, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return invocation{}, errors.New("body must be a JSON object")
		}
		return invocation{}, errors.New("body is not valid JSON")
	}
	if fields == nil { // the body was null
		return invocation{}, errors.New("body must be a JSON object")
	}
	raw, ok := fields["prompt"]
	if !ok {
		return invocation{}, errors.New("prompt is required")
	}
	var prompt string
	if string(raw) == "null" || json.Unmarshal(raw, &prompt) != nil {
		return invocation{}, errors.New("prompt must be a string")
	}
	if strings.TrimSpace(prompt) == "" {
		return invocation{}, errors.New("prompt must not be empty")
	}
	d, err := dialectField(fields)
	if err != nil {
		return invocation{}, err
	}
	if _, err := newDialect(d, ""); err != nil {
		return invocation{}, err
	}
	maxTokens, err := maxTokensField(fields)
	if err != nil {
		return invocation{}, err
	}
	history, err := historyField(fields)
	if err != nil {
		return invocation{}, err
	}
	return invocation{Prompt: prompt, Dialect: d, MaxTokens: maxTokens, History: history, Fields: fields}, nil
}

// logInvocation writes the invocation's one log line. It never holds the
// prompt or the reply.
func (s *Server) logInvocation(ctx context.Context, rec *record) {
	duration := s.now().Sub(rec.start)
	var firstDelta time.Duration
	if !rec.first.IsZero() {
		firstDelta = rec.first.Sub(rec.start)
	}
	if m := s.cfg.Metrics; m != nil {
		m.Invocation(telemetry.Invocation{Provider: s.cfg.Provider.Name(), Status: rec.status, Outcome: rec.outcome,
			FirstDelta: firstDelta, Duration: duration, Deltas: rec.deltas,
			InputTokens: rec.usage.InputTokens, OutputTokens: rec.usage.OutputTokens})
	}
	level := slog.LevelInfo
	attrs := []slog.Attr{
		slog.String("session", truncateID(rec.session)),
		slog.String("provider", s.cfg.Provider.Name()),
		slog.Int("status", rec.status),
		slog.String("outcome", rec.outcome),
		slog.Int("deltas", rec.deltas),
		slog.Int("input_tokens", rec.usage.InputTokens),
		slog.Int("output_tokens", rec.usage.OutputTokens),
		slog.Int("total_tokens", rec.usage.TotalTokens),
		slog.Duration("first_delta", firstDelta),
		slog.Duration("duration", duration),
	}
	if rec.err != nil {
		// The client saw a generic error; the cause is only here.
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", rec.err.Error()))
	}
	s.log.LogAttrs(ctx, level, "invocation", attrs...)
}

// truncateID shortens a session id for the log: enough to correlate lines,
// not the whole id that routes to the session.
func truncateID(id string) string {
	const keep = 8
	if len(id) <= keep {
		return id
	}
	return id[:keep] + "…"
}
