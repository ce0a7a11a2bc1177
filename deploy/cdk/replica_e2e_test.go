package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
)

// replicaGateway is the gateway section the replica deploys: the local
// runtime as the default agent, one API key.
const replicaGateway = `defaultAgent: demo
agents:
  demo:
    arn: {{ARN}}
auth:
  apiKeys:
    - name: replica
      hash: {{KEYHASH}}
network:
  trustedProxies: ["0.0.0.0/0", "::/0"]
limits:
  maxBodyBytes: 1048576
`

func replicaPost(t *testing.T, url, body string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestReplicaStreamsEveryFormatEventByEvent: through the whole replica, an
// answer arrives in pieces at the agent's pace while the agent writes it,
// in every streamed format, and nothing of the upstream's identity reaches
// the viewer. The per-event latency is measured as the gaps between the
// reads that brought the answer: with the agent writing a delta every
// delay, a buffered hop would bring it in one piece, or in bursts whose
// median gap is near zero.
func TestReplicaStreamsEveryFormatEventByEvent(t *testing.T) {
	const delay = 120 * time.Millisecond
	rp := startReplica(t, delay, replicaGateway)
	for _, tc := range []struct{ format, path, body string }{
		{"original", "/", `{"prompt":"tell me a story","response":"original"}`},
		{"transformed", "/", `{"prompt":"tell me a story","response":"transformed"}`},
		{"ndjson", "/", `{"prompt":"tell me a story","response":"ndjson"}`},
		{"openai", "/v1/chat/completions", `{"model":"demo","stream":true,"messages":[{"role":"user","content":"tell me a story"}]}`},
		{"responses", "/v1/responses", `{"model":"demo","stream":true,"input":"tell me a story"}`},
		{"ui", "/api/chat", `{"id":"replica-chat","messages":[{"id":"m1","role":"user","parts":[{"type":"text","text":"tell me a story"}]}],"trigger":"submit-message"}`},
		{"agui", "/agui", `{"threadId":"replica-thread","runId":"run-1","messages":[{"id":"m1","role":"user","content":"tell me a story"}],"tools":[],"context":[],"state":{},"forwardedProps":{}}`},
	} {
		t.Run(tc.format, func(t *testing.T) {
			began := time.Now()
			resp := replicaPost(t, rp.url+tc.path, tc.body, "X-Api-Key", rp.apiKey)
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			var body []byte
			var arrivals []time.Time
			buf := make([]byte, 64<<10)
			for {
				n, err := resp.Body.Read(buf)
				if n > 0 {
					body = append(body, buf[:n]...)
					arrivals = append(arrivals, time.Now())
				}
				if err != nil {
					break
				}
			}
			var gaps []time.Duration
			for i := 1; i < len(arrivals); i++ {
				gaps = append(gaps, arrivals[i].Sub(arrivals[i-1]))
			}
			slices.Sort(gaps)
			if len(gaps) < 3 || gaps[len(gaps)/2] < delay/2 {
				t.Errorf("%d reads, median gap %v: the answer was held back, not streamed at the agent's pace (%v)", len(arrivals), median(gaps), delay)
			}
			t.Logf("%s: first byte after %v, %d reads, median gap %v (agent: one delta per %v)",
				tc.format, arrivals[0].Sub(began).Round(time.Millisecond), len(arrivals), median(gaps), delay)
			leaks(t, rp, resp.Header, body)
			if resp.Header.Get("Strict-Transport-Security") == "" || resp.Header.Get("X-Amz-Cf-Id") == "" {
				t.Errorf("the edge's headers are missing: %v", resp.Header)
			}
		})
	}
}

func median(gaps []time.Duration) time.Duration {
	if len(gaps) == 0 {
		return 0
	}
	return gaps[len(gaps)/2].Round(time.Millisecond)
}

// leaks fails when an answer names the runtime, its account or region.
func leaks(t *testing.T, rp *replica, h http.Header, body []byte) {
	t.Helper()
	var all bytes.Buffer
	h.Write(&all)
	all.Write(body)
	for _, secret := range []string{rp.local.ARN, rp.local.AccountID, "bedrock-agentcore", "us-east-1"} {
		if bytes.Contains(all.Bytes(), []byte(secret)) {
			t.Errorf("the answer carries %q", secret)
		}
	}
}

// TestReplicaRefusesWhatTheEdgeRefuses: a viewer without a key gets the
// gateway's 401; a 1.5 MB body gets the WebACL's 413 in the gateway's JSON
// shape; a request that skips the edge gets the function URL's 403.
func TestReplicaRefusesWhatTheEdgeRefuses(t *testing.T) {
	rp := startReplica(t, 0, replicaGateway)
	resp := replicaPost(t, rp.url+"/", `{"prompt":"hi"}`)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !bytes.Contains(b, []byte(`"requestId"`)) {
		t.Errorf("no key: %d %s, want the gateway's 401", resp.StatusCode, b)
	}
	big := `{"prompt":"` + strings.Repeat("x", 1500<<10) + `"}`
	resp = replicaPost(t, rp.url+"/", big, "X-Api-Key", rp.apiKey)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("Content-Type") != "application/json" || !bytes.Contains(b, []byte(`"body_too_large"`)) {
		t.Errorf("1.5 MB body: %d %q %s, want 413 body_too_large as JSON", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

// TestReplicaViewerWhoLeavesResumes: a viewer that closes the stream
// after its first line leaves the turn running (turns are durable, their
// logs in the table); asking the edge for the rest from the byte it
// reached gets the answer's remainder, across every hop and on whichever
// instance takes it. A viewer that stops its turn by name ends the
// agent's work.
func TestReplicaViewerWhoLeavesResumes(t *testing.T) {
	rp := startReplica(t, 100*time.Millisecond, replicaGateway)
	resp := replicaPost(t, rp.url+"/", `{"prompt":"a long story","response":"ndjson"}`, "X-Api-Key", rp.apiKey)
	sid := resp.Header.Get("X-Agentgate-Session-Id")
	first, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", rp.url+"/sessions/"+sid+"/stream?after="+strconv.Itoa(len(first)), nil)
	req.Header.Set("X-Api-Key", rp.apiKey)
	rest, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rest.Body)
	rest.Body.Close()
	whole := first + string(b)
	if rest.StatusCode != http.StatusOK || !strings.Contains(whole, "it began.") || !strings.HasSuffix(whole, `{"type":"session","id":"`+sid+`"}`+"\n") {
		t.Fatalf("the resume through the edge: %d %q; with the first line %q", rest.StatusCode, b, first)
	}
	if r := <-rp.reports; r.Err != nil {
		t.Fatalf("the turn whose viewer left ended with %v, want it to run to its end", r.Err)
	}

	resp = replicaPost(t, rp.url+"/", `{"prompt":"a long story","response":"ndjson"}`, "X-Api-Key", rp.apiKey)
	sid = resp.Header.Get("X-Agentgate-Session-Id")
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stopped := time.Now()
	stop := replicaPost(t, rp.url+"/sessions/"+sid+"/stop", ``, "X-Api-Key", rp.apiKey)
	stop.Body.Close()
	if stop.StatusCode != http.StatusNoContent {
		t.Fatalf("stop: status %d", stop.StatusCode)
	}
	select {
	case r := <-rp.reports:
		if !errors.Is(r.Err, context.Canceled) {
			t.Fatalf("the stopped turn's call ended with %v, want it cancelled", r.Err)
		}
		if took := r.Ended.Sub(stopped); took > 3*time.Second {
			t.Errorf("the agent's call ended %v after the stop", took)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the stopped turn's call never ended")
	}
}

// TestReplicaSilentAgentSurvivesOnHeartbeats: an agent silent for longer
// than the origin read timeout between its events (the emulator holds each
// back) would have the edge cut the stream; the gateway's heartbeats keep
// it alive, and the answer arrives whole.
func TestReplicaSilentAgentSurvivesOnHeartbeats(t *testing.T) {
	rp := startReplica(t, 0, replicaGateway+"stream:\n  heartbeat: 100ms\n")
	silence := 400 * time.Millisecond // the read timeout is 300 ms here
	if err := rp.local.Emulator.SetFault(rp.local.ARN, agentcorelocal.Fault{DelayEach: silence, Times: 1}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	resp := replicaPost(t, rp.url+"/", `{"prompt":"hi","response":"ndjson"}`, "X-Api-Key", rp.apiKey)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, read error %v: %s", resp.StatusCode, err, body)
	}
	if !bytes.Contains(body, []byte(`{"type":"ping"}`)) || !bytes.Contains(body, []byte(`"type":"session"`)) {
		t.Fatalf("want heartbeats and a whole answer: %s", body)
	}
	if took := time.Since(began); took < 2*silence {
		t.Fatalf("the answer took %v: the agent was not held back", took)
	}
}
