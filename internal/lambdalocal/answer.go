package lambdalocal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The content type of a function URL's streamed response, and the trailer
// in which the runtime reports a failure after the response began.
const (
	streamingContentType = "application/vnd.awslambda.http-integration-response"
	trailerErrorType     = "Lambda-Runtime-Function-Error-Type"
	// maxPrelude bounds the JSON before the 8 NUL bytes.
	maxPrelude = 1 << 20
)

// invocation is one request on its way through an instance.
type invocation struct {
	id       string
	event    []byte
	deadline time.Time
	viewer   context.Context // the caller's request
	response chan delivery   // the function's response, when it starts
	failed   chan []byte     // the function's error report
}

// delivery is a response the Runtime API received: the relay reads req's
// body, then says on done whether it hung up (the caller went away).
type delivery struct {
	req  *http.Request
	done chan bool
}

// answer waits for in's answer to inv and relays it to w: the streamed
// response as it arrives, the function's failure, its crash or its
// timeout as the 502 a function URL gives.
func (f *Function) answer(w http.ResponseWriter, in *instance, inv *invocation) {
	timeout := time.NewTimer(time.Until(inv.deadline))
	defer timeout.Stop()
	select {
	case d := <-inv.response:
		hungUp, aborted := relay(w, d.req)
		d.done <- hungUp
		if aborted {
			// A failure after the response began ends the stream
			// abruptly, with no well-formed end.
			panic(http.ErrAbortHandler)
		}
	case <-inv.failed:
		refuse(w, http.StatusBadGateway, "Internal Server Error")
	case <-in.exited:
		refuse(w, http.StatusBadGateway, "Internal Server Error")
	case <-timeout.C:
		in.stop()
		refuse(w, http.StatusBadGateway, "Internal Server Error")
	case <-inv.viewer.Done():
		// The caller left before any answer; the function runs on, and its
		// response, if it comes, is hung up on.
	}
}

// prelude is what a streamed response declares before its body.
type prelude struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Cookies    []string          `json:"cookies"`
}

// relay copies the function's response in resp to w, each read of its body
// written and flushed at once. hungUp means the caller went away; aborted,
// that the function failed after the response began, or sent one that
// cannot be read.
func relay(w http.ResponseWriter, resp *http.Request) (hungUp, aborted bool) {
	br := bufio.NewReaderSize(resp.Body, 32<<10)
	if resp.Header.Get("Content-Type") != streamingContentType {
		return false, !buffered(w, br)
	}
	p, ok := readPrelude(br)
	if !ok {
		refuse(w, http.StatusBadGateway, "Internal Server Error")
		return false, false
	}
	for k, v := range p.Headers {
		w.Header().Set(k, v)
	}
	for _, c := range p.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	w.WriteHeader(cmpStatus(p.StatusCode))
	rc := http.NewResponseController(w)
	rc.Flush()
	buf := make([]byte, 32<<10)
	for {
		n, err := br.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return true, false
			}
			if rc.Flush() != nil {
				return true, false
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, true
		}
	}
	return false, resp.Trailer.Get(trailerErrorType) != ""
}

func cmpStatus(code int) int {
	if code == 0 {
		return http.StatusOK
	}
	return code
}

// readPrelude reads the JSON prelude and the 8 NUL bytes after it.
func readPrelude(br *bufio.Reader) (prelude, bool) {
	var raw []byte
	sep := make([]byte, 8)
	for len(raw) <= maxPrelude {
		b, err := br.ReadByte()
		if err != nil {
			return prelude{}, false
		}
		raw = append(raw, b)
		if bytes.HasSuffix(raw, sep) {
			var p prelude
			if json.Unmarshal(raw[:len(raw)-8], &p) != nil {
				return prelude{}, false
			}
			return p, true
		}
	}
	return prelude{}, false
}

// buffered relays a response the function sent whole: the structured
// shape ({statusCode, headers, body, ...}) as that response, anything else
// as a 200 with it as a JSON body, as function URLs read them. It reports
// whether the response could be read.
func buffered(w http.ResponseWriter, br *bufio.Reader) bool {
	raw, err := io.ReadAll(io.LimitReader(br, maxRequestPayload))
	if err != nil {
		return false
	}
	var r struct {
		StatusCode      int               `json:"statusCode"`
		Headers         map[string]string `json:"headers"`
		Cookies         []string          `json:"cookies"`
		Body            string            `json:"body"`
		IsBase64Encoded bool              `json:"isBase64Encoded"`
	}
	if json.Unmarshal(raw, &r) != nil || r.StatusCode == 0 {
		w.Header().Set("Content-Type", "application/json")
		w.Write(raw)
		return true
	}
	for k, v := range r.Headers {
		w.Header().Set(k, v)
	}
	for _, c := range r.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	body := []byte(r.Body)
	if r.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(r.Body); err != nil {
			return false
		}
	}
	w.WriteHeader(r.StatusCode)
	w.Write(body)
	return true
}

// event is a function URL request in payload format 2.0.
type event struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies,omitempty"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters,omitempty"`
	RequestContext        requestContext    `json:"requestContext"`
	Body                  string            `json:"body,omitempty"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
}

type requestContext struct {
	AccountID    string      `json:"accountId"`
	APIID        string      `json:"apiId"`
	Authorizer   *authorizer `json:"authorizer,omitempty"`
	DomainName   string      `json:"domainName"`
	DomainPrefix string      `json:"domainPrefix"`
	HTTP         struct {
		Method    string `json:"method"`
		Path      string `json:"path"`
		Protocol  string `json:"protocol"`
		SourceIP  string `json:"sourceIp"`
		UserAgent string `json:"userAgent"`
	} `json:"http"`
	RequestID string `json:"requestId"`
	RouteKey  string `json:"routeKey"`
	Stage     string `json:"stage"`
	Time      string `json:"time"`
	TimeEpoch int64  `json:"timeEpoch"`
}

type authorizer struct {
	IAM struct {
		AccessKey string `json:"accessKey"`
		AccountID string `json:"accountId"`
		CallerID  string `json:"callerId"`
		UserARN   string `json:"userArn"`
		UserID    string `json:"userId"`
	} `json:"iam"`
}

// newEvent builds r's event: header names in lower case, repeated ones
// joined by commas, cookies apart, the body base64-encoded unless it is
// text, and, for a request the AWS_IAM auth verified, its caller.
func newEvent(r *http.Request, body []byte, account string, caller *aws.Credentials, id string) ([]byte, error) {
	const urlID = "lambdalocal0000000000000000000000"
	ev := event{Version: "2.0", RouteKey: "$default", RawPath: r.URL.EscapedPath(), RawQueryString: r.URL.RawQuery,
		Headers: map[string]string{}}
	for name, values := range r.Header {
		if name == "Cookie" {
			for _, v := range values {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			continue
		}
		ev.Headers[strings.ToLower(name)] = strings.Join(values, ",")
	}
	ev.Headers["host"] = r.Host
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ev.Headers["x-forwarded-for"] = host
	ev.Headers["x-forwarded-proto"] = "https"
	ev.Headers["x-forwarded-port"] = "443"
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, v := range q {
			ev.QueryStringParameters[k] = strings.Join(v, ",")
		}
	}
	if len(body) > 0 {
		if utf8.Valid(body) && textual(r.Header.Get("Content-Type")) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	now := time.Now().UTC()
	rc := &ev.RequestContext
	rc.AccountID, rc.APIID, rc.DomainName, rc.DomainPrefix = "anonymous", urlID, r.Host, urlID
	if caller != nil {
		rc.AccountID = account
		rc.Authorizer = &authorizer{}
		iam := &rc.Authorizer.IAM
		iam.AccessKey, iam.AccountID, iam.CallerID = caller.AccessKeyID, account, "AROA"+caller.AccessKeyID
		iam.UserARN, iam.UserID = "arn:aws:iam::"+account+":role/caller", "AROA"+caller.AccessKeyID
	}
	rc.HTTP.Method, rc.HTTP.Path, rc.HTTP.Protocol, rc.HTTP.SourceIP, rc.HTTP.UserAgent = r.Method, r.URL.Path, r.Proto, host, r.UserAgent()
	rc.RequestID, rc.RouteKey, rc.Stage = id, "$default", "$default"
	rc.Time, rc.TimeEpoch = now.Format("02/Jan/2006:15:04:05 -0700"), now.UnixMilli()
	return json.Marshal(ev)
}

// textual reports whether a body of content type ct travels as text.
func textual(ct string) bool {
	ct = strings.ToLower(ct)
	return ct == "" || strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") ||
		strings.Contains(ct, "xml") || strings.HasPrefix(ct, "application/x-www-form-urlencoded")
}
