package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The edge of the replica: a stand-in for CloudFront and its WebACL that
// applies the distribution's configuration as the synthesized template
// states it, and runs the deployment's own edge code under node.

// lambdaEdgeBodyLimit is how much of a body CloudFront shows an
// origin-request function with includeBody: past it, inputTruncated.
const lambdaEdgeBodyLimit = 1 << 20

// edgeRuntime runs the CloudFront Function and the Lambda@Edge function
// under node (testdata/replica/edge.js).
type edgeRuntime struct {
	cmd *exec.Cmd
	in  io.WriteCloser

	mu      sync.Mutex
	ids     int
	waiting map[int]chan edgeAnswer
}

type edgeAnswer struct {
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
}

func startEdgeRuntime(t *testing.T, functionCode, edgeDir, edgeHandler string) *edgeRuntime {
	t.Helper()
	file := t.TempDir() + "/cloudfront-function.js"
	if err := os.WriteFile(file, []byte(functionCode), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "testdata/replica/edge.js", file, edgeDir, edgeHandler)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("node: %v", err)
	}
	rt := &edgeRuntime{cmd: cmd, in: in, waiting: map[int]chan edgeAnswer{}}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 4<<20), 4<<20)
		for sc.Scan() {
			var a struct {
				ID int `json:"id"`
				edgeAnswer
			}
			if json.Unmarshal(sc.Bytes(), &a) != nil {
				continue
			}
			rt.mu.Lock()
			ch := rt.waiting[a.ID]
			delete(rt.waiting, a.ID)
			rt.mu.Unlock()
			if ch != nil {
				ch <- a.edgeAnswer
			}
		}
	}()
	t.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	return rt
}

// call runs the function of kind on event and decodes its result into out.
func (rt *edgeRuntime) call(kind string, event, out any) error {
	rt.mu.Lock()
	rt.ids++
	id := rt.ids
	ch := make(chan edgeAnswer, 1)
	rt.waiting[id] = ch
	line, err := json.Marshal(map[string]any{"id": id, "kind": kind, "event": event})
	if err == nil {
		_, err = rt.in.Write(append(line, '\n'))
	}
	rt.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case a := <-ch:
		if a.Error != "" {
			return fmt.Errorf("%s function: %s", kind, a.Error)
		}
		return json.Unmarshal(a.Result, out)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s function: no answer", kind)
	}
}

// distribution is what the replica's edge reads from the templates.
type distribution struct {
	allowedMethods   []string
	forwardHeaders   []string // the origin request policy's, lower case
	forwardCookies   bool
	forwardQuery     bool
	originHeaders    map[string]string // origin custom headers, resolved
	readTimeout      time.Duration     // between reads of the body, scaled down
	firstByteTimeout time.Duration
	responseHeaders  map[string]responseHeader
	includeBody      bool
	webACL           []*wafRule
	wafBodies        map[string]string
	originRegion     string
	originAccessKeys aws.Credentials // OAC's signing identity
}

type responseHeader struct {
	value    string
	override bool
}

// wafRule is one rule of the WebACL the replica can evaluate: a rate by
// client address, or a regex on a single header. Managed rule groups run
// only at AWS.
type wafRule struct {
	name     string
	priority int
	header   string
	regex    *regexp.Regexp
	rate     int // requests per window, per address
	window   time.Duration
	status   int
	bodyKey  string
	headers  map[string]string

	mu   sync.Mutex
	seen map[string][]time.Time
}

// edge is the replica's CloudFront: one distribution, one behavior, one
// origin (the function URL).
type edge struct {
	d      *distribution
	rt     *edgeRuntime
	origin string // the function URL
	client *http.Client
	ids    atomic.Int64
}

func (e *edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := fmt.Sprintf("replica-%d", e.ids.Add(1))
	w.Header().Set("X-Amz-Cf-Id", id)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if e.waf(w, r) {
		return
	}
	if !slices.Contains(e.d.allowedMethods, r.Method) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	req, done := e.viewerRequest(w, r)
	if done {
		return
	}
	req.body = body
	out, done := e.originRequest(w, r, req, id)
	if done {
		return
	}
	e.forward(w, r, out)
}

// waf applies the rules the replica can evaluate, in priority order, and
// answers a block with the rule's custom response.
func (e *edge) waf(w http.ResponseWriter, r *http.Request) bool {
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	for _, rule := range e.d.webACL {
		if !rule.matches(r, ip) {
			continue
		}
		for k, v := range rule.headers {
			w.Header().Set(k, v)
		}
		if body, ok := e.d.wafBodies[rule.bodyKey]; ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(rule.status)
			io.WriteString(w, body)
		} else {
			w.WriteHeader(rule.status)
		}
		return true
	}
	return false
}

func (rule *wafRule) matches(r *http.Request, ip string) bool {
	if rule.regex != nil {
		v := r.Header.Get(rule.header)
		if strings.EqualFold(rule.header, "content-length") && r.ContentLength >= 0 {
			v = strconv.FormatInt(r.ContentLength, 10)
		}
		return rule.regex.MatchString(v)
	}
	rule.mu.Lock()
	defer rule.mu.Unlock()
	now := time.Now()
	seen := rule.seen[ip]
	for len(seen) > 0 && now.Sub(seen[0]) > rule.window {
		seen = seen[1:]
	}
	seen = append(seen, now)
	rule.seen[ip] = seen
	return len(seen) > rule.rate
}

// cfRequest is a request as the viewer-request function sees it and as it
// leaves it.
type cfRequest struct {
	Method      string                      `json:"method"`
	URI         string                      `json:"uri"`
	Querystring map[string]cfValue          `json:"querystring"`
	Headers     map[string]cfValue          `json:"headers"`
	Cookies     map[string]cfValue          `json:"cookies"`
	StatusCode  int                         `json:"statusCode,omitempty"`
	Body        any                         `json:"body,omitempty"`
	Extra       map[string]*json.RawMessage `json:"-"`
	body        []byte
}

type cfValue struct {
	Value      string    `json:"value"`
	MultiValue []cfValue `json:"multiValue,omitempty"`
}

// viewerRequest runs the CloudFront Function on the viewer's request. It
// reports done when the function answered the viewer itself.
func (e *edge) viewerRequest(w http.ResponseWriter, r *http.Request) (cfRequest, bool) {
	req := cfRequest{Method: r.Method, URI: r.URL.Path, Querystring: map[string]cfValue{}, Headers: map[string]cfValue{}, Cookies: map[string]cfValue{}}
	for k, vs := range r.URL.Query() {
		req.Querystring[k] = multi(vs)
	}
	for k, vs := range r.Header {
		if k == "Cookie" {
			continue
		}
		req.Headers[strings.ToLower(k)] = multi(vs)
	}
	req.Headers["host"] = cfValue{Value: r.Host}
	for _, c := range r.Cookies() {
		req.Cookies[c.Name] = cfValue{Value: c.Value}
	}
	ev := map[string]any{
		"version": "1.0",
		"context": map[string]any{"distributionDomainName": r.Host, "distributionId": "EREPLICA", "eventType": "viewer-request", "requestId": "replica"},
		"viewer":  map[string]any{"ip": remoteIP(r)},
		"request": req,
	}
	var res cfRequest
	if err := e.rt.call("viewer-request", ev, &res); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return res, true
	}
	if res.StatusCode != 0 {
		w.WriteHeader(res.StatusCode)
		return res, true
	}
	return res, false
}

func multi(vs []string) cfValue {
	v := cfValue{Value: vs[0]}
	if len(vs) > 1 {
		for _, x := range vs {
			v.MultiValue = append(v.MultiValue, cfValue{Value: x})
		}
	}
	return v
}

func remoteIP(r *http.Request) string {
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	return ip
}

// leHeaders are headers as Lambda@Edge sees them.
type leHeaders map[string][]struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value"`
}

// originRequest applies the origin request policy and the origin's custom
// headers to the function's request, then runs the Lambda@Edge function on
// it. It reports done when that function answered the viewer itself.
func (e *edge) originRequest(w http.ResponseWriter, r *http.Request, req cfRequest, id string) (*http.Request, bool) {
	headers := leHeaders{}
	add := func(name, value string) {
		k := strings.ToLower(name)
		headers[k] = append(headers[k], struct {
			Key   string `json:"key,omitempty"`
			Value string `json:"value"`
		}{name, value})
	}
	for _, name := range e.d.forwardHeaders {
		if name == "cloudfront-viewer-address" {
			add("CloudFront-Viewer-Address", r.RemoteAddr)
			continue
		}
		if v, ok := req.Headers[name]; ok {
			if len(v.MultiValue) > 0 {
				for _, m := range v.MultiValue {
					add(name, m.Value)
				}
			} else {
				add(name, v.Value)
			}
		}
	}
	if e.d.forwardCookies && len(req.Cookies) > 0 {
		var parts []string
		for name, v := range req.Cookies {
			parts = append(parts, name+"="+v.Value)
		}
		sort.Strings(parts)
		add("Cookie", strings.Join(parts, "; "))
	}
	for k, v := range e.d.originHeaders {
		add(k, v)
	}
	query := url.Values{}
	if e.d.forwardQuery {
		for k, v := range req.Querystring {
			if len(v.MultiValue) > 0 {
				for _, m := range v.MultiValue {
					query.Add(k, m.Value)
				}
			} else {
				query.Add(k, v.Value)
			}
		}
	}
	cf := map[string]any{
		"clientIp": remoteIP(r), "method": req.Method, "uri": req.URI, "querystring": query.Encode(), "headers": headers,
		"origin": map[string]any{"custom": map[string]any{"domainName": strings.TrimPrefix(strings.TrimSuffix(e.origin, "/"), "http://"),
			"port": 443, "protocol": "https", "readTimeout": int(e.d.readTimeout / time.Second), "customHeaders": map[string]any{}}},
	}
	if e.d.includeBody {
		data, truncated := req.body, false
		if len(data) > lambdaEdgeBodyLimit {
			data, truncated = data[:lambdaEdgeBodyLimit], true
		}
		cf["body"] = map[string]any{"action": "read-only", "data": base64.StdEncoding.EncodeToString(data), "encoding": "base64", "inputTruncated": truncated}
	}
	ev := map[string]any{"Records": []any{map[string]any{"cf": map[string]any{
		"config":  map[string]any{"distributionDomainName": r.Host, "distributionId": "EREPLICA", "eventType": "origin-request", "requestId": id},
		"request": cf,
	}}}}
	var res struct {
		Status            string          `json:"status"`
		StatusDescription string          `json:"statusDescription"`
		Headers           leHeaders       `json:"headers"`
		Body              json.RawMessage `json:"body"` // a response's text; a request's body object
		BodyEncoding      string          `json:"bodyEncoding"`
		URI               string          `json:"uri"`
		Querystring       string          `json:"querystring"`
	}
	if err := e.rt.call("origin-request", ev, &res); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return nil, true
	}
	if res.Status != "" {
		for _, hs := range res.Headers {
			for _, h := range hs {
				w.Header().Add(h.Key, h.Value)
			}
		}
		status, _ := strconv.Atoi(res.Status)
		w.WriteHeader(status)
		var text string
		json.Unmarshal(res.Body, &text)
		b := []byte(text)
		if res.BodyEncoding == "base64" {
			b, _ = base64.StdEncoding.DecodeString(text)
		}
		w.Write(b)
		return nil, true
	}
	target := strings.TrimSuffix(e.origin, "/") + res.URI
	if res.Querystring != "" {
		target += "?" + res.Querystring
	}
	out, err := http.NewRequestWithContext(r.Context(), req.Method, target, bytes.NewReader(req.body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return nil, true
	}
	for _, hs := range res.Headers {
		for _, h := range hs {
			out.Header.Add(h.Key, h.Value)
		}
	}
	return out, false
}

// forward signs the request as Origin Access Control does (SigV4 for
// service lambda, always, over any Authorization), sends it to the function
// URL, and relays the answer as it arrives, with the response headers
// policy applied and the origin read timeout between reads.
func (e *edge) forward(w http.ResponseWriter, r *http.Request, out *http.Request) {
	hash := out.Header.Get("X-Amz-Content-Sha256")
	if hash == "" {
		sum := sha256.Sum256(nil)
		hash = hex.EncodeToString(sum[:])
	}
	out.Header.Del("Authorization")
	if err := v4.NewSigner().SignHTTP(r.Context(), e.d.originAccessKeys, out, hash, "lambda", e.d.originRegion, time.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	idle := time.AfterFunc(e.d.firstByteTimeout, cancel)
	defer idle.Stop()
	resp, err := e.client.Do(out.WithContext(ctx))
	if err != nil {
		w.WriteHeader(http.StatusGatewayTimeout)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	for name, h := range e.d.responseHeaders {
		if h.override || w.Header().Get(name) == "" {
			w.Header().Set(name, h.value)
		}
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	rc.Flush()
	buf := make([]byte, 32<<10)
	for {
		idle.Reset(e.d.readTimeout)
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			rc.Flush()
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			// CloudFront ends a stream its origin broke, or went silent
			// on past the read timeout, without a proper end.
			panic(http.ErrAbortHandler)
		}
	}
}

// randomSecret is material the replica generates in place of Secrets
// Manager's.
func randomSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}
