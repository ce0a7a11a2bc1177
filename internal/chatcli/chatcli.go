// Package chatcli is `agentgate chat`: a terminal client that sends each
// line the user types to an agent through the gateway, prints the answer
// as it streams (the ndjson format), wrapped at the terminal's width on
// word boundaries, keeps the conversation's session id across turns, and
// lets an interrupt stop the answer being printed without ending the
// program. Lines that start with a slash and name one of its commands
// (/help lists them) are for the client, not the agent.
package chatcli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SessionHeader carries the runtime session id (the gateway's name for it).
const SessionHeader = "X-Agentgate-Session-Id"

// Options is the client's whole configuration.
type Options struct {
	// URL is the gateway's base URL, like http://127.0.0.1:8080.
	URL string
	// Agent is the public agent name; empty picks the gateway's default.
	Agent string
	// APIKey, when set, authenticates every request.
	APIKey string
	// User and Password, when both set and APIKey is not, sign in through
	// POST /auth/login.
	User, Password string
	// Stdin carries the user's lines; Stdout the answers; Stderr prompts
	// for credentials and errors.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// ReadSecret reads a password or key without echo (a terminal); nil
	// reads a line of Stdin.
	ReadSecret func(prompt string) (string, error)
	// Interrupts, when set, is called once signed in and returns the
	// channel whose receives stop the answer streaming; at the prompt they
	// only remind how to leave. Called that late, it leaves an interrupt
	// during sign-in its default effect: ending the program.
	Interrupts func() <-chan struct{}
	// Width, when set, returns the width of the terminal Stdout writes to,
	// in columns: the text is wrapped to it on word boundaries, so the
	// terminal never breaks a word. It is asked again for each answer, so
	// a resized window is followed. Nil, or a width of 0, wraps nothing.
	Width func() int
	// HTTPClient defaults to one without a timeout: answers stream for as
	// long as the agent talks.
	HTTPClient *http.Client
}

// ErrUnauthorized is returned when the gateway refuses the credentials.
var ErrUnauthorized = errors.New("the gateway refused the credentials")

// APIError is the gateway's error answer.
type APIError struct {
	Status     int
	Code       string `json:"code"`
	Message    string `json:"message"`
	RequestID  string `json:"requestId"`
	RetryAfter time.Duration
	// basic: the 401 offered ID/password sign-in.
	basic bool
}

func (e *APIError) Error() string {
	s := e.Message
	if s == "" {
		s = http.StatusText(e.Status)
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf("; retry in %s", e.RetryAfter)
	}
	if e.Code != "" {
		s += " (" + e.Code
		if e.RequestID != "" {
			s += ", request " + e.RequestID
		}
		s += ")"
	}
	return s
}

// client holds one chat's state: credentials, agent and session.
type client struct {
	o       Options
	base    *url.URL
	header  http.Header
	agent   string
	mu      sync.Mutex // guards session, which a stop reads
	session string
	lines   *bufio.Reader
	// interrupt is nil (never ready) until signed in.
	interrupt <-chan struct{}
}

// Run chats until Stdin ends, the user types /quit or ctx ends. It fails
// when the gateway cannot be reached or refuses the credentials.
func Run(ctx context.Context, o Options) error {
	base, err := url.Parse(strings.TrimRight(o.URL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("--url %q: want the gateway's base URL, like http://127.0.0.1:8080", o.URL)
	}
	if o.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		defer tr.CloseIdleConnections()
		o.HTTPClient = &http.Client{Transport: tr}
	}
	if o.Stdin == nil {
		o.Stdin = strings.NewReader("")
	}
	c := &client{o: o, base: base, header: http.Header{}, lines: bufio.NewReader(o.Stdin)}
	if err := c.signIn(ctx); err != nil {
		return err
	}
	if o.Interrupts != nil {
		c.interrupt = o.Interrupts()
	}
	c.say(fmt.Sprintf("Chatting with %q at %s. Ctrl-C stops an answer; /help lists the commands; Ctrl-D or /quit leaves.\n", c.agent, o.URL))
	return c.loop(ctx)
}

// help lists the commands.
const help = `Commands:
  /new    start a new conversation: the agent forgets this one
  /quit   leave (Ctrl-D does too; /exit is the same)
  /help   list these commands
Ctrl-C stops an answer. Any other line is sent to the agent.
`

// say prints text for the user, wrapped to the terminal.
func (c *client) say(text string) {
	w := newWrapper(c.o.Stdout, c.width())
	_ = w.WriteString(text)
	_ = w.Flush()
}

func (c *client) width() int {
	if c.o.Width == nil {
		return 0
	}
	return c.o.Width()
}

// loop reads the user's lines one at a time, on another goroutine, so
// that an interrupt or the end of ctx is seen while it waits for one.
func (c *client) loop(ctx context.Context) error {
	type line struct {
		text string
		err  error
	}
	lines := make(chan line)
	next := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(lines)
		for range next {
			s, err := c.lines.ReadString('\n')
			select {
			case lines <- line{s, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer close(next)
	for {
		fmt.Fprint(c.o.Stdout, "> ")
		next <- struct{}{}
		var l line
		for read := false; !read; {
			select {
			case <-ctx.Done():
				return nil
			case <-c.interrupt:
				fmt.Fprint(c.o.Stdout, "\n(Ctrl-D or /quit leaves)\n> ")
			case l = <-lines:
				read = true
			}
		}
		text := strings.TrimSpace(l.text)
		switch {
		case text == "/quit" || text == "/exit":
			return nil
		case text == "/new":
			c.session = ""
			fmt.Fprintln(c.o.Stdout, "(new conversation)")
		case text == "/help":
			c.say(help)
		case text != "":
			if err := c.turn(ctx, text); err != nil {
				return err
			}
		}
		if l.err != nil {
			if !errors.Is(l.err, io.EOF) {
				return l.err
			}
			if l.text != "" || text == "" {
				fmt.Fprintln(c.o.Stdout)
			}
			return nil
		}
	}
}

// turn sends one prompt and prints the answer as it streams. Errors the
// user can act on are printed and the chat goes on; refused credentials
// end it.
func (c *client) turn(ctx context.Context, prompt string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	ans := &answer{out: newWrapper(c.o.Stdout, c.width())}
	done, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-c.interrupt:
			// The printing stops first, so that no word of the answer
			// follows the note; then the call.
			ans.stop(fmt.Sprintf("\n[stopped after %s]\n", round(time.Since(start))))
			cancel()
		case <-done:
		}
	}()
	res, err := c.invoke(ctx, prompt, start, ans)
	close(done)
	<-watched
	if ans.stopped {
		// The gateway keeps a turn running when its client goes, so
		// that it can resume: the turn is stopped by name.
		c.stopTurn()
		return nil
	}
	if ferr := ans.out.Flush(); err == nil {
		err = ferr
	}
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized:
		return fmt.Errorf("%w: %v", ErrUnauthorized, apiErr)
	case errors.As(err, &apiErr) && res.wrote:
		ans.note(fmt.Sprintf("\n[error: %v]\n", apiErr))
	case err != nil && ctx.Err() == nil:
		if res.wrote {
			ans.note("\n")
		}
		fmt.Fprintf(c.o.Stderr, "error: %v\n", err)
	case err == nil:
		ans.note(fmt.Sprintf("\n[%s]\n", res.summary(time.Since(start))))
	}
	return nil
}

// answer is where one turn's text goes: to the terminal, wrapped, until
// the user stops it.
type answer struct {
	// stopping is set as soon as the user stops the answer, before stop
	// waits for a write in progress: no write starts after it.
	stopping atomic.Bool
	mu       sync.Mutex
	out      *wrapper
	stopped  bool
}

// errStopped ends an answer the user stopped.
var errStopped = errors.New("the answer was stopped")

// write prints text, or, once the answer is stopped, nothing
// (errStopped).
func (a *answer) write(text string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopping.Load() {
		return errStopped
	}
	return a.out.WriteString(text)
}

// stop ends the answer where it is, with note after it: nothing written
// afterwards is printed. Text still on its way when the user pressed
// Ctrl-C is thrown away rather than printed after the note.
func (a *answer) stop(note string) {
	a.stopping.Store(true)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = true
	a.note(note)
}

// note prints what the client says after the answer, wrapped as it is.
func (a *answer) note(text string) {
	_ = a.out.Flush()
	_ = a.out.WriteString(text)
	_ = a.out.Flush()
}

type usage struct {
	InputTokens  int64 `json:"inputTokens"`
	OutputTokens int64 `json:"outputTokens"`
}

// result is what a turn printed and learnt.
type result struct {
	wrote     bool
	firstText time.Duration
	usage     *usage
}

func (r result) summary(total time.Duration) string {
	var parts []string
	if r.usage != nil {
		parts = append(parts, fmt.Sprintf("%d in / %d out tokens", r.usage.InputTokens, r.usage.OutputTokens))
	} else {
		parts = append(parts, "no usage reported")
	}
	if r.wrote {
		parts = append(parts, "first text "+round(r.firstText).String())
	}
	parts = append(parts, round(total).String()+" total")
	return strings.Join(parts, " · ")
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

// invoke streams one answer to ans. The time to the first text counts
// from start, when the user sent the prompt.
func (c *client) invoke(ctx context.Context, prompt string, start time.Time, ans *answer) (result, error) {
	var res result
	body := map[string]string{"prompt": prompt, "response": "ndjson"}
	if id := c.sessionID(); id != "" {
		body["runtimeSessionId"] = id
	}
	b, _ := json.Marshal(body)
	resp, err := c.do(ctx, http.MethodPost, "/agents/"+url.PathEscape(c.agent)+"/invocations", b)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return res, readError(resp)
	}
	if id := resp.Header.Get(SessionHeader); id != "" {
		c.setSession(id)
	}
	var ended bool
	rb := &resumingBody{c: c, ctx: ctx, body: resp.Body, ended: func() bool { return ended }, notice: ans.note}
	defer func() { rb.body.Close() }()
	sc := bufio.NewScanner(rb)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev struct {
			Type  string    `json:"type"`
			Text  string    `json:"text"`
			ID    string    `json:"id"`
			Usage *usage    `json:"usage"`
			Error *APIError `json:"error"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			return res, fmt.Errorf("the gateway sent a line that is not JSON: %.80q", line)
		}
		switch ev.Type {
		case "text":
			if !res.wrote {
				res.wrote, res.firstText = true, time.Since(start)
			}
			if err := ans.write(ev.Text); err != nil {
				return res, err
			}
		case "usage":
			res.usage = ev.Usage
		case "session":
			if ev.ID != "" {
				c.setSession(ev.ID)
			}
			ended = true
		case "error":
			if ev.Error == nil {
				ev.Error = &APIError{Message: "the answer failed"}
			}
			res.wrote = true // the error is printed after the text
			return res, ev.Error
		}
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("the answer was cut off: %w", err)
	}
	return res, nil
}

func (c *client) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, r)
	if err != nil {
		return nil, err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/x-ndjson, application/json")
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot reach the gateway: %w", err)
	}
	return resp, nil
}

// readError reads the gateway's {"error":{...}} answer.
func readError(resp *http.Response) *APIError {
	var body struct{ Error APIError }
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	e := body.Error
	e.Status = resp.StatusCode
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Request-Id")
	}
	return &e
}

func (c *client) setSession(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.session = id
}

func (c *client) sessionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// stopTurn asks the gateway to stop the session's running turn.
func (c *client) stopTurn() {
	id := c.sessionID()
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if resp, err := c.do(ctx, http.MethodPost, c.sessionPath(id)+"/stop", nil); err == nil {
		resp.Body.Close()
	}
}

func (c *client) sessionPath(id string) string {
	return "/agents/" + url.PathEscape(c.agent) + "/sessions/" + url.PathEscape(id)
}

// resumeTries bounds how many times in a row a dropped answer is asked
// for again, resumeDelay how long apart.
const resumeTries = 8

func resumeDelay(try int) time.Duration {
	return min(250*time.Millisecond<<(try-1), 4*time.Second)
}

// resumingBody reads an answer's body and, when the connection drops
// before the answer's end, asks the gateway for the rest from the byte it
// reached, which continues the body exactly.
type resumingBody struct {
	c      *client
	ctx    context.Context
	body   io.ReadCloser
	read   int64
	ended  func() bool // the answer's last line was read
	notice func(string)
}

func (b *resumingBody) Read(p []byte) (int, error) {
	for try := 0; ; {
		n, err := b.body.Read(p)
		b.read += int64(n)
		if n > 0 || err == nil {
			return n, nil
		}
		id := b.c.sessionID()
		if b.ended() || b.ctx.Err() != nil || id == "" || try == resumeTries {
			return 0, err
		}
		try++
		b.notice("\n[reconnecting…]\n")
		select {
		case <-time.After(resumeDelay(try)):
		case <-b.ctx.Done():
			return 0, b.ctx.Err()
		}
		resp, rerr := b.c.do(b.ctx, http.MethodGet, b.c.sessionPath(id)+"/stream?after="+strconv.FormatInt(b.read, 10), nil)
		switch {
		case rerr != nil:
			continue // the next try reads this error again
		case resp.StatusCode == http.StatusNoContent:
			resp.Body.Close()
			return 0, errors.New("the rest of the answer is no longer kept")
		case resp.StatusCode >= 500:
			resp.Body.Close()
			continue
		case resp.StatusCode/100 != 2:
			e := readError(resp)
			resp.Body.Close()
			return 0, e
		}
		b.body.Close()
		b.body = resp.Body
	}
}
