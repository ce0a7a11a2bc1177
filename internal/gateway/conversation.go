package gateway

import (
	"context"
	"io"
	"time"

	"github.com/agentgate/agentgate/internal/event"
	"github.com/agentgate/agentgate/internal/format"
	"github.com/agentgate/agentgate/internal/session"
)

// Conversations without a session id. A chat completions client sends the
// whole conversation every turn and never sends X-Agentgate-Session-Id
// back, so without help every turn would start a new agent session. For a
// request without the header, the gateway:
//
//   - takes from the store the session remembered under the fingerprint of
//     the request's messages up to its last assistant message (one round
//     trip, only when there is one), and continues that session;
//   - else starts a new session, and sends the earlier messages to the
//     agent as the payload's "messages";
//   - after the answer, before its last bytes go out, remembers the new
//     fingerprint (every message of the request, then the answer as the
//     client was shown it) → session, for ConversationTTL (one round trip).
//
// A fingerprint is taken, not read: it stands for one point of the
// conversation, and once a turn has continued from there the agent's
// session has moved on. So a second request from the same point (an edited
// or regenerated last turn, a fork of an older one, two tabs racing) finds
// nothing and starts a new session with the history as context, never a
// session whose memory holds turns its client no longer shows.

// ConversationStore keeps which session a conversation belongs to;
// limit.Store is one.
type ConversationStore interface {
	Put(ctx context.Context, key, value string, ttl time.Duration) error
	Take(ctx context.Context, key string) (value string, found bool, err error)
}

// DefaultConversationTTL is how long a conversation's session is
// remembered after its last answer when Options.ConversationTTL is zero:
// AgentCore's default idle timeout for a session.
const DefaultConversationTTL = 15 * time.Minute

// conversationTimeout bounds one store call for a conversation: a slow
// store delays the end of an answer by at most this long.
const conversationTimeout = 2 * time.Second

// rememberFunc remembers the conversation whose answer's text answer
// digested as belonging to sessionID.
type rememberFunc func(answer *session.TextHash, sessionID string)

// continueConversation returns the session that the messages' history
// continues, or "" when the gateway remembers none, and what remembers the
// conversation once answered (nil when there is no store). A store that
// fails is logged and reads as remembering nothing: the conversation goes
// on in a new session, with its history.
func (s *Server) continueConversation(ctx context.Context, agent, principal string, msgs []chatMessage) (string, rememberFunc) {
	store := s.opts.Conversations
	if store == nil {
		return "", nil
	}
	fp := s.opts.Sessions.Conversation(principal, agent)
	var asked session.Fingerprint
	answered := false
	for _, m := range msgs {
		fp = fp.AddText(m.Role, m.text)
		if m.Role == "assistant" {
			asked, answered = fp, true
		}
	}
	remember := func(answer *session.TextHash, sessionID string) {
		cctx, cancel := context.WithTimeout(ctx, conversationTimeout)
		defer cancel()
		if err := store.Put(cctx, fp.Add("assistant", answer).Key(), sessionID, s.opts.ConversationTTL); err != nil {
			s.log.Warn("remembering a conversation failed", "id", requestID(ctx), "error", err.Error())
		}
	}
	if !answered {
		return "", remember
	}
	cctx, cancel := context.WithTimeout(ctx, conversationTimeout)
	defer cancel()
	id, found, err := store.Take(cctx, asked.Key())
	if err != nil {
		s.log.Warn("finding a conversation failed", "id", requestID(ctx), "error", err.Error())
		return "", remember
	}
	if !found || s.opts.Sessions.Check(principal, id) != nil {
		return "", remember
	}
	return id, remember
}

// encoder is the invocation's encoder, wrapped in an answerTap when its
// conversation is to be remembered.
func (in *invocation) encoder(w io.Writer) format.Encoder {
	enc := format.New(in.format, w, in.options)
	if in.remember == nil {
		return enc
	}
	return &answerTap{Encoder: enc, remember: in.remember}
}

// answerTap digests the text of an answer as its encoder shows it, and
// when the answer completes, remembers the conversation before Finish
// writes the answer's end: a client that sends its next turn the moment
// it has read this one must find it.
type answerTap struct {
	format.Encoder
	text     session.TextHash
	remember rememberFunc
}

func (a *answerTap) Event(e event.Event) error {
	if e.Kind == event.KindText {
		a.text.WriteString(e.Text)
	}
	return a.Encoder.Event(e)
}

func (a *answerTap) Finish(sessionID string) error {
	a.remember(&a.text, sessionID)
	return a.Encoder.Finish(sessionID)
}
