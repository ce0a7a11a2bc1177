// Package secretslocal is a local stand-in for AWS Secrets Manager's
// GetSecretValue: an http.Handler that speaks the operation's wire as
// secretsmanager.{region}.amazonaws.com does, so the real aws-sdk-go-v2
// secretsmanager client, signing with real SigV4, works against it unchanged
// (Options.BaseEndpoint points at it). Tests, local runs and a deployment's
// replica use it to hold agentgate's secret and to rotate it while the
// gateway runs.
//
// The protocol is AWS JSON 1.1: every request is POST / with
// Content-Type application/x-amz-json-1.1 and X-Amz-Target
// secretsmanager.GetSecretValue; the body is {"SecretId", "VersionId",
// "VersionStage"} and the answer {"ARN", "Name", "VersionId",
// "SecretString" or "SecretBinary", "VersionStages", "CreatedDate"}. A
// request is authenticated (SigV4, service secretsmanager, the configured
// region and key pair) before anything else is told about it. Failures are
// JSON 1.1 errors, {"__type": CODE, "Message": "..."}, with the codes and
// status codes of the GetSecretValue reference and Secrets Manager's common
// errors.
package secretslocal

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/agentgate/agentgate/internal/sigv4"
)

// signingService is the name Secrets Manager is signed for.
const signingService = "secretsmanager"

// targetGetSecretValue is the one operation served.
const targetGetSecretValue = "secretsmanager.GetSecretValue"

// maxRequestBytes bounds a request body: GetSecretValue's three parameters.
const maxRequestBytes = 64 << 10

// Version stages, as Secrets Manager labels versions.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
)

// Config configures a Server.
type Config struct {
	// Region is the region requests must be signed for and secret ARNs
	// name.
	Region string
	// AccountID goes into secret ARNs; 123456789012 when empty.
	AccountID string
	// AccessKeyID and SecretAccessKey are the one key pair callers sign
	// with.
	AccessKeyID, SecretAccessKey string
	// Logger hears one line per request (never a secret's value); nil
	// discards.
	Logger *slog.Logger
}

// Server is the stand-in. Create it with New; it is safe for concurrent
// use, and secrets may change while it serves.
type Server struct {
	region, account string
	verifier        *sigv4.Verifier
	log             *slog.Logger

	mu      sync.Mutex
	secrets map[string]*secret // by ARN
	fault   string             // an error code every request answers, when set
	calls   int                // GetSecretValue requests authenticated
}

// secret is one secret and its versions, newest last.
type secret struct {
	arn, name string
	denied    bool
	versions  []*version
}

type version struct {
	id      string
	str     *string
	bin     []byte
	stages  []string
	created time.Time
}

// New returns a Server for cfg, holding no secret yet.
func New(cfg Config) (*Server, error) {
	var problems []string
	if cfg.Region == "" {
		problems = append(problems, "Region is required")
	}
	if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		problems = append(problems, "AccessKeyID and SecretAccessKey are required: the key pair callers sign with")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("secretslocal: %s", strings.Join(problems, "; "))
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "123456789012"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	creds := aws.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey}
	return &Server{region: cfg.Region, account: cfg.AccountID, verifier: sigv4.New(creds, cfg.Region, signingService),
		log: log, secrets: map[string]*secret{}}, nil
}

// Put stores value as the current version of the secret called name,
// creating the secret if need be, and returns the secret's ARN. The
// version it replaces becomes AWSPREVIOUS, as PutSecretValue does: this is
// how a test rotates a secret.
func (s *Server) Put(name, value string) string {
	return s.put(name, &version{str: &value})
}

// PutBinary is Put for a binary secret (SecretBinary).
func (s *Server) PutBinary(name string, value []byte) string {
	return s.put(name, &version{bin: append([]byte(nil), value...)})
}

func (s *Server) put(name string, v *version) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.byName(name)
	if sec == nil {
		sec = &secret{arn: fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.region, s.account, name, randomSuffix()), name: name}
		s.secrets[sec.arn] = sec
	}
	for _, old := range sec.versions {
		old.stages = without(old.stages, StagePrevious)
		if hasStage(old, StageCurrent) {
			old.stages = append(without(old.stages, StageCurrent), StagePrevious)
		}
	}
	v.id, v.stages, v.created = newUUID(), []string{StageCurrent}, time.Now()
	sec.versions = append(sec.versions, v)
	return sec.arn
}

// SetDenied makes requests for the secret arn answer AccessDeniedException,
// as when the caller's role may not read it, or serves it again.
func (s *Server) SetDenied(arn string, denied bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.secrets[arn]; sec != nil {
		sec.denied = denied
	}
}

// SetFault makes every authenticated request answer the error code (one of
// GetSecretValue's: InternalServiceError, DecryptionFailure, ...); "" ends
// the fault.
func (s *Server) SetFault(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = code
}

// Calls reports how many authenticated GetSecretValue requests came.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// byName finds a secret by its name; s.mu is held.
func (s *Server) byName(name string) *secret {
	for _, sec := range s.secrets {
		if sec.name == name {
			return sec
		}
	}
	return nil
}

// getSecretValueInput is the operation's request.
type getSecretValueInput struct {
	SecretId     string
	VersionId    string
	VersionStage string
}

// getSecretValueOutput is the operation's answer. CreatedDate is epoch
// seconds, JSON 1.1's timestamp format.
type getSecretValueOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionId     string   `json:"VersionId"`
	SecretString  *string  `json:"SecretString,omitempty"`
	SecretBinary  []byte   `json:"SecretBinary,omitempty"`
	VersionStages []string `json:"VersionStages"`
	CreatedDate   float64  `json:"CreatedDate"`
}

// ServeHTTP answers one request: read and authenticate it, then serve
// GetSecretValue.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newUUID()
	w.Header().Set("X-Amzn-RequestId", requestID)
	out, apiErr := s.serve(r)
	if apiErr != nil {
		s.log.Info("secretslocal request", "id", requestID, "target", r.Header.Get("X-Amz-Target"), "error", apiErr.code)
		writeError(w, apiErr)
		return
	}
	s.log.Info("secretslocal request", "id", requestID, "target", targetGetSecretValue, "secret", out.ARN, "version", out.VersionId)
	body, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = w.Write(body)
}

func (s *Server) serve(r *http.Request) (*getSecretValueOutput, *apiError) {
	body, sum, err := readBody(r.Body)
	if err != nil {
		return nil, newError(codeInvalidParameter, "Could not read the request body: %v", err)
	}
	if err := s.verifier.Verify(r, sum, int64(len(body))); err != nil {
		return nil, signatureError(err)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("X-Amz-Target") != targetGetSecretValue {
		return nil, newError(codeInvalidAction, "The action or operation requested is invalid: %s %s with X-Amz-Target %q; this stand-in serves %s only",
			r.Method, r.URL.Path, r.Header.Get("X-Amz-Target"), targetGetSecretValue)
	}
	var in getSecretValueInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, newError(codeInvalidParameter, "The request body is not a JSON object of the operation's parameters.")
	}
	if in.SecretId == "" {
		return nil, newError(codeInvalidParameter, "You must provide a value for the SecretId parameter.")
	}
	return s.getSecretValue(in)
}

// getSecretValue answers an authenticated request.
func (s *Server) getSecretValue(in getSecretValueInput) (*getSecretValueOutput, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fault != "" {
		return nil, newError(s.fault, "%s", faultMessages[s.fault])
	}
	sec := s.secrets[in.SecretId]
	if sec == nil {
		sec = s.byName(in.SecretId)
	}
	if sec == nil {
		return nil, newError(codeResourceNotFound, "Secrets Manager can't find the specified secret.")
	}
	if sec.denied {
		return nil, newError(codeAccessDenied, "User: arn:aws:iam::%s:user/local is not authorized to perform: secretsmanager:GetSecretValue on resource: %s because no identity-based policy allows the secretsmanager:GetSecretValue action",
			s.account, in.SecretId)
	}
	v := sec.find(in.VersionId, in.VersionStage)
	if v == nil {
		return nil, newError(codeResourceNotFound, "Secrets Manager can't find the specified secret value for VersionId: %s, VersionStage: %s", in.VersionId, in.VersionStage)
	}
	return &getSecretValueOutput{ARN: sec.arn, Name: sec.name, VersionId: v.id, SecretString: v.str, SecretBinary: v.bin,
		VersionStages: append([]string(nil), v.stages...), CreatedDate: float64(v.created.UnixMilli()) / 1000}, nil
}

// find returns the version id names, or the one staged stage, or
// AWSCURRENT when neither is given; both must agree when both are.
func (sec *secret) find(id, stage string) *version {
	if id == "" && stage == "" {
		stage = StageCurrent
	}
	for _, v := range sec.versions {
		if (id == "" || v.id == id) && (stage == "" || hasStage(v, stage)) {
			return v
		}
	}
	return nil
}

// readBody reads a request body and returns it with its hex SHA-256.
func readBody(r io.Reader) ([]byte, string, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxRequestBytes+1))
	if err != nil {
		return nil, "", err
	}
	if len(body) > maxRequestBytes {
		return nil, "", errors.New("larger than 64 KiB")
	}
	sum := sha256.Sum256(body)
	return body, hex.EncodeToString(sum[:]), nil
}

func hasStage(v *version, stage string) bool { return slices.Contains(v.stages, stage) }

func without(stages []string, stage string) []string {
	return slices.DeleteFunc(stages, func(s string) bool { return s == stage })
}

// randomSuffix is the six characters Secrets Manager appends to a secret's
// name in its ARN.
func randomSuffix() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// newUUID returns a random (version 4) UUID, the shape of version and
// request ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
