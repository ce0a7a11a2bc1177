package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// waitLimit bounds every wait in these tests, so a provider that hangs
// fails the test instead of stalling it until go test's own timeout.
const waitLimit = 5 * time.Second

// frame is one AWS event-stream message the fake Bedrock sends.
type frame struct {
	messageType string // "event" or "exception"
	kind        string // the :event-type or :exception-type
	payload     string // JSON of the event member
}

func bedrockEvent(kind, payload string) frame { return frame{"event", kind, payload} }

func bedrockException(kind, payload string) frame { return frame{"exception", kind, payload} }

func textDelta(text string) frame {
	b, _ := json.Marshal(map[string]any{"contentBlockIndex": 0, "delta": map[string]string{"text": text}})
	return bedrockEvent("contentBlockDelta", string(b))
}

var (
	messageStart = bedrockEvent("messageStart", `{"role":"assistant"}`)
	blockStop    = bedrockEvent("contentBlockStop", `{"contentBlockIndex":0}`)
	metadata     = bedrockEvent("metadata", `{"usage":{"inputTokens":11,"outputTokens":3,"totalTokens":14},"metrics":{"latencyMs":42}}`)
)

func messageStop(reason string) frame {
	return bedrockEvent("messageStop", `{"stopReason":"`+reason+`"}`)
}

// encode frames f as the SDK's decoder expects: the same three headers the
// service sends, then the JSON payload.
func (f frame) encode(t *testing.T) []byte {
	msg := eventstream.Message{Payload: []byte(f.payload)}
	msg.Headers.Set(":message-type", eventstream.StringValue(f.messageType))
	if f.messageType == "exception" {
		msg.Headers.Set(":exception-type", eventstream.StringValue(f.kind))
	} else {
		msg.Headers.Set(":event-type", eventstream.StringValue(f.kind))
	}
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	var buf bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&buf, msg); err != nil {
		t.Errorf("encode frame: %v", err)
	}
	return buf.Bytes()
}

// eventWriter sends frames on a fake Bedrock response, flushing each one so
// the client can see it before the next is written.
type eventWriter struct {
	t *testing.T
	w http.ResponseWriter
	r *http.Request
}

func (e eventWriter) send(frames ...frame) {
	for _, f := range frames {
		if _, err := e.w.Write(f.encode(e.t)); err != nil {
			return // the client went away; the test sees why
		}
		e.w.(http.Flusher).Flush()
	}
}

// wait blocks until the test signals on ch, and reports false if the client
// went away or the signal never came.
func (e eventWriter) wait(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-e.r.Context().Done():
		return false
	case <-time.After(waitLimit):
		e.t.Errorf("fake Bedrock: no signal from the test within %v", waitLimit)
		return false
	}
}

// converseCall is what the fake Bedrock saw of one request.
type converseCall struct {
	modelID string
	auth    string
	body    struct {
		Messages []struct {
			Role    string `json:"role"`
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"messages"`
		System []struct {
			Text string `json:"text"`
		} `json:"system"`
		InferenceConfig *struct {
			MaxTokens int `json:"maxTokens"`
		} `json:"inferenceConfig"`
	}
}

const (
	testAccessKey = "AKIDTEST"
	testRegion    = "us-east-1"
)

// newFakeBedrock starts a loopback server that speaks ConverseStream's
// event-stream framing. It checks that each request is SigV4-signed for
// Bedrock, records it on the returned channel, and hands the response to
// script.
func newFakeBedrock(t *testing.T, script func(eventWriter)) (*httptest.Server, <-chan converseCall) {
	t.Helper()
	calls := make(chan converseCall, 4)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /model/{modelId}/converse-stream", func(w http.ResponseWriter, r *http.Request) {
		call := converseCall{modelID: r.PathValue("modelId"), auth: r.Header.Get("Authorization")}
		if err := json.NewDecoder(r.Body).Decode(&call.body); err != nil {
			t.Errorf("fake Bedrock: request body: %v", err)
		}
		// Read the request to its very end before answering: a fake that
		// aborts while the client still writes makes the client's write
		// fail, and that error would mask the one under test.
		io.Copy(io.Discard, r.Body)
		calls <- call
		if !strings.HasPrefix(call.auth, "AWS4-HMAC-SHA256 ") {
			w.Header().Set("X-Amzn-ErrorType", "UnrecognizedClientException")
			http.Error(w, `{"message":"request is not signed"}`, http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		script(eventWriter{t: t, w: w, r: r})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake Bedrock: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, calls
}

// newTestBedrock points a Bedrock provider at srv with static test
// credentials, in an environment stripped of the machine's AWS settings.
func newTestBedrock(t *testing.T, srv *httptest.Server, opts BedrockOptions) *Bedrock {
	t.Helper()
	isolateAWS(t)
	if opts.ModelID == "" {
		opts.ModelID = "anthropic.claude-3-haiku-20240307-v1:0"
	}
	opts.Region = testRegion
	opts.Endpoint = srv.URL
	if opts.Credentials == nil {
		opts.Credentials = credentials.NewStaticCredentialsProvider(testAccessKey, "test-secret", "")
	}
	opts.HTTPClient = srv.Client()
	b, err := NewBedrock(context.Background(), opts)
	if err != nil {
		t.Fatalf("NewBedrock: %v", err)
	}
	return b
}

// isolateAWS hides the machine's AWS configuration from the SDK, so tests
// see only what they set.
func isolateAWS(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
		"AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_BEARER_TOKEN_BEDROCK", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

var hello = Request{Messages: []Message{user("hello")}}

func TestBedrockStreamsEachDeltaAsItArrives(t *testing.T) {
	words := []string{"Hello", ", ", "world", "!"}
	next := make(chan struct{})
	srv, _ := newFakeBedrock(t, func(e eventWriter) {
		e.send(messageStart)
		for i, w := range words {
			// Each delta after the first waits until the test has seen the
			// one before: a provider that buffers deltas deadlocks here.
			if i > 0 && !e.wait(next) {
				return
			}
			e.send(textDelta(w))
		}
		if e.wait(next) {
			e.send(blockStop, messageStop("end_turn"), metadata)
		}
	})
	b := newTestBedrock(t, srv, BedrockOptions{})

	var got []string
	res, err := b.Stream(context.Background(), hello, func(d string) error {
		got = append(got, d)
		select {
		case next <- struct{}{}:
			return nil
		case <-time.After(waitLimit):
			return errors.New("the fake never asked for the next frame")
		}
	})
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if strings.Join(got, "|") != strings.Join(words, "|") {
		t.Errorf("deltas = %q, want %q", got, words)
	}
	want := Result{StopReason: "end_turn", Usage: Usage{InputTokens: 11, OutputTokens: 3, TotalTokens: 14}}
	if res != want {
		t.Errorf("Result = %+v, want %+v", res, want)
	}
}

func TestBedrockStreamOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		script     func(eventWriter)
		wantDeltas []string
		want       Result
		wantErr    func(error) bool // nil: success expected
	}{
		{
			name: "the stop reason and usage come from messageStop and metadata",
			script: func(e eventWriter) {
				e.send(messageStart, textDelta("cut"), blockStop, messageStop("max_tokens"), metadata)
			},
			wantDeltas: []string{"cut"},
			want:       Result{StopReason: "max_tokens", Usage: Usage{InputTokens: 11, OutputTokens: 3, TotalTokens: 14}},
		},
		{
			name: "tool-use, reasoning and unknown events are skipped",
			script: func(e eventWriter) {
				e.send(messageStart,
					bedrockEvent("contentBlockDelta", `{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"hmm"}}}`),
					textDelta("answer"),
					bedrockEvent("contentBlockStart", `{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t1","name":"f"}}}`),
					bedrockEvent("contentBlockDelta", `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{}"}}}`),
					bedrockEvent("somethingNew", `{"x":1}`),
					messageStop("tool_use"))
			},
			wantDeltas: []string{"answer"},
			want:       Result{StopReason: "tool_use"},
		},
		{
			name: "a throttling exception frame becomes an error",
			script: func(e eventWriter) {
				e.send(messageStart, textDelta("partial"), bedrockException("throttlingException", `{"message":"Too many tokens"}`))
			},
			wantDeltas: []string{"partial"},
			wantErr: func(err error) bool {
				var te *types.ThrottlingException
				return errors.As(err, &te) && strings.Contains(te.ErrorMessage(), "Too many tokens")
			},
		},
		{
			name: "a model stream error exception frame becomes an error",
			script: func(e eventWriter) {
				e.send(messageStart, bedrockException("modelStreamErrorException", `{"message":"model failed","originalStatusCode":500}`))
			},
			wantErr: func(err error) bool {
				var me *types.ModelStreamErrorException
				return errors.As(err, &me)
			},
		},
		{
			name: "an HTTP validation error becomes an error",
			script: func(e eventWriter) {
				e.w.Header().Set("Content-Type", "application/json")
				e.w.Header().Set("X-Amzn-ErrorType", "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/")
				e.w.WriteHeader(http.StatusBadRequest)
				e.w.Write([]byte(`{"message":"The model returned the following errors: malformed input"}`))
			},
			wantErr: func(err error) bool {
				var ve *types.ValidationException
				return errors.As(err, &ve) && strings.Contains(ve.ErrorMessage(), "malformed input")
			},
		},
		{
			name: "a stream that ends without messageStop is truncated",
			script: func(e eventWriter) {
				e.send(messageStart, textDelta("half"))
			},
			wantDeltas: []string{"half"},
			wantErr:    func(err error) bool { return errors.Is(err, ErrTruncated) },
		},
		{
			name: "a connection dropped mid-frame is truncated",
			script: func(e eventWriter) {
				e.send(messageStart, textDelta("half"))
				f := messageStop("end_turn").encode(e.t)
				e.w.Write(f[:len(f)/2])
				e.w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			},
			wantDeltas: []string{"half"},
			wantErr:    func(err error) bool { return errors.Is(err, ErrTruncated) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newFakeBedrock(t, tt.script)
			deltas, res, err := collect(t, newTestBedrock(t, srv, BedrockOptions{}), hello)
			if strings.Join(deltas, "|") != strings.Join(tt.wantDeltas, "|") {
				t.Errorf("deltas = %q, want %q", deltas, tt.wantDeltas)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Stream: %v", err)
				}
				if res != tt.want {
					t.Errorf("Result = %+v, want %+v", res, tt.want)
				}
				return
			}
			if err == nil || !tt.wantErr(err) {
				t.Errorf("Stream error = %v (%T), not the one expected", err, err)
			}
		})
	}
}

func TestBedrockSendsTheConversation(t *testing.T) {
	tests := []struct {
		name          string
		modelID       string
		optsMax       int
		req           Request
		wantMaxTokens int // 0: no inferenceConfig
	}{
		{
			name:    "every turn and the system prompt reach the model",
			modelID: "anthropic.claude-3-haiku-20240307-v1:0",
			req: Request{System: "Be brief.", Messages: []Message{
				user("first"), assistant("reply"), user("second"),
			}},
		},
		{
			name:          "an ARN model id survives the path and the options' cap applies",
			modelID:       "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
			optsMax:       300,
			req:           hello,
			wantMaxTokens: 300,
		},
		{
			name:          "a request's cap wins over the options' cap",
			modelID:       "amazon.nova-lite-v1:0",
			optsMax:       300,
			req:           Request{Messages: hello.Messages, MaxTokens: 12},
			wantMaxTokens: 12,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := newFakeBedrock(t, func(e eventWriter) { e.send(messageStart, messageStop("end_turn")) })
			b := newTestBedrock(t, srv, BedrockOptions{ModelID: tt.modelID, MaxTokens: tt.optsMax})
			if _, _, err := collect(t, b, tt.req); err != nil {
				t.Fatalf("Stream: %v", err)
			}
			call := <-calls
			if call.modelID != tt.modelID {
				t.Errorf("model id in path = %q, want %q", call.modelID, tt.modelID)
			}
			wantScope := "Credential=" + testAccessKey + "/"
			if !strings.Contains(call.auth, wantScope) || !strings.Contains(call.auth, "/"+testRegion+"/bedrock/aws4_request") {
				t.Errorf("Authorization = %q, want SigV4 for bedrock in %s with %s", call.auth, testRegion, testAccessKey)
			}
			if len(call.body.Messages) != len(tt.req.Messages) {
				t.Fatalf("sent %d messages, want %d", len(call.body.Messages), len(tt.req.Messages))
			}
			for i, m := range tt.req.Messages {
				got := call.body.Messages[i]
				if got.Role != string(m.Role) || len(got.Content) != 1 || got.Content[0].Text != m.Text {
					t.Errorf("message %d = %+v, want %s %q", i, got, m.Role, m.Text)
				}
			}
			switch {
			case tt.req.System == "" && len(call.body.System) != 0:
				t.Errorf("system = %+v, want none", call.body.System)
			case tt.req.System != "" && (len(call.body.System) != 1 || call.body.System[0].Text != tt.req.System):
				t.Errorf("system = %+v, want %q", call.body.System, tt.req.System)
			}
			gotMax := 0
			if call.body.InferenceConfig != nil {
				gotMax = call.body.InferenceConfig.MaxTokens
			}
			if gotMax != tt.wantMaxTokens {
				t.Errorf("maxTokens = %d, want %d", gotMax, tt.wantMaxTokens)
			}
		})
	}
}

func TestBedrockUsesTheDefaultCredentialChain(t *testing.T) {
	srv, calls := newFakeBedrock(t, func(e eventWriter) { e.send(messageStart, messageStop("end_turn")) })
	isolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	t.Setenv("AWS_REGION", "eu-west-1")
	b, err := NewBedrock(context.Background(), BedrockOptions{ModelID: "m", Endpoint: srv.URL, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatalf("NewBedrock: %v", err)
	}
	if _, _, err := collect(t, b, hello); err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if auth := (<-calls).auth; !strings.Contains(auth, "Credential=AKIDFROMENV/") || !strings.Contains(auth, "/eu-west-1/bedrock/") {
		t.Errorf("Authorization = %q, want the environment's key and region", auth)
	}
}

func TestBedrockCancellationReachesTheServer(t *testing.T) {
	serverSawCancel := make(chan struct{})
	srv, _ := newFakeBedrock(t, func(e eventWriter) {
		e.send(messageStart, textDelta("first"))
		select {
		case <-e.r.Context().Done():
			close(serverSawCancel)
		case <-time.After(waitLimit):
			e.t.Error("fake Bedrock: the request was never cancelled")
		}
	})
	b := newTestBedrock(t, srv, BedrockOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	_, err := b.Stream(ctx, hello, func(string) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Stream error = %v, want context.Canceled", err)
	}
	select {
	case <-serverSawCancel:
	case <-time.After(waitLimit):
		t.Fatal("the server never saw the request end")
	}
}

func TestBedrockReturnsEmitErrorsAsIs(t *testing.T) {
	srv, _ := newFakeBedrock(t, func(e eventWriter) {
		e.send(messageStart, textDelta("one"), textDelta("two"), messageStop("end_turn"))
	})
	errStop := errors.New("client went away")
	calls := 0
	_, err := newTestBedrock(t, srv, BedrockOptions{}).Stream(context.Background(), hello, func(string) error {
		calls++
		return errStop
	})
	if err != errStop || calls != 1 {
		t.Errorf("Stream error = %v after %d emits, want %v after 1", err, calls, errStop)
	}
}

func TestNewBedrockNamesTheBadField(t *testing.T) {
	tests := []struct {
		name  string
		opts  BedrockOptions
		field string
	}{
		{name: "a missing model id is refused", opts: BedrockOptions{Region: testRegion}, field: "BedrockOptions.ModelID"},
		{name: "a relative endpoint is refused", opts: BedrockOptions{ModelID: "m", Region: testRegion, Endpoint: "localhost:8080"}, field: "BedrockOptions.Endpoint"},
		{name: "a non-http endpoint is refused", opts: BedrockOptions{ModelID: "m", Region: testRegion, Endpoint: "ftp://example.com"}, field: "BedrockOptions.Endpoint"},
		{name: "a negative token cap is refused", opts: BedrockOptions{ModelID: "m", Region: testRegion, MaxTokens: -5}, field: "BedrockOptions.MaxTokens"},
		{name: "no region anywhere is refused", opts: BedrockOptions{ModelID: "m"}, field: "BedrockOptions.Region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateAWS(t)
			_, err := NewBedrock(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("NewBedrock error = %v, want one naming %s", err, tt.field)
			}
		})
	}
}

// closedBody behaves like the SDK's request body: once closed, both Read and
// WriteTo report io.EOF.
