package stack

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/limit/limittest"
	"github.com/agentgate/agentgate/internal/testenv"
)

// durableFormat is one way to ask for a turn, and to resume it.
type durableFormat struct {
	name string
	// path and body start a turn; chat, when set, is replaced in them by a
	// fresh chat or thread id per turn.
	path, body string
	// resume is the resume route, with {session} or {chat} in it.
	resume string
	// sse says the answer is an event stream whose blocks carry ids.
	sse bool
}

var durableFormats = []durableFormat{
	{"original", "/", `{"prompt":"go","response":"original"}`, "/sessions/{session}/stream", true},
	{"transformed", "/", `{"prompt":"go","response":"transformed"}`, "/sessions/{session}/stream", false},
	{"ndjson", "/", `{"prompt":"go","response":"ndjson"}`, "/sessions/{session}/stream", false},
	{"openai", "/v1/chat/completions", `{"model":"demo","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"go {chat}"}]}`, "/sessions/{session}/stream", true},
	{"openai-json", "/v1/chat/completions", `{"model":"demo","messages":[{"role":"user","content":"go {chat}"}]}`, "/sessions/{session}/stream", false},
	{"responses", "/v1/responses", `{"model":"demo","stream":true,"input":"go"}`, "/sessions/{session}/stream", true},
	{"responses-json", "/v1/responses", `{"model":"demo","input":"go"}`, "/sessions/{session}/stream", false},
	{"ui", "/api/chat", `{"id":"{chat}","messages":[{"id":"m1","role":"user","parts":[{"type":"text","text":"go"}]}]}`, "/api/chat/{chat}/stream", true},
	{"agui", "/agui", `{"threadId":"{chat}","runId":"run-1","messages":[{"id":"m1","role":"user","content":"go"}],"tools":[],"context":[],"state":{},"forwardedProps":{}}`, "/agui/{chat}/stream", true},
}

// chattyWords is how many words the chatty model streams per turn.
const chattyWords = 40

// chattyWord matches each word the chatty model streams.
var chattyWord = regexp.MustCompile(`word-\d\d`)

// durableCase runs turns of one format against gateways (a turn starts on
// the first, each resume goes to the next in turn), cutting the client at
// random bytes, and checks what it pieced together.
type durableCase struct {
	t        *testing.T
	f        durableFormat
	gateways []string
	rng      *rand.Rand
	n        int
}

// fullAnswer runs one turn without a cut and returns its body.
func (c *durableCase) fullAnswer() []byte {
	resp, body := c.start()
	defer resp.Body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// start starts a turn on the first gateway and returns its response.
func (c *durableCase) start() (*http.Response, io.Reader) {
	c.n++
	chat := fmt.Sprintf("chat-%s-%d-%d", c.f.name, c.n, c.rng.IntN(1<<30))
	req, err := http.NewRequest("POST", c.gateways[0]+c.f.path, strings.NewReader(strings.ReplaceAll(c.f.body, "{chat}", chat)))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test-Chat", chat)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("%s: status %d: %s", c.f.name, resp.StatusCode, b)
	}
	return resp, resp.Body
}

// cutTurn runs one turn, reading it from a client cut at random bytes and
// resumed each time (on the gateways in turn), by byte position or, for an
// event stream, half the time as EventSource does: by the last id it
// dispatched, keeping only the events it had whole. It returns what the
// client pieced together, and the whole answer as the log keeps it.
func (c *durableCase) cutTurn(size int) (pieced, whole []byte, cuts int) {
	resp, body := c.start()
	chat := resp.Request.Header.Get("X-Test-Chat")
	sessionID := resp.Header.Get("X-Agentgate-Session-Id")
	resumeURL := strings.NewReplacer("{session}", sessionID, "{chat}", chat).Replace(c.f.resume)
	var got []byte
	for try := 0; ; try++ {
		if try > 20 {
			c.t.Fatalf("%s: still not at the end after %d resumes", c.f.name, try)
		}
		cut := c.rng.IntN(size + size/4 + 1) // sometimes past the end: no cut
		piece, err := io.ReadAll(io.LimitReader(body, int64(cut)))
		if err != nil {
			c.t.Fatalf("%s: reading: %v", c.f.name, err)
		}
		more, _ := io.ReadAll(io.LimitReader(body, 1))
		resp.Body.Close()
		got = append(got, piece...)
		if len(more) == 0 && len(piece) < cut {
			break // the answer ended before the cut
		}
		got = append(got, more...)
		cuts++
		header := []string{}
		if c.f.sse && c.rng.IntN(2) == 0 {
			// EventSource keeps the events it dispatched whole and sends
			// back the id of the last.
			id := lastID(got)
			got = got[:id]
			if id > 0 {
				header = []string{"Last-Event-ID", strconv.Itoa(id)}
			}
		} else {
			resumeURL = setAfter(resumeURL, len(got))
		}
		gw := c.gateways[(try+1)%len(c.gateways)]
		req, _ := http.NewRequest("GET", gw+stripAfter(resumeURL, len(header) > 0), nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		if resp, err = http.DefaultClient.Do(req); err != nil {
			c.t.Fatal(err)
		}
		if resp.StatusCode == http.StatusNoContent {
			resp.Body.Close()
			break // nothing after the position: the client had it all
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			c.t.Fatalf("%s: resume at %d on %s: status %d: %s", c.f.name, len(got), gw, resp.StatusCode, b)
		}
		body = resp.Body
	}
	// The whole answer, as kept, once the turn has ended.
	whole = c.replay(setAfter(resumeURL, 0))
	return got, whole, cuts
}

// replay reads a resume route to its end.
func (c *durableCase) replay(url string) []byte {
	resp, err := http.Get(c.gateways[0] + url)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("%s: replay %s: status %d: %s", c.f.name, url, resp.StatusCode, b)
	}
	return b
}

// lastID returns the position the last complete gateway id in b names, if
// b reaches it, else 0.
func lastID(b []byte) int {
	best := 0
	for _, m := range regexp.MustCompile(`(?m)^id: (\d+)\n`).FindAllSubmatchIndex(b, -1) {
		n, _ := strconv.Atoi(string(b[m[2]:m[3]]))
		if n <= len(b) {
			best = max(best, n)
		}
	}
	return best
}

func setAfter(url string, n int) string {
	base, _, _ := strings.Cut(url, "?")
	return base + "?after=" + strconv.Itoa(n)
}

func stripAfter(url string, strip bool) string {
	if strip {
		base, _, _ := strings.Cut(url, "?")
		return base
	}
	return url
}

// TestDurableTurnsResumeByteForByte cuts clients of every format at random
// bytes and resumes them, once or several times: what a client pieces
// together is the whole answer, byte for byte, and holds every word the
// agent streamed once, as an uninterrupted answer does.
func TestDurableTurnsResumeByteForByte(t *testing.T) {
	cfg := config.Default()
	cfg.Sessions.Key = strings.Repeat("k", 32)
	l := startWithConfig(t, cfg, LocalOptions{Provider: &chattyModel{n: chattyWords}})
	runDurable(t, []string{l.URL}, 6)
}

// runDurable runs the resume property over every format on gateways.
func runDurable(t *testing.T, gateways []string, turns int) {
	for _, f := range durableFormats {
		t.Run(f.name, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			c := &durableCase{t: t, f: f, gateways: gateways, rng: rand.New(rand.NewPCG(seed, 1))}
			ref := c.fullAnswer()
			want := chattyWord.FindAllString(string(ref), -1)
			if len(want) < chattyWords {
				t.Fatalf("an uninterrupted answer holds %d words, want at least %d: %q", len(want), chattyWords, ref)
			}
			totalCuts := 0
			for range turns {
				pieced, whole, cuts := c.cutTurn(len(ref))
				totalCuts += cuts
				if !bytes.Equal(pieced, whole) {
					t.Fatalf("after %d cuts the client pieced together %d bytes that differ from the %d of the whole answer\npieced: %q\nwhole:  %q", cuts, len(pieced), len(whole), pieced, whole)
				}
				if words := chattyWord.FindAllString(string(whole), -1); strings.Join(words, " ") != strings.Join(want, " ") {
					t.Fatalf("the resumed answer's words differ from an uninterrupted answer's:\n got %v\nwant %v", words, want)
				}
			}
			t.Logf("%d turns, %d cuts, every one resumed whole", turns, totalCuts)
		})
	}
}

// startTurn starts a transformed turn on gw and returns its session id
// and the stream of its body.
func startTurn(t *testing.T, gw string, header ...string) (string, *stream, *http.Response) {
	t.Helper()
	resp := post(t, gw+"/", `{"prompt":"hi","response":"transformed"}`, header...)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	return resp.Header.Get("X-Agentgate-Session-Id"), newStream(t, resp.Body), resp
}

func TestDurableTurnOutlivesItsClient(t *testing.T) {
	gm := &gatedModel{deltas: []string{"one ", "two ", "three"}, next: make(chan struct{})}
	l := startLocal(t, LocalOptions{Provider: gm})
	sid, s, resp := startTurn(t, l.URL)
	gm.next <- struct{}{}
	at := s.waitFor("one ", 0)
	resp.Body.Close()
	got := len(s.got)
	// Give the gateway time to see the client go: a turn tied to its
	// client would be cancelled by then, and the model would take no more.
	time.Sleep(200 * time.Millisecond)
	for _, d := range gm.deltas[1:] {
		select {
		case gm.next <- struct{}{}:
		case <-time.After(5 * time.Second):
			t.Fatalf("the model took no %q after its client left: the turn did not outlive it", d)
		}
	}
	_ = at
	r, body := do(t, "GET", l.URL+"/sessions/"+sid+"/stream?after="+strconv.Itoa(got), "")
	if r.StatusCode != http.StatusOK || r.Header.Get("X-Agentgate-Resume-From") != strconv.Itoa(got) {
		t.Fatalf("resume: status %d, from %q: %s", r.StatusCode, r.Header.Get("X-Agentgate-Resume-From"), body)
	}
	whole := append(append([]byte(nil), s.got...), body...)
	if !strings.HasPrefix(string(whole), "one two three") || !strings.Contains(string(body), `"runtimeSessionId":"`+sid+`"`) {
		t.Fatalf("the client's part %q and the resumed rest %q do not make the whole answer", s.got, body)
	}
}

func TestDurableTurnStops(t *testing.T) {
	// The median of the runs is held to 100 ms, so that one run slowed by
	// a busy machine does not fail the test; a stop that does not reach
	// the model within a second fails it at once.
	const runs, maxDelay, maxEach = 5, 100 * time.Millisecond, time.Second
	pm := &parkedModel{cancelled: make(chan time.Time, 1)}
	l := startLocal(t, LocalOptions{Provider: pm})
	for _, tc := range []struct {
		name, method, path string
		leave              bool
	}{
		{"POST stop ends a watched turn", "POST", "/sessions/%s/stop", false},
		{"POST stop ends a turn whose client left", "POST", "/sessions/%s/stop", true},
		{"DELETE of the session ends its turn", "DELETE", "/sessions/%s", false},
	} {
		t.Run(tc.name+" within "+maxDelay.String(), func(t *testing.T) {
			var took []time.Duration
			for range runs {
				sid, s, resp := startTurn(t, l.URL)
				s.waitFor(parkedDelta, 0)
				if tc.leave {
					resp.Body.Close()
					time.Sleep(50 * time.Millisecond)
				}
				start := time.Now()
				if r, b := do(t, tc.method, l.URL+fmt.Sprintf(tc.path, sid), ""); r.StatusCode != http.StatusNoContent {
					t.Fatalf("%s: status %d: %s", tc.method, r.StatusCode, b)
				}
				select {
				case ended := <-pm.cancelled:
					if d := ended.Sub(start); d > maxEach {
						t.Fatalf("a stop took %v to reach the model", d)
					} else {
						took = append(took, d)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the model was never cancelled")
				}
				if !tc.leave {
					if body := string(s.rest()); strings.Count(body, "(stopped, request id") != 1 && tc.method == "POST" {
						t.Fatalf("the watching client got %q, want one stopped terminal error", body)
					}
				}
			}
			slices.Sort(took)
			median := took[len(took)/2]
			t.Logf("of %d runs the model was cancelled %v after the stop was sent (median %v)", runs, took, median)
			if median > maxDelay {
				t.Fatalf("a stop took %v to reach the model (median of %d), want at most %v", median, runs, maxDelay)
			}
		})
	}
}

func TestDurableTurnBounds(t *testing.T) {
	cfg, keys := keyConfig(t, "alice", "bob")
	cfg.Stream.Retain = 400 * time.Millisecond
	alice, bob := []string{"X-Api-Key", keys["alice"]}, []string{"X-Api-Key", keys["bob"]}
	l := startWithConfig(t, cfg, LocalOptions{Provider: &chattyModel{n: chattyWords}})

	sid, s, _ := startTurn(t, l.URL, alice...)
	answer := s.rest()
	t.Run("only the session's principal resumes or stops it", func(t *testing.T) {
		for _, req := range [][2]string{{"GET", "/sessions/%s/stream"}, {"POST", "/sessions/%s/stop"}} {
			if r, b := do(t, req[0], l.URL+fmt.Sprintf(req[1], sid), "", bob...); r.StatusCode != http.StatusForbidden {
				t.Fatalf("bob's %s: status %d: %s", req[0], r.StatusCode, b)
			}
		}
		if r, b := do(t, "GET", l.URL+"/sessions/"+sid+"/stream", "", alice...); r.StatusCode != http.StatusOK || !bytes.Equal(b, answer) {
			t.Fatalf("alice's resume: status %d: %q, want her whole answer %q", r.StatusCode, b, answer)
		}
	})
	t.Run("positions are checked", func(t *testing.T) {
		for _, tc := range []struct {
			query, header string
			status        int
		}{
			{"?after=-1", "", 400}, {"?after=x", "", 400}, {"", "nope", 400},
			{"?after=" + strconv.Itoa(len(answer)+1), "", 416},
			{"?after=" + strconv.Itoa(len(answer)), "", 204},
		} {
			h := append([]string(nil), alice...)
			if tc.header != "" {
				h = append(h, "Last-Event-ID", tc.header)
			}
			if r, b := do(t, "GET", l.URL+"/sessions/"+sid+"/stream"+tc.query, "", h...); r.StatusCode != tc.status {
				t.Fatalf("%s %s: status %d: %s, want %d", tc.query, tc.header, r.StatusCode, b, tc.status)
			}
		}
	})
	t.Run("a resume after the retention gets 204", func(t *testing.T) {
		time.Sleep(cfg.Stream.Retain + 200*time.Millisecond)
		if r, b := do(t, "GET", l.URL+"/sessions/"+sid+"/stream", "", alice...); r.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d: %s", r.StatusCode, b)
		}
	})
}

func TestDurableTurnAbandonedAfterTheDetachedTimeout(t *testing.T) {
	cfg := config.Default()
	cfg.Stream.DetachedTimeout = 300 * time.Millisecond
	pm := &parkedModel{cancelled: make(chan time.Time, 1)}
	l := startWithConfig(t, cfg, LocalOptions{Provider: pm})
	sid, s, resp := startTurn(t, l.URL)
	s.waitFor(parkedDelta, 0)
	resp.Body.Close()
	left := time.Now()
	select {
	case ended := <-pm.cancelled:
		if d := ended.Sub(left); d < cfg.Stream.DetachedTimeout/2 {
			t.Fatalf("the model was cancelled %v after its client left, before the detached timeout of %v", d, cfg.Stream.DetachedTimeout)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the model was never cancelled")
	}
	time.Sleep(100 * time.Millisecond) // the log's end follows the cancel
	if r, b := do(t, "GET", l.URL+"/sessions/"+sid+"/stream", ""); r.StatusCode != http.StatusOK || strings.Count(string(b), "(abandoned, request id") != 1 {
		t.Fatalf("the kept answer: status %d: %q, want one abandoned terminal error", r.StatusCode, b)
	}
}

func TestDurableTurnLogCap(t *testing.T) {
	cfg := config.Default()
	cfg.Stream.MaxRetainedBytes = 300
	l := startWithConfig(t, cfg, LocalOptions{Provider: &chattyModel{n: chattyWords}})
	sid, s, _ := startTurn(t, l.URL)
	live := s.rest()
	if n := len(chattyWord.FindAllString(string(live), -1)); n != chattyWords {
		t.Fatalf("the live client got %d words of %d past the log's cap: %q", n, chattyWords, live)
	}
	r, b := do(t, "GET", l.URL+"/sessions/"+sid+"/stream", "")
	kept, tail, _ := strings.Cut(string(b), "\n[error]")
	if r.StatusCode != http.StatusOK || len(kept) > 300 || !strings.HasPrefix(string(live), kept) || !strings.Contains(tail, "resume_incomplete") {
		t.Fatalf("a resume past the cap: status %d: %q, want at most 300 bytes of the answer, then resume_incomplete", r.StatusCode, b)
	}
}

func TestTurnsNotDurable(t *testing.T) {
	l := startWithConfig(t, notDurable(), LocalOptions{Provider: &chattyModel{n: 3}})
	sid, s, _ := startTurn(t, l.URL)
	s.rest()
	if r, b := do(t, "GET", l.URL+"/sessions/"+sid+"/stream", ""); r.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d: %s", r.StatusCode, b)
	}
}

func TestUseChatResumesOnlyARunningTurn(t *testing.T) {
	l := startLocal(t, LocalOptions{Provider: &chattyModel{n: 3}})
	r, b := do(t, "POST", l.URL+"/api/chat", `{"id":"c1","messages":[{"id":"m1","role":"user","parts":[{"type":"text","text":"go"}]}]}`)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", r.StatusCode, b)
	}
	if r, b := do(t, "GET", l.URL+"/api/chat/c1/stream", ""); r.StatusCode != http.StatusNoContent {
		t.Fatalf("useChat's resume on load after the turn ended: status %d: %s, want 204", r.StatusCode, b)
	}
	if r, got := do(t, "GET", l.URL+"/api/chat/c1/stream", "", "Last-Event-ID", "0"); r.StatusCode != http.StatusOK || !bytes.Equal(got, b) {
		t.Fatalf("a resume that names its position: status %d: %q, want the answer %q", r.StatusCode, got, b)
	}
}

// sharedTurnStores lists the shared stores turn logs live in, each with a
// setup that starts it for a test and says how gateways reach it.
var sharedTurnStores = []struct {
	name  string
	setup func(t *testing.T) func(*config.Config)
}{
	{"redis", func(t *testing.T) func(*config.Config) {
		addr := startRedis(t)
		return func(c *config.Config) {
			c.Limits.Store = "redis"
			c.Limits.Redis.Addr = addr
			c.Limits.Redis.Prefix = t.Name() + ":"
		}
	}},
	{"dynamodb", func(t *testing.T) func(*config.Config) {
		endpoint, table := limittest.Table(t)
		return func(c *config.Config) {
			c.Limits.Store = "dynamodb"
			c.Limits.DynamoDB.Table = table
			c.Limits.DynamoDB.Endpoint = endpoint
		}
	}},
}

// TestDurableTurnsResumeOnAnotherInstance runs the resume property with
// two gateway instances sharing a store: each resume lands on the other
// instance, which tails the log the first is still writing.
func TestDurableTurnsResumeOnAnotherInstance(t *testing.T) {
	for _, st := range sharedTurnStores {
		t.Run(st.name, func(t *testing.T) {
			shared := st.setup(t)
			cfg := config.Default()
			cfg.Sessions.Key = strings.Repeat("k", 32)
			l := startWithConfig(t, cfg, LocalOptions{Provider: &chattyModel{n: chattyWords}})
			runDurable(t, []string{gatewayWith(t, l, shared), gatewayWith(t, l, shared)}, 3)
		})
	}
}

// TestDurableTurnsChaos runs 200 turns in every format across two
// instances sharing Redis, eight at a time, each cut at random bytes and
// resumed on the other instance, then checks that no byte was lost or
// repeated, and that goroutines and the heap went back to where they were.
func TestDurableTurnsChaos(t *testing.T) {
	testenv.Slow(t)
	const turns, workers = 200, 8
	shared := sharedTurnStores[0].setup(t)
	cfg := config.Default()
	cfg.Sessions.Key = strings.Repeat("k", 32)
	l := startWithConfig(t, cfg, LocalOptions{Provider: &chattyModel{n: chattyWords}})
	gateways := []string{gatewayWith(t, l, shared), gatewayWith(t, l, shared)}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	sizes := map[string]int{}
	words := map[string]string{}
	for _, f := range durableFormats {
		c := &durableCase{t: t, f: f, gateways: gateways, rng: rand.New(rand.NewPCG(seed, 0))}
		ref := c.fullAnswer()
		sizes[f.name], words[f.name] = len(ref), strings.Join(chattyWord.FindAllString(string(ref), -1), " ")
	}
	settle := func() (int, uint64) {
		http.DefaultClient.CloseIdleConnections()
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return runtime.NumGoroutine(), m.HeapAlloc
	}
	// Warm the connection pools (to the agent, to Redis) to the turns'
	// concurrency first: their idle connections are not a leak.
	var warm sync.WaitGroup
	for w := range workers {
		warm.Go(func() {
			c := &durableCase{t: t, f: durableFormats[w%len(durableFormats)], gateways: gateways[w%2:], rng: rand.New(rand.NewPCG(seed, 0))}
			resp, body := c.start()
			io.Copy(io.Discard, body)
			resp.Body.Close()
		})
	}
	warm.Wait()
	goroutines, heap := settle()

	var checked, cuts atomic.Int64
	t.Run("turns", func(t *testing.T) {
		for w := range workers {
			t.Run(strconv.Itoa(w), func(t *testing.T) {
				t.Parallel()
				rng := rand.New(rand.NewPCG(seed, uint64(w)+1))
				for range turns / workers {
					f := durableFormats[rng.IntN(len(durableFormats))]
					c := &durableCase{t: t, f: f, gateways: gateways, rng: rng}
					pieced, whole, n := c.cutTurn(sizes[f.name])
					if !bytes.Equal(pieced, whole) {
						t.Fatalf("%s: after %d cuts the client pieced together %d bytes that differ from the %d kept", f.name, n, len(pieced), len(whole))
					}
					if got := strings.Join(chattyWord.FindAllString(string(whole), -1), " "); got != words[f.name] {
						t.Fatalf("%s: the words differ from an uninterrupted answer's:\n got %s\nwant %s", f.name, got, words[f.name])
					}
					checked.Add(int64(len(whole)))
					cuts.Add(int64(n))
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	t.Logf("%d turns, %d cuts, %d bytes: none lost, none repeated", turns, cuts.Load(), checked.Load())

	var afterG int
	var afterHeap uint64
	for range 25 {
		if afterG, afterHeap = settle(); afterG <= goroutines+2 {
			break
		}
	}
	t.Logf("goroutines %d before, %d after; heap %.1f MB before, %.1f MB after", goroutines, afterG, mb(int64(heap)), mb(int64(afterHeap)))
	if afterG > goroutines+2 {
		var stacks bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		t.Errorf("%d goroutines after the turns, %d before:\n%s", afterG, goroutines, stacks.String())
	}
	if afterHeap > heap+8<<20 {
		t.Errorf("the heap holds %.1f MB after the turns, %.1f MB before", mb(int64(afterHeap)), mb(int64(heap)))
	}
}

// TestUseChatResumesATurnItsPageLeft runs the AI SDK's own chat engine as
// a page reloaded in the middle of an answer: the first page's request
// goes away after a few bytes; the new page's resumeStream, what
// useChat({resume: true}) calls on mount, gets the running turn and
// assembles the whole answer, each word once.
func TestUseChatResumesATurnItsPageLeft(t *testing.T) {
	// The turn lasts 2 s: node starts and the new page mounts within it.
	l := startLocal(t, LocalOptions{Provider: &chattyModel{n: chattyWords, pace: 50 * time.Millisecond}})
	resp := post(t, l.URL+"/api/chat", `{"id":"reloaded","messages":[{"id":"m1","role":"user","parts":[{"type":"text","text":"go"}]}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	s := newStream(t, resp.Body)
	s.waitFor("word-01", 0)
	resp.Body.Close() // the page reloads

	res := chatWith(t, l.URL, uiChatScenario{API: "/api/chat", ID: "reloaded", Turns: []string{}, Resume: true})
	if res.Resumed == nil || !*res.Resumed || res.ResumedText == nil {
		t.Fatalf("resumeStream on mount did not pick up the running turn: %+v", res)
	}
	words := chattyWord.FindAllString(*res.ResumedText, -1)
	if len(words) != chattyWords || words[0] != "word-00" || words[chattyWords-1] != fmt.Sprintf("word-%02d", chattyWords-1) {
		t.Fatalf("the resumed message reads %q, want the %d words once each", *res.ResumedText, chattyWords)
	}
}
