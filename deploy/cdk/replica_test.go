package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentgate/agentgate/internal/agentcorelocal"
	"github.com/agentgate/agentgate/internal/auth"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/lambdalocal"
	"github.com/agentgate/agentgate/internal/limit/limittest"
	"github.com/agentgate/agentgate/internal/secretslocal"
	"github.com/agentgate/agentgate/internal/stack"
	"github.com/agentgate/agentgate/internal/testenv"
)

// The replica runs the synthesized deployment on loopback: the app is
// synthesized into a cloud assembly, and every hop is built from what the
// templates say, never from a second copy of the settings:
//
//	viewer ─▶ edge (replica_edge_test.go): the WebACL's rules it can evaluate,
//	          the behavior's methods, the viewer-request CloudFront Function
//	          and the Lambda@Edge body signer (the real code, under node), the
//	          origin request policy, the origin's custom headers, Origin
//	          Access Control's signing, the origin read timeout, the response
//	          headers policy
//	       ─▶ function URL (lambdalocal): SigV4 checked as AWS_IAM does, the
//	          real bootstrap from the assembly's code asset, two instances,
//	          each with the function's environment from the template
//	       ─▶ AgentCore (agentcore-local) and the agent; the limits table in
//	          dynalite.
//
// What Lambda and the network provide stand in too: the role's credentials,
// the code mounted at /var/task, and AWS's endpoints, which the SDK's own
// AWS_ENDPOINT_URL_<SERVICE> settings point at the local stand-ins.

// replicaTimeScale scales the edge's timeouts down, so that a test can
// outlast them: the origin read timeout of 60 s is 300 ms between reads of
// a streamed body in the replica (the first byte gets the whole 60 s, as a
// cold start here is not scaled down).
const replicaTimeScale = 0.005

// replica is one running copy of the deployment.
type replica struct {
	url     string // the distribution's
	apiKey  string
	reports chan agentcorelocal.InvocationReport
	local   *stack.Local
	main    template
	edge    template
	rv      *resolver
}

// putSecret sets fields of the gateway's secret as an operator does with
// `aws secretsmanager put-secret-value`: instances that start afterwards
// read them (and running ones at their next refresh).
func (rp *replica) putSecret(t *testing.T, fields map[string]any) {
	t.Helper()
	arn := rp.rv.value(get(t, rp.main.named(t, "AWS::Lambda::Function", "Gateway"), "Environment", "Variables", "AGENTGATE_SECRETS_ARN"))
	var obj map[string]any
	if err := json.Unmarshal([]byte(rp.rv.secrets[arn]), &obj); err != nil {
		t.Fatalf("the gateway's secret: %v", err)
	}
	for k, v := range fields {
		obj[k] = v
	}
	b, _ := json.Marshal(obj)
	for id, v := range rp.rv.values {
		if v == arn {
			rp.rv.sm.Put(id, string(b))
			rp.rv.secrets[arn] = string(b)
			return
		}
	}
	t.Fatalf("no secret %s", arn)
}

// replicaKeys are the credentials of the function's role (what the
// emulator and dynalite are signed with) and of CloudFront's OAC.
var oacKeys = aws.Credentials{AccessKeyID: "AKIDCLOUDFRONTOAC", SecretAccessKey: "oac-secret-key"}

var (
	bootstrapOnce sync.Once
	bootstrapDir  string
	bootstrapErr  error
)

// buildBootstrap builds the gateway as the deployment's bootstrap, for this
// machine, once: scripts/build-lambda.sh builds the same for arm64.
func buildBootstrap(t *testing.T) string {
	t.Helper()
	bootstrapOnce.Do(func() {
		dir, err := os.MkdirTemp("", "replica-code-")
		if err != nil {
			bootstrapErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "bootstrap"), "./cmd/agentgate")
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			bootstrapErr = fmt.Errorf("%v: %s", err, out)
		}
		bootstrapDir = dir
	})
	if bootstrapErr != nil {
		t.Fatalf("building the bootstrap: %v", bootstrapErr)
	}
	return bootstrapDir
}

// startReplica synthesizes the example settings, with the gateway section
// gateway, and runs the result. In gateway, {{ARN}} stands for the local
// runtime's ARN, {{KEYHASH}} for the hash of the replica's API key, and
// each of vars' keys for its value.
func startReplica(t *testing.T, delay time.Duration, gateway string, vars ...string) *replica {
	t.Helper()
	if testing.Short() {
		t.Skip("the replica builds and runs the whole deployment; -short skips it")
	}
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Missing(t, "node", "apt-get install -y nodejs")
	}
	code := buildBootstrap(t)
	dynamo := limittest.Dynalite(t)

	rp := &replica{reports: make(chan agentcorelocal.InvocationReport, 64)}
	cfg := config.Default()
	cfg.Agent.Builtin.Delay = delay
	ctx, cancel := context.WithCancel(context.Background())
	l, err := stack.StartLocal(ctx, cfg, stack.LocalOptions{Listen: "127.0.0.1:0", OnInvocation: func(r agentcorelocal.InvocationReport) {
		select {
		case rp.reports <- r:
		default:
		}
	}})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); l.Wait() })
	rp.local = l
	key, hash, err := auth.GenerateAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	rp.apiKey = key

	outdir := t.TempDir()
	s, err := LoadSettings(defaultSettingsFile)
	if err != nil {
		t.Fatal(err)
	}
	s.Account, s.Region = "123456789012", "eu-west-1"
	s.Lambda.Code = code
	gatewayYAML(t, s, strings.NewReplacer(append([]string{"{{ARN}}", l.ARN, "{{KEYHASH}}", hash}, vars...)...).Replace(gateway))
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir)})
	if _, err := NewAgentgate(app, s); err != nil {
		t.Fatal(err)
	}
	app.Synth(nil)
	rp.main = readTemplate(t, filepath.Join(outdir, s.StackName+".template.json"))
	rp.edge = readTemplate(t, filepath.Join(outdir, s.StackName+"Edge.template.json"))

	rv := newResolver(t, rp.main, s, dynamo, aws.Credentials{AccessKeyID: l.Config.AWS.AccessKeyID, SecretAccessKey: l.Config.AWS.SecretAccessKey})
	rp.rv = rv
	fn := startFunction(t, rp, rv, outdir, s, l, dynamo)
	d := rp.distribution(t, rv, s)
	fnProps := rp.edge.named(t, "AWS::Lambda::Function", "BodySigner")
	rt := startEdgeRuntime(t, get(t, rp.main.onlyProps(t, "AWS::CloudFront::Function"), "FunctionCode").(string),
		assetDir(t, outdir, fnProps), fnProps["Handler"].(string))
	e := &edge{d: d, rt: rt, origin: fn.URL(), client: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	rp.url = srv.URL
	return rp
}

func readTemplate(t *testing.T, path string) template {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tpl template
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

// onlyProps returns the properties of the one resource of type typ.
func (tpl template) onlyProps(t *testing.T, typ string) map[string]any {
	t.Helper()
	_, props := tpl.only(t, typ)
	return props
}

// named returns the properties of the one resource of type typ whose
// logical id starts with prefix.
func (tpl template) named(t *testing.T, typ, prefix string) map[string]any {
	t.Helper()
	var found []map[string]any
	for id, props := range tpl.resources(typ) {
		if strings.HasPrefix(id, prefix) {
			found = append(found, props)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d resources of type %s named %s*, want 1", len(found), typ, prefix)
	}
	return found[0]
}

// assetDir is the cloud assembly's folder for a function's code asset.
func assetDir(t *testing.T, outdir string, fn map[string]any) string {
	t.Helper()
	key := get(t, fn, "Code", "S3Key").(string)
	dir := filepath.Join(outdir, "asset."+strings.TrimSuffix(key, ".zip"))
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("code asset: %v", err)
	}
	return dir
}

// resolver resolves the intrinsic functions and dynamic references the
// function's environment and the distribution use, against the replica's
// stand-ins: a table's Ref is its name in dynalite, a secret's its ARN in
// the Secrets Manager stand-in, and a secret's value is generated here as
// Secrets Manager would generate it, then served by the stand-in, which the
// function reads at run time.
type resolver struct {
	t       *testing.T
	tpl     template
	values  map[string]string // logical id → value
	secrets map[string]string // secret ARN → SecretString
	// secretsURL is the Secrets Manager stand-in's.
	secretsURL string
	sm         *secretslocal.Server
}

func newResolver(t *testing.T, tpl template, s *Settings, dynamo string, keys aws.Credentials) *resolver {
	t.Helper()
	rv := &resolver{t: t, tpl: tpl, values: map[string]string{}, secrets: map[string]string{}}
	rv.generateSecrets(s, keys)
	db := dynamodb.New(dynamodb.Options{Region: s.Region, BaseEndpoint: aws.String(dynamo),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	for id, props := range tpl.resources("AWS::DynamoDB::Table") {
		in := &dynamodb.CreateTableInput{TableName: aws.String(id), BillingMode: types.BillingModePayPerRequest}
		for _, a := range props["AttributeDefinitions"].([]any) {
			a := a.(map[string]any)
			in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
				AttributeName: aws.String(a["AttributeName"].(string)), AttributeType: types.ScalarAttributeType(a["AttributeType"].(string))})
		}
		for _, k := range props["KeySchema"].([]any) {
			k := k.(map[string]any)
			in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String(k["AttributeName"].(string)), KeyType: types.KeyType(k["KeyType"].(string))})
		}
		if _, err := db.CreateTable(t.Context(), in); err != nil {
			t.Fatalf("table %s: %v", id, err)
		}
		rv.values[id] = id
	}
	return rv
}

// generateSecrets generates every secret's value, as CloudFormation has
// Secrets Manager do, into a Secrets Manager stand-in signed to with keys.
// A secret whose JSON template refers to other secrets comes after them.
func (rv *resolver) generateSecrets(s *Settings, keys aws.Credentials) {
	rv.t.Helper()
	sm, err := secretslocal.New(secretslocal.Config{Region: s.Region, AccountID: s.Account, AccessKeyID: keys.AccessKeyID, SecretAccessKey: keys.SecretAccessKey})
	if err != nil {
		rv.t.Fatal(err)
	}
	srv := httptest.NewServer(sm)
	rv.t.Cleanup(srv.Close)
	rv.secretsURL, rv.sm = srv.URL, sm
	secrets := rv.tpl.resources("AWS::SecretsManager::Secret")
	for _, pass := range []bool{false, true} {
		for id, props := range secrets {
			gen, _ := props["GenerateSecretString"].(map[string]any)
			tmpl, literal := gen["SecretStringTemplate"].(string)
			refers := gen["SecretStringTemplate"] != nil && !literal
			if refers != pass {
				continue
			}
			value := randomSecret()
			if gen["SecretStringTemplate"] != nil {
				if refers {
					tmpl = rv.value(gen["SecretStringTemplate"])
				}
				var obj map[string]any
				if err := json.Unmarshal([]byte(tmpl), &obj); err != nil {
					rv.t.Fatal(err)
				}
				obj[gen["GenerateStringKey"].(string)] = randomSecret()
				b, _ := json.Marshal(obj)
				value = string(b)
			}
			arn := sm.Put(id, value)
			rv.values[id], rv.secrets[arn] = arn, value
		}
	}
}

var dynamicSecret = regexp.MustCompile(`\{\{resolve:secretsmanager:([^:}]+(?::[^:}]+){6}|[^:}]+):SecretString:([^:}]*):([^:}]*):([^:}]*)\}\}`)

// value resolves v: a string, Ref, Fn::Join, and dynamic references to
// Secrets Manager within them.
func (rv *resolver) value(v any) string {
	rv.t.Helper()
	switch x := v.(type) {
	case string:
		return dynamicSecret.ReplaceAllStringFunc(x, func(ref string) string {
			m := dynamicSecret.FindStringSubmatch(ref)
			secret, ok := rv.secrets[m[1]]
			if !ok {
				rv.t.Fatalf("a dynamic reference to an unknown secret: %s", ref)
			}
			if m[2] == "" {
				return secret
			}
			var obj map[string]any
			if err := json.Unmarshal([]byte(secret), &obj); err != nil {
				rv.t.Fatalf("%s: the secret is no JSON object", ref)
			}
			return fmt.Sprint(obj[m[2]])
		})
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok {
			if val, ok := rv.values[ref]; ok {
				return val
			}
			rv.t.Fatalf("Ref %s: no stand-in", ref)
		}
		if join, ok := x["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range join[1].([]any) {
				parts = append(parts, rv.value(p))
			}
			return rv.value(strings.Join(parts, join[0].(string)))
		}
	}
	rv.t.Fatalf("cannot resolve %s", compact(v))
	return ""
}

// startFunction runs the gateway function's URL: the code asset's
// bootstrap, with the template's environment, Lambda's own additions, and
// AWS's endpoints pointed at the stand-ins.
func startFunction(t *testing.T, rp *replica, rv *resolver, outdir string, s *Settings, l *stack.Local, dynamo string) *lambdalocal.Function {
	t.Helper()
	fn := rp.main.named(t, "AWS::Lambda::Function", "Gateway")
	code := assetDir(t, outdir, fn)
	env := []string{
		"AWS_ACCESS_KEY_ID=" + l.Config.AWS.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + l.Config.AWS.SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL_BEDROCK_AGENTCORE=" + l.EmulatorURL,
		"AWS_ENDPOINT_URL_DYNAMODB=" + dynamo,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + rv.secretsURL,
	}
	for name, v := range get(t, fn, "Environment", "Variables").(map[string]any) {
		value := rv.value(v)
		// The code is mounted at /var/task in Lambda.
		if strings.HasPrefix(value, "/var/task/") {
			value = filepath.Join(code, strings.TrimPrefix(value, "/var/task/"))
		}
		env = append(env, name+"="+value)
	}
	var logs strings.Builder
	var mu sync.Mutex
	f, err := lambdalocal.Start(lambdalocal.Config{
		Bootstrap: filepath.Join(code, "bootstrap"),
		Env:       env,
		Name:      "agentgate-gateway",
		Account:   s.Account,
		Region:    s.Region,
		Instances: 2,
		IAM:       &oacKeys,
		Timeout:   time.Duration(fn["Timeout"].(float64)) * time.Second,
		Output:    writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) }),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			mu.Lock()
			t.Logf("gateway function output:\n%s", logs.String())
			mu.Unlock()
		}
	})
	return f
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// distribution reads the edge's configuration from the templates.
func (rp *replica) distribution(t *testing.T, rv *resolver, s *Settings) *distribution {
	t.Helper()
	dist := get(t, rp.main.onlyProps(t, "AWS::CloudFront::Distribution"), "DistributionConfig")
	behavior := get(t, dist, "DefaultCacheBehavior")
	d := &distribution{originHeaders: map[string]string{}, responseHeaders: map[string]responseHeader{},
		originRegion: s.Region, originAccessKeys: oacKeys, wafBodies: map[string]string{}}
	d.allowedMethods = strs(get(t, behavior, "AllowedMethods"))
	for _, a := range get(t, behavior, "LambdaFunctionAssociations").([]any) {
		d.includeBody = d.includeBody || a.(map[string]any)["IncludeBody"] == true
	}
	policy := get(t, rp.main.onlyProps(t, "AWS::CloudFront::OriginRequestPolicy"), "OriginRequestPolicyConfig")
	for _, h := range strs(get(t, policy, "HeadersConfig", "Headers")) {
		d.forwardHeaders = append(d.forwardHeaders, strings.ToLower(h))
	}
	d.forwardCookies = get(t, policy, "CookiesConfig", "CookieBehavior") == "all"
	d.forwardQuery = get(t, policy, "QueryStringsConfig", "QueryStringBehavior") == "all"
	origin := get(t, dist, "Origins", 0)
	d.firstByteTimeout = time.Duration(get(t, origin, "CustomOriginConfig", "OriginReadTimeout").(float64)) * time.Second
	d.readTimeout = time.Duration(float64(d.firstByteTimeout) * replicaTimeScale)
	if hs, ok := origin.(map[string]any)["OriginCustomHeaders"].([]any); ok {
		for _, h := range hs {
			h := h.(map[string]any)
			d.originHeaders[h["HeaderName"].(string)] = rv.value(h["HeaderValue"])
		}
	}
	sec := get(t, rp.main.onlyProps(t, "AWS::CloudFront::ResponseHeadersPolicy"), "ResponseHeadersPolicyConfig", "SecurityHeadersConfig").(map[string]any)
	if h, ok := sec["StrictTransportSecurity"].(map[string]any); ok {
		v := fmt.Sprintf("max-age=%.0f", h["AccessControlMaxAgeSec"])
		if h["IncludeSubdomains"] == true {
			v += "; includeSubDomains"
		}
		d.responseHeaders["Strict-Transport-Security"] = responseHeader{v, h["Override"] == true}
	}
	if h, ok := sec["ContentTypeOptions"].(map[string]any); ok {
		d.responseHeaders["X-Content-Type-Options"] = responseHeader{"nosniff", h["Override"] == true}
	}
	if h, ok := sec["FrameOptions"].(map[string]any); ok {
		d.responseHeaders["X-Frame-Options"] = responseHeader{h["FrameOption"].(string), h["Override"] == true}
	}
	if h, ok := sec["ReferrerPolicy"].(map[string]any); ok {
		d.responseHeaders["Referrer-Policy"] = responseHeader{h["ReferrerPolicy"].(string), h["Override"] == true}
	}
	if h, ok := sec["ContentSecurityPolicy"].(map[string]any); ok {
		d.responseHeaders["Content-Security-Policy"] = responseHeader{h["ContentSecurityPolicy"].(string), h["Override"] == true}
	}
	rp.webACL(t, d)
	return d
}

// webACL reads the rules of the WebACL that the replica can evaluate.
func (rp *replica) webACL(t *testing.T, d *distribution) {
	t.Helper()
	acl := rp.edge.onlyProps(t, "AWS::WAFv2::WebACL")
	if bodies, ok := acl["CustomResponseBodies"].(map[string]any); ok {
		for k, v := range bodies {
			d.wafBodies[k] = v.(map[string]any)["Content"].(string)
		}
	}
	for _, r := range acl["Rules"].([]any) {
		r := r.(map[string]any)
		action, _ := r["Action"].(map[string]any) // a managed group has an OverrideAction instead
		block, ok := action["Block"].(map[string]any)
		if !ok {
			continue
		}
		rule := &wafRule{name: r["Name"].(string), priority: int(r["Priority"].(float64)), status: 403, headers: map[string]string{}, seen: map[string][]time.Time{}}
		if cr, ok := block["CustomResponse"].(map[string]any); ok {
			rule.status = int(cr["ResponseCode"].(float64))
			rule.bodyKey, _ = cr["CustomResponseBodyKey"].(string)
			if hs, ok := cr["ResponseHeaders"].([]any); ok {
				for _, h := range hs {
					h := h.(map[string]any)
					rule.headers[h["Name"].(string)] = h["Value"].(string)
				}
			}
		}
		st := r["Statement"].(map[string]any)
		switch {
		case st["RegexMatchStatement"] != nil:
			rm := st["RegexMatchStatement"].(map[string]any)
			rule.header = get(t, rm, "FieldToMatch", "SingleHeader", "Name").(string)
			rule.regex = regexp.MustCompile(rm["RegexString"].(string))
		case st["RateBasedStatement"] != nil:
			rb := st["RateBasedStatement"].(map[string]any)
			rule.rate = int(rb["Limit"].(float64))
			rule.window = time.Duration(rb["EvaluationWindowSec"].(float64)) * time.Second
		default:
			continue
		}
		d.webACL = append(d.webACL, rule)
	}
	slicesSortRules(d.webACL)
}

func slicesSortRules(rules []*wafRule) {
	for i := 1; i < len(rules); i++ {
		for j := i; j > 0 && rules[j].priority < rules[j-1].priority; j-- {
			rules[j], rules[j-1] = rules[j-1], rules[j]
		}
	}
}
