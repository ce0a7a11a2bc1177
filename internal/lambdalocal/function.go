// Package lambdalocal runs a Lambda function behind its function URL on
// loopback, as Lambda runs a provided.al2023 function whose URL has invoke
// mode RESPONSE_STREAM: the real bootstrap, started as one process per
// instance with the function's environment, served by a Runtime API of its
// own, and a URL that checks SigV4 as the AWS_IAM auth type does, turns each
// request into a payload format 2.0 event, and relays the streamed response
// to the caller as it arrives, chunk by chunk.
//
// It stands in for the service in tests and local runs of the deployment,
// where AWS cannot be reached. What it does not do: scale past
// Config.Instances (past it a request is throttled), bill, or keep a frozen
// instance's clock still between requests.
package lambdalocal

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/agentgate/agentgate/internal/sigv4"
)

// maxRequestPayload is Lambda's cap on a synchronous invocation's request
// payload, which bounds a function URL's request body.
const maxRequestPayload = 6 << 20

// Config describes the function and its URL.
type Config struct {
	// Bootstrap is the function's executable, its code's bootstrap file.
	Bootstrap string
	// Env is the function's environment, NAME=value, as its configuration
	// gives it (credentials of its role included); Lambda's own variables
	// (AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME, AWS_REGION, ...)
	// are added.
	Env []string
	// Name is the function's name; default "function".
	Name string
	// Account is the account id in the function's ARN; default
	// 123456789012.
	Account string
	// Region is where the function runs; default us-east-1.
	Region string
	// Instances bounds the instances that run at once, each serving one
	// request at a time, as reserved concurrency does; a request that finds
	// every one busy is throttled with 429. Default 1.
	Instances int
	// IAM, when set, makes the URL take only requests signed (SigV4,
	// service lambda) with this key pair, as auth type AWS_IAM with a
	// resource policy naming that caller; others get 403. Nil takes every
	// request, as auth type NONE.
	IAM *aws.Credentials
	// Timeout is the function's timeout: an invocation still running after
	// it has its instance stopped. Default 15 minutes, Lambda's most.
	Timeout time.Duration
	// Output receives the instances' standard output and error, where a
	// function writes its logs. Default: discarded.
	Output io.Writer
}

// Function is a running function URL. Close stops it.
type Function struct {
	cfg      Config
	arn      string
	verifier *sigv4.Verifier
	ln       net.Listener
	srv      *http.Server
	ids      atomic.Int64

	mu      sync.Mutex
	idle    []*instance // waiting in the Runtime API's next
	all     []*instance
	pending map[string]*invocation // by request id
	closed  bool
}

// Start starts the function URL on a free loopback port. Instances start
// when requests need them, each with a cold start.
func Start(cfg Config) (*Function, error) {
	if cfg.Bootstrap == "" {
		return nil, errors.New("lambdalocal: no bootstrap")
	}
	if cfg.Name == "" {
		cfg.Name = "function"
	}
	if cfg.Account == "" {
		cfg.Account = "123456789012"
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	cfg.Instances = max(cfg.Instances, 1)
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Minute
	}
	if cfg.Output == nil {
		cfg.Output = io.Discard
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdalocal: %w", err)
	}
	f := &Function{cfg: cfg, ln: ln, pending: map[string]*invocation{},
		arn: "arn:aws:lambda:" + cfg.Region + ":" + cfg.Account + ":function:" + cfg.Name}
	if cfg.IAM != nil {
		f.verifier = sigv4.New(*cfg.IAM, cfg.Region, "lambda")
	}
	f.srv = &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go f.srv.Serve(ln)
	return f, nil
}

// URL is the function URL, http://127.0.0.1:PORT/.
func (f *Function) URL() string { return "http://" + f.ln.Addr().String() + "/" }

// Close stops the URL, then every instance.
func (f *Function) Close() error {
	f.mu.Lock()
	f.closed = true
	all := f.all
	f.mu.Unlock()
	err := f.srv.Close()
	for _, in := range all {
		in.stop()
	}
	return err
}

// ServeHTTP is the function URL: it checks the caller, builds the event,
// and has an instance answer it.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestPayload+1))
	switch {
	case err != nil:
		return // the caller went away
	case len(body) > maxRequestPayload:
		refuse(w, http.StatusRequestEntityTooLarge, "Request must be smaller than "+strconv.Itoa(maxRequestPayload)+" bytes for the InvokeFunction operation")
		return
	}
	var caller *aws.Credentials
	if f.verifier != nil {
		sum := sha256.Sum256(body)
		if err := f.verifier.Verify(r, hex.EncodeToString(sum[:]), int64(len(body))); err != nil {
			refuse(w, http.StatusForbidden, "Forbidden")
			return
		}
		caller = f.cfg.IAM
	}
	inv := &invocation{
		id:       fmt.Sprintf("%08d-0000-4000-8000-%012d", f.ids.Add(1), time.Now().UnixNano()%1e12),
		viewer:   r.Context(),
		response: make(chan delivery),
		failed:   make(chan []byte, 1),
		deadline: time.Now().Add(f.cfg.Timeout),
	}
	inv.event, err = newEvent(r, body, f.cfg.Account, caller, inv.id)
	if err != nil {
		refuse(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	in, err := f.dispatch(inv)
	if err != nil {
		refuse(w, http.StatusTooManyRequests, "Rate Exceeded.")
		return
	}
	defer f.forget(inv)
	f.answer(w, in, inv)
}

// refuse answers as a function URL answers what it refuses: a JSON message.
func refuse(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", http.StatusText(status))
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"Message\":%q}", message)
}

// dispatch hands inv to an idle instance, or to a new one while fewer than
// Config.Instances run; otherwise the request is throttled.
func (f *Function) dispatch(inv *invocation) (*instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, errors.New("lambdalocal: closed")
	}
	f.pending[inv.id] = inv
	if n := len(f.idle); n > 0 {
		in := f.idle[n-1]
		f.idle = f.idle[:n-1]
		in.next <- inv
		return in, nil
	}
	running := 0
	for _, in := range f.all {
		if !in.hasExited() {
			running++
		}
	}
	if running >= f.cfg.Instances {
		delete(f.pending, inv.id)
		return nil, errors.New("lambdalocal: every instance is busy")
	}
	in, err := f.startInstance()
	if err != nil {
		delete(f.pending, inv.id)
		return nil, err
	}
	in.next <- inv // its first call to next takes it
	return in, nil
}

// ready puts in among the idle instances.
func (f *Function) ready(in *instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.idle = append(f.idle, in)
}

// unready takes in out of the idle instances, when it stopped waiting.
func (f *Function) unready(in *instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.idle {
		if x == in {
			f.idle = append(f.idle[:i], f.idle[i+1:]...)
			return
		}
	}
}

func (f *Function) lookup(id string) *invocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pending[id]
}

func (f *Function) forget(inv *invocation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.pending, inv.id)
}
