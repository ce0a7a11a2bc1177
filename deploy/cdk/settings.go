package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/jsii-runtime-go"
	"go.yaml.in/yaml/v3"
)

// Settings is the deployment's one configuration, read from a YAML file
// (settings.example.yaml shows and explains every field). The gateway section
// is agentgate's own configuration: it is validated with the gateway's code
// and bundled with the function as it is.
type Settings struct {
	// Account and Region place the gateway and the agent. Empty: the AWS CLI
	// profile's (CDK_DEFAULT_ACCOUNT, CDK_DEFAULT_REGION).
	Account string `yaml:"account"`
	Region  string `yaml:"region"`
	// StackName names the main stack; the us-east-1 stack is StackName+"Edge".
	StackName    string               `yaml:"stackName"`
	Lambda       LambdaSettings       `yaml:"lambda"`
	Edge         EdgeSettings         `yaml:"edge"`
	WAF          WAFSettings          `yaml:"waf"`
	AgentRuntime AgentRuntimeSettings `yaml:"agentRuntime"`
	// Gateway is agentgate's configuration (agentgate.example.yaml), kept
	// as a node so that it reaches the function exactly as written.
	Gateway yaml.Node `yaml:"gateway"`

	// dir is the settings file's folder: relative paths start there.
	dir string
}

// LambdaSettings shape the gateway function.
type LambdaSettings struct {
	// Code is the folder holding `bootstrap` (scripts/build-lambda.sh).
	Code string `yaml:"code"`
	// AllowPlaceholder lets a synth without a built bootstrap go on with a
	// stand-in that fails every invocation (tests, CI); otherwise a missing
	// bootstrap fails the synth.
	AllowPlaceholder bool `yaml:"allowPlaceholder"`
	MemorySize       int  `yaml:"memorySize"`
	LogRetentionDays int  `yaml:"logRetentionDays"`
	// ReservedConcurrency caps the streams open at once across all
	// instances (one request per instance); 0: the account's pool.
	ReservedConcurrency int `yaml:"reservedConcurrency"`
}

// EdgeSettings shape the CloudFront side.
type EdgeSettings struct {
	// OriginHeader and OriginSecret lock the origin: CloudFront adds the
	// header, the gateway refuses requests without it. An empty secret is
	// generated in Secrets Manager at deploy time.
	OriginHeader string `yaml:"originHeader"`
	OriginSecret string `yaml:"originSecret"`
	// AccessLogs turns on CloudFront's standard logs, to an S3 bucket in
	// us-east-1 that keeps them AccessLogDays days.
	AccessLogs    bool `yaml:"accessLogs"`
	AccessLogDays int  `yaml:"accessLogDays"`
}

// WAFSettings shape the WebACL in front of the distribution.
type WAFSettings struct {
	// RequestsPerIP within WindowSeconds (60, 120, 300 or 600) per client IP.
	RequestsPerIP int `yaml:"requestsPerIp"`
	WindowSeconds int `yaml:"windowSeconds"`
	// BodyInspectionLimit is how much of a body WAF sees: KB_16 (free), KB_32,
	// KB_48 or KB_64.
	BodyInspectionLimit string `yaml:"bodyInspectionLimit"`
	// Block names rules of the managed rule groups that count by default,
	// as they match ordinary prompts (countedByDefault), and should block.
	Block []string `yaml:"block"`
	// CountOnly names other rules of the managed rule groups that should
	// only count.
	CountOnly []string `yaml:"countOnly"`
	// Logs sends the requests WAF blocked or counted to the CloudWatch log
	// group aws-waf-logs-<stackName> in us-east-1, kept LogRetentionDays.
	// Default true.
	Logs             *bool `yaml:"logs"`
	LogRetentionDays int   `yaml:"logRetentionDays"`
}

// AgentRuntimeSettings shape the agent side: the ECR repository, the
// execution role and the AgentCore runtime, which the stack creates when
// the gateway section names no agent, or ImageURI is set; it serves as the
// gateway's default agent.
type AgentRuntimeSettings struct {
	Name       string `yaml:"name"`
	Repository string `yaml:"repository"`
	// ImageURI is a prebuilt image for the runtime; empty: `cdk deploy`
	// builds deploy/docker/agent.Dockerfile.
	ImageURI    string            `yaml:"imageUri"`
	Environment map[string]string `yaml:"environment"`
}

// defaultSettingsFile is what cdk.json names when no -c settings=FILE is given.
const defaultSettingsFile = "settings.example.yaml"

// LoadSettings reads the settings file at path, refusing fields it does not
// know, and fills in the defaults.
func LoadSettings(path string) (*Settings, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	var s Settings
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("settings %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	s.dir = filepath.Dir(abs)
	s.defaults()
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("settings %s: %w", path, err)
	}
	return &s, nil
}

func (s *Settings) defaults() {
	setDefault(&s.StackName, "Agentgate")
	setDefault(&s.Lambda.Code, "../../dist/lambda")
	setDefault(&s.Edge.OriginHeader, "X-Origin-Verify")
	setDefault(&s.WAF.BodyInspectionLimit, "KB_16")
	setDefault(&s.AgentRuntime.Name, "agentgate_agent")
	setDefault(&s.AgentRuntime.Repository, "agentgate-agent")
	if s.Lambda.MemorySize == 0 {
		s.Lambda.MemorySize = 512
	}
	if s.Lambda.LogRetentionDays == 0 {
		s.Lambda.LogRetentionDays = 30
	}
	if s.WAF.RequestsPerIP == 0 {
		s.WAF.RequestsPerIP = 300
	}
	if s.WAF.WindowSeconds == 0 {
		s.WAF.WindowSeconds = 300
	}
	if s.WAF.Logs == nil {
		s.WAF.Logs = jsii.Bool(true)
	}
	if s.WAF.LogRetentionDays == 0 {
		s.WAF.LogRetentionDays = 30
	}
	if s.Edge.AccessLogDays == 0 {
		s.Edge.AccessLogDays = 90
	}
}

func setDefault(field *string, value string) {
	if *field == "" {
		*field = value
	}
}

var (
	stackNamePattern   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,100}$`)
	runtimeNamePattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,47}$`)
	repositoryPattern  = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)
	headerNamePattern  = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	// An ECR image: ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO followed by
	// :TAG or @sha256:DIGEST.
	imageURIPattern = regexp.MustCompile(`^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([a-z0-9._/-]+)(?::[A-Za-z0-9_.-]{1,128}|@sha256:[a-f0-9]{64})$`)
)

// validate checks the deployment's own fields; the gateway section is
// checked by the gateway's code (planGateway).
func (s *Settings) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !stackNamePattern.MatchString(s.StackName) {
		bad("stackName", "%q: letters, digits and -, starting with a letter", s.StackName)
	}
	if s.Lambda.MemorySize < 128 || s.Lambda.MemorySize > 10240 {
		bad("lambda.memorySize", "%d is not 128 to 10240 MB", s.Lambda.MemorySize)
	}
	if s.Lambda.ReservedConcurrency < 0 {
		bad("lambda.reservedConcurrency", "must not be negative")
	}
	if _, ok := retentionDays[s.Lambda.LogRetentionDays]; !ok {
		bad("lambda.logRetentionDays", "%d is not one of CloudWatch's retentions (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731)", s.Lambda.LogRetentionDays)
	}
	if !headerNamePattern.MatchString(s.Edge.OriginHeader) {
		bad("edge.originHeader", "%q is not a header name", s.Edge.OriginHeader)
	}
	if s.Edge.OriginSecret != "" && len(s.Edge.OriginSecret) < 16 {
		bad("edge.originSecret", "must be at least 16 characters (or empty: generated)")
	}
	if s.WAF.RequestsPerIP < 10 {
		bad("waf.requestsPerIp", "%d: AWS WAF takes 10 or more", s.WAF.RequestsPerIP)
	}
	if !slices.Contains([]int{60, 120, 300, 600}, s.WAF.WindowSeconds) {
		bad("waf.windowSeconds", "%d is not 60, 120, 300 or 600", s.WAF.WindowSeconds)
	}
	if !slices.Contains(inspectionLimits, s.WAF.BodyInspectionLimit) {
		bad("waf.bodyInspectionLimit", "%q is not one of KB_16, KB_32, KB_48, KB_64", s.WAF.BodyInspectionLimit)
	}
	// WAF ignores an override naming no rule of the group, so a typo
	// here would silently leave a rule as it was.
	for _, name := range s.WAF.Block {
		if _, ok := countedByDefault[name]; !ok {
			bad("waf.block", "%q is not one of the rules that count by default: %s", name, strings.Join(slices.Sorted(maps.Keys(countedByDefault)), ", "))
		}
	}
	for _, name := range s.WAF.CountOnly {
		switch {
		case !slices.Contains(managedRuleNames(), name):
			bad("waf.countOnly", "%q is not a rule of %s (docs/deploy.md lists them)", name, managedGroupNames())
		case slices.Contains(s.WAF.Block, name):
			bad("waf.countOnly", "%q is also in waf.block", name)
		}
	}
	if _, ok := retentionDays[s.WAF.LogRetentionDays]; !ok {
		bad("waf.logRetentionDays", "%d is not one of CloudWatch's retentions (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731)", s.WAF.LogRetentionDays)
	}
	if s.Edge.AccessLogDays < 1 {
		bad("edge.accessLogDays", "%d: logs are kept 1 day or more", s.Edge.AccessLogDays)
	}
	if !runtimeNamePattern.MatchString(s.AgentRuntime.Name) {
		bad("agentRuntime.name", "%q: letters, digits and _, starting with a letter, at most 48", s.AgentRuntime.Name)
	}
	if !repositoryPattern.MatchString(s.AgentRuntime.Repository) {
		bad("agentRuntime.repository", "%q is not an ECR repository name", s.AgentRuntime.Repository)
	}
	if s.AgentRuntime.ImageURI != "" && !imageURIPattern.MatchString(s.AgentRuntime.ImageURI) {
		bad("agentRuntime.imageUri", "%q is not an ECR image (ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG)", s.AgentRuntime.ImageURI)
	}
	if s.Gateway.Kind != 0 && s.Gateway.Kind != yaml.MappingNode {
		bad("gateway", "must be a mapping: agentgate's configuration")
	}
	return errors.Join(errs...)
}

var inspectionLimits = []string{"KB_16", "KB_32", "KB_48", "KB_64"}

func managedGroupNames() string {
	var names []string
	for _, g := range managedGroups {
		names = append(names, g.Name)
	}
	return strings.Join(names, " or ")
}

// inspectionBytes is how many bytes of a body WAF inspects.
func (w WAFSettings) inspectionBytes() int64 {
	return int64(16*(1+slices.Index(inspectionLimits, w.BodyInspectionLimit))) << 10
}

// path resolves a path from the settings file's folder.
func (s *Settings) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.dir, p)
}

// imageRepository parses AgentRuntime.ImageURI into the ECR repository's
// account, region and name, for the execution role's pull permission.
func (s *Settings) imageRepository() (account, region, name string) {
	m := imageURIPattern.FindStringSubmatch(s.AgentRuntime.ImageURI)
	if m == nil {
		return "", "", ""
	}
	return m[1], m[2], m[3]
}
