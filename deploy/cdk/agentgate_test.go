package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"go.yaml.in/yaml/v3"

	"github.com/agentgate/agentgate/internal/identity"
)

// These tests synthesize the app offline, as `cdk synth` does, and read the
// CloudFormation templates.

const exampleARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/demo_agent-AbCdEf1234"

// template is a synthesized CloudFormation template.
type template map[string]any

// deployment is the templates of one synthesis.
type deployment struct {
	main, edge template
	// stacks are the synthesized stacks, outdir the cloud assembly.
	stacks []awscdk.Stack
	outdir string
}

// synth loads the example settings, lets change adjust them, and
// synthesizes the deployment in account 123456789012, eu-west-1 unless
// change says otherwise. The settings allow the placeholder bootstrap, as
// the tests run without a build.
func synth(t *testing.T, change func(*Settings)) deployment {
	t.Helper()
	d, err := synthesize(change)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func synthesize(change func(*Settings)) (deployment, error) {
	return synthesizeApp(change, nil)
}

// synthesizeApp is synthesize with prepare called on the app before any
// stack is added (aspects).
func synthesizeApp(change func(*Settings), prepare func(awscdk.App)) (deployment, error) {
	s, err := LoadSettings(defaultSettingsFile)
	if err != nil {
		return deployment{}, err
	}
	s.Account, s.Region = "123456789012", "eu-west-1"
	s.Lambda.AllowPlaceholder = true
	if change != nil {
		change(s)
	}
	app := awscdk.NewApp(nil)
	if prepare != nil {
		prepare(app)
	}
	d, err := NewAgentgate(app, s)
	if err != nil {
		return deployment{}, err
	}
	out := deployment{main: toJSON(d.Main), stacks: []awscdk.Stack{d.Main}, outdir: *app.Outdir()}
	if d.Edge != nil {
		out.edge = toJSON(d.Edge)
		out.stacks = append(out.stacks, d.Edge)
	}
	return out, nil
}

func toJSON(stack awscdk.Stack) template {
	return *assertions.Template_FromStack(stack, nil).ToJSON()
}

var example = sync.OnceValues(func() (deployment, error) { return synthesize(nil) })

// exampleDeployment is the example settings' synthesis, shared by the tests
// that only read it.
func exampleDeployment(t *testing.T) deployment {
	t.Helper()
	d, err := example()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// gatewayYAML replaces the settings' gateway section.
func gatewayYAML(t *testing.T, s *Settings, text string) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	s.Gateway = *doc.Content[0]
}

// resources returns the properties of every resource of type typ, by
// logical id.
func (tpl template) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range tpl["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] == typ {
			props, _ := r["Properties"].(map[string]any)
			out[id] = props
		}
	}
	return out
}

// only returns the properties of the one resource of type typ.
func (tpl template) only(t *testing.T, typ string) (string, map[string]any) {
	t.Helper()
	rs := tpl.resources(typ)
	if len(rs) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(rs), typ)
	}
	for id, props := range rs {
		return id, props
	}
	panic("unreachable")
}

// functionEnv returns the gateway function's environment variables.
func (tpl template) functionEnv(t *testing.T) map[string]any {
	t.Helper()
	for id, fn := range tpl.resources("AWS::Lambda::Function") {
		if strings.HasPrefix(id, "Gateway") {
			return get(t, fn, "Environment", "Variables").(map[string]any)
		}
	}
	t.Fatal("no gateway function")
	return nil
}

// get walks a path of map keys and slice indexes.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: %T is not an object", k, v)
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				t.Fatalf("at [%d]: %v is not a long enough list", k, v)
			}
			v = s[k]
		}
	}
	return v
}

// lookup walks a path of map keys like get, and returns nil where the
// path ends early.
func lookup(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestTheFunctionURLStreamsAndTakesOnlySignedRequests(t *testing.T) {
	d := exampleDeployment(t)
	_, url := d.main.only(t, "AWS::Lambda::Url")
	if url["AuthType"] != "AWS_IAM" || url["InvokeMode"] != "RESPONSE_STREAM" {
		t.Errorf("function URL auth %v, invoke mode %v; want AWS_IAM, RESPONSE_STREAM", url["AuthType"], url["InvokeMode"])
	}
	fns := d.main.resources("AWS::Lambda::Function")
	var gw map[string]any
	for id, fn := range fns {
		if strings.HasPrefix(id, "Gateway") {
			gw = fn
		}
	}
	if gw == nil {
		t.Fatalf("no gateway function among %v", slices.Collect(mapKeys(fns)))
	}
	for key, want := range map[string]any{"Runtime": "provided.al2023", "Handler": "bootstrap", "Timeout": 900.0, "MemorySize": 512.0, "ReservedConcurrentExecutions": nil} {
		if gw[key] != want {
			t.Errorf("gateway %s = %v, want %v", key, gw[key], want)
		}
	}
	if got := compact(gw["Architectures"]); got != `["arm64"]` {
		t.Errorf("architectures %s, want arm64", got)
	}
	env := get(t, gw, "Environment", "Variables").(map[string]any)
	if env["AGENTGATE_CONFIG"] != "/var/task/agentgate.yaml" || env["AGENTGATE_ORIGIN_HEADER"] != "X-Origin-Verify" {
		t.Errorf("environment %s", compact(env))
	}
	// secret_test.go checks that the rest holds no secret.
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestCloudFrontReachesTheFunctionThroughOriginAccessControl(t *testing.T) {
	d := exampleDeployment(t)
	oacID, oac := d.main.only(t, "AWS::CloudFront::OriginAccessControl")
	cfg := oac["OriginAccessControlConfig"].(map[string]any)
	if cfg["OriginAccessControlOriginType"] != "lambda" || cfg["SigningBehavior"] != "always" || cfg["SigningProtocol"] != "sigv4" {
		t.Errorf("origin access control %s", compact(cfg))
	}
	_, dist := d.main.only(t, "AWS::CloudFront::Distribution")
	origin := get(t, dist, "DistributionConfig", "Origins", 0)
	if got := compact(get(t, origin, "OriginAccessControlId")); got != fmt.Sprintf(`{"Fn::GetAtt":["%s","Id"]}`, oacID) {
		t.Errorf("origin access control id %s, want the OAC's", got)
	}
}

// OAC reaches a function URL with two permissions on the function
// ("Restrict access to an AWS Lambda function URL origin", CloudFront
// Developer Guide): lambda:InvokeFunctionUrl, and lambda:InvokeFunction
// through the URL only; both for this distribution alone, or any
// distribution in any account could call the function.
func TestCloudFrontMayInvokeTheFunctionOnlyForThisDistribution(t *testing.T) {
	d := exampleDeployment(t)
	distID, _ := d.main.only(t, "AWS::CloudFront::Distribution")
	var gatewayID string
	for id := range d.main.resources("AWS::Lambda::Function") {
		if strings.HasPrefix(id, "Gateway") {
			gatewayID = id
		}
	}
	urlID, url := d.main.only(t, "AWS::Lambda::Url")
	if got := compact(url["TargetFunctionArn"]); got != fmt.Sprintf(`{"Fn::GetAtt":["%s","Arn"]}`, gatewayID) {
		t.Fatalf("the function URL is %s's, want the gateway's", got)
	}
	wantSource := fmt.Sprintf(`{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":cloudfront::",{"Ref":"AWS::AccountId"},":distribution/",{"Ref":"%s"}]]}`, distID)
	actions := map[string]bool{}
	for id, p := range d.main.resources("AWS::Lambda::Permission") {
		if p["Principal"] != "cloudfront.amazonaws.com" {
			t.Errorf("permission %s for %v: only CloudFront may invoke the function", id, p["Principal"])
			continue
		}
		action := p["Action"].(string)
		actions[action] = true
		if got := compact(p["SourceArn"]); got != wantSource {
			t.Errorf("%s is allowed for %s, want this distribution alone: %s", action, got, wantSource)
		}
		if got := compact(p["FunctionName"]); got != fmt.Sprintf(`{"Fn::GetAtt":["%s","FunctionArn"]}`, urlID) {
			t.Errorf("%s is on %s, want the gateway function", action, got)
		}
		switch action {
		case "lambda:InvokeFunctionUrl":
			if p["FunctionUrlAuthType"] != nil && p["FunctionUrlAuthType"] != "AWS_IAM" {
				t.Errorf("%s for auth type %v", action, p["FunctionUrlAuthType"])
			}
		case "lambda:InvokeFunction":
			if p["InvokedViaFunctionUrl"] != true {
				t.Errorf("%s is not limited to calls through the function URL: %s", action, compact(p))
			}
		default:
			t.Errorf("CloudFront may %s", action)
		}
	}
	if !actions["lambda:InvokeFunctionUrl"] || !actions["lambda:InvokeFunction"] {
		t.Errorf("CloudFront may %v, want lambda:InvokeFunctionUrl and lambda:InvokeFunction", slices.Sorted(mapKeys(actions)))
	}
}

func TestTheBehaviorForwardsNeitherHostNorAcceptEncodingNorCaches(t *testing.T) {
	d := exampleDeployment(t)
	_, policy := d.main.only(t, "AWS::CloudFront::OriginRequestPolicy")
	headers := get(t, policy, "OriginRequestPolicyConfig", "HeadersConfig")
	if get(t, headers, "HeaderBehavior") != "whitelist" {
		t.Fatalf("header behavior %v, want a list", get(t, headers, "HeaderBehavior"))
	}
	var names []string
	for _, h := range get(t, headers, "Headers").([]any) {
		names = append(names, strings.ToLower(h.(string)))
	}
	for _, never := range []string{"host", "accept-encoding", "authorization"} {
		if slices.Contains(names, never) {
			t.Errorf("%s is forwarded: %v", never, names)
		}
	}
	for _, need := range []string{"content-type", "accept", "x-api-key", "x-agentgate-session-id", "traceparent", "cloudfront-viewer-address", "origin", "x-agentgate-fetch", "x-agentgate-authorization"} {
		if !slices.Contains(names, need) {
			t.Errorf("%s is not forwarded: %v", need, names)
		}
	}
	if len(names) > maxForwardedHeaders {
		t.Errorf("%d headers forwarded, past CloudFront's default quota of %d per policy: %v", len(names), maxForwardedHeaders, names)
	}
	if got := get(t, policy, "OriginRequestPolicyConfig", "CookiesConfig", "CookieBehavior"); got != "all" {
		t.Errorf("cookies %v, want all (the login cookie)", got)
	}
	_, dist := d.main.only(t, "AWS::CloudFront::Distribution")
	behavior := get(t, dist, "DistributionConfig", "DefaultCacheBehavior")
	const cachingDisabled = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
	// An API refuses plain HTTP rather than redirect it: a redirect would
	// follow a key already sent in the clear.
	for key, want := range map[string]any{"CachePolicyId": cachingDisabled, "ViewerProtocolPolicy": "https-only", "Compress": false} {
		if got := get(t, behavior, key); got != want {
			t.Errorf("behavior %s = %v, want %v", key, got, want)
		}
	}
	if got := len(get(t, behavior, "AllowedMethods").([]any)); got != 7 {
		t.Errorf("%d allowed methods, want all 7", got)
	}
	if get(t, behavior, "ResponseHeadersPolicyId") == nil {
		t.Error("no response headers policy")
	}
	_, sec := d.main.only(t, "AWS::CloudFront::ResponseHeadersPolicy")
	shc := compact(get(t, sec, "ResponseHeadersPolicyConfig", "SecurityHeadersConfig"))
	for _, want := range []string{"StrictTransportSecurity", "ContentTypeOptions", `"FrameOptions":{"FrameOption":"DENY","Override":true}`, "ReferrerPolicy"} {
		if !strings.Contains(shc, want) {
			t.Errorf("security headers lack %s: %s", want, shc)
		}
	}
	// The chat page's own Content-Security-Policy must reach the browser.
	csp := get(t, sec, "ResponseHeadersPolicyConfig", "SecurityHeadersConfig", "ContentSecurityPolicy")
	if csp != nil && (get(t, csp, "Override") != false || !strings.Contains(get(t, csp, "ContentSecurityPolicy").(string), "frame-ancestors 'none'")) {
		t.Errorf("content security policy %s: want frame-ancestors 'none' only where the origin sends none", compact(csp))
	}
}

func TestTheOriginWaitsSixtySecondsAndCarriesTheOriginLock(t *testing.T) {
	d := exampleDeployment(t)
	_, dist := d.main.only(t, "AWS::CloudFront::Distribution")
	origin := get(t, dist, "DistributionConfig", "Origins", 0)
	if got := get(t, origin, "CustomOriginConfig", "OriginReadTimeout"); got != 60.0 {
		t.Errorf("origin read timeout %v, want 60", got)
	}
	if got := get(t, origin, "CustomOriginConfig", "OriginProtocolPolicy"); got != "https-only" {
		t.Errorf("origin protocol %v, want https-only", got)
	}
	hdr := get(t, origin, "OriginCustomHeaders", 0)
	if get(t, hdr, "HeaderName") != "X-Origin-Verify" || !strings.Contains(compact(get(t, hdr, "HeaderValue")), "{{resolve:secretsmanager:") {
		t.Errorf("origin lock header %s", compact(hdr))
	}
}

func TestTheEdgeSignerSeesTheBodyOnOriginRequest(t *testing.T) {
	d := exampleDeployment(t)
	_, dist := d.main.only(t, "AWS::CloudFront::Distribution")
	assocs := get(t, dist, "DistributionConfig", "DefaultCacheBehavior", "LambdaFunctionAssociations").([]any)
	if len(assocs) != 1 {
		t.Fatalf("%d edge function associations, want 1", len(assocs))
	}
	a := assocs[0]
	if get(t, a, "EventType") != "origin-request" || get(t, a, "IncludeBody") != true {
		t.Errorf("association %s, want origin-request with the body", compact(a))
	}
	// The function itself lives in the us-east-1 stack.
	if d.edge == nil {
		t.Fatal("no us-east-1 stack for a eu-west-1 deployment")
	}
	var signer map[string]any
	for _, fn := range d.edge.resources("AWS::Lambda::Function") {
		if strings.HasPrefix(fmt.Sprint(fn["Description"]), "agentgate:") {
			signer = fn
		}
	}
	if signer == nil || signer["Handler"] != "index.handler" || !strings.HasPrefix(signer["Runtime"].(string), "nodejs") {
		t.Errorf("edge function %s", compact(signer))
	}
	d.edge.only(t, "AWS::Lambda::Version")
}

func TestTheViewersAuthorizationReachesTheGatewayInTheEdgesCopy(t *testing.T) {
	d := exampleDeployment(t)
	fnID, fn := d.main.only(t, "AWS::CloudFront::Function")
	if got := get(t, fn, "FunctionConfig", "Runtime"); got != "cloudfront-js-2.0" {
		t.Errorf("function runtime %v, want cloudfront-js-2.0", got)
	}
	if fn["AutoPublish"] != true {
		t.Errorf("the function is not published to LIVE: %s", compact(fn["AutoPublish"]))
	}
	code, err := os.ReadFile(filepath.Join(filepath.FromSlash(edgeCodeDir), viewerRequestFile))
	if err != nil {
		t.Fatal(err)
	}
	if fn["FunctionCode"] != string(code) {
		t.Errorf("the function's code is not %s as it stands", viewerRequestFile)
	}
	_, dist := d.main.only(t, "AWS::CloudFront::Distribution")
	assocs := get(t, dist, "DistributionConfig", "DefaultCacheBehavior", "FunctionAssociations").([]any)
	if len(assocs) != 1 {
		t.Fatalf("%d function associations, want 1", len(assocs))
	}
	if get(t, assocs[0], "EventType") != "viewer-request" || !strings.Contains(compact(get(t, assocs[0], "FunctionARN")), `"`+fnID+`"`) {
		t.Errorf("association %s, want this function on viewer-request", compact(assocs[0]))
	}
	_, policy := d.main.only(t, "AWS::CloudFront::OriginRequestPolicy")
	forwarded := strs(get(t, policy, "OriginRequestPolicyConfig", "HeadersConfig", "Headers"))
	if !slices.ContainsFunc(forwarded, func(h string) bool { return strings.EqualFold(h, "X-Agentgate-Authorization") }) {
		t.Errorf("X-Agentgate-Authorization is not forwarded: %v", forwarded)
	}
}

func TestTheWebACLRateLimitsChecksBodiesAndUsesTheManagedRules(t *testing.T) {
	d := exampleDeployment(t)
	aclID, acl := d.edge.only(t, "AWS::WAFv2::WebACL")
	if acl["Scope"] != "CLOUDFRONT" {
		t.Errorf("scope %v, want CLOUDFRONT", acl["Scope"])
	}
	rules := map[string]any{}
	for _, r := range acl["Rules"].([]any) {
		rules[get(t, r, "Name").(string)] = r
	}
	rate := get(t, rules["RatePerIp"], "Statement", "RateBasedStatement")
	if get(t, rate, "AggregateKeyType") != "IP" || get(t, rate, "Limit") != 300.0 {
		t.Errorf("rate rule %s", compact(rate))
	}
	if got := get(t, rules["RatePerIp"], "Action", "Block", "CustomResponse", "ResponseCode"); got != 429.0 {
		t.Errorf("rate rule answers %v, want 429", got)
	}
	// 1 MiB is past the 16 KB WAF inspects: the declared length is checked.
	body := get(t, rules["BodySize"], "Statement", "RegexMatchStatement")
	if get(t, body, "FieldToMatch", "SingleHeader", "Name") != "content-length" || get(t, body, "RegexString") != numberAbove(1048576) {
		t.Errorf("body size rule %s", compact(body))
	}
	if got := get(t, rules["BodySize"], "Action", "Block", "CustomResponse", "ResponseCode"); got != 413.0 {
		t.Errorf("body size rule answers %v, want 413", got)
	}
	common := get(t, rules["AWSManagedRulesCommonRuleSet"], "Statement", "ManagedRuleGroupStatement")
	if get(t, common, "VendorName") != "AWS" {
		t.Errorf("common rule set %s", compact(common))
	}
	if get(t, rules["AWSManagedRulesKnownBadInputsRuleSet"], "Statement", "ManagedRuleGroupStatement", "Name") != "AWSManagedRulesKnownBadInputsRuleSet" {
		t.Error("no KnownBadInputs rule group")
	}
	// The distribution names the WebACL through a cross-region reference.
	_, dist := d.main.only(t, "AWS::CloudFront::Distribution")
	if get(t, dist, "DistributionConfig", "WebACLId") == nil {
		t.Fatal("the distribution has no WebACL")
	}
	_, writer := d.edge.only(t, "Custom::CrossRegionExportWriter")
	if want := fmt.Sprintf(`{"Fn::GetAtt":["%s","Arn"]}`, aclID); !strings.Contains(compact(writer), want) {
		t.Errorf("the us-east-1 stack does not export the WebACL's ARN: %s", compact(writer))
	}
}

func TestASmallBodyCapIsCheckedOnTheBodyItself(t *testing.T) {
	d := synth(t, func(s *Settings) {
		gatewayYAML(t, s, "defaultAgent: demo\nagents: {demo: {arn: "+exampleARN+"}}\nauth: {none: true}\nlimits: {maxBodyBytes: 8192}")
	})
	_, acl := d.edge.only(t, "AWS::WAFv2::WebACL")
	var or any
	for _, r := range acl["Rules"].([]any) {
		if get(t, r, "Name") == "BodySize" {
			or = get(t, r, "Statement", "OrStatement", "Statements")
		}
	}
	size := get(t, or, 0, "SizeConstraintStatement")
	if get(t, size, "Size") != 8192.0 || get(t, size, "ComparisonOperator") != "GT" || get(t, size, "FieldToMatch", "Body", "OversizeHandling") != "MATCH" {
		t.Errorf("body size constraint %s", compact(size))
	}
	if get(t, or, 1, "RegexMatchStatement", "RegexString") != numberAbove(8192) {
		t.Errorf("declared length check %s", compact(get(t, or, 1)))
	}
}

// policyStatements returns the statements of the inline policies attached to
// the role with logical id role.
func (tpl template) policyStatements(t *testing.T, role string) []any {
	t.Helper()
	var out []any
	for _, p := range tpl.resources("AWS::IAM::Policy") {
		if strings.Contains(compact(p["Roles"]), fmt.Sprintf(`{"Ref":"%s"}`, role)) {
			out = append(out, get(t, p, "PolicyDocument", "Statement").([]any)...)
		}
	}
	return out
}

func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if str, ok := e.(string); ok {
				out = append(out, str)
			} else {
				out = append(out, compact(e))
			}
		}
		return out
	}
	return []string{compact(v)}
}

func TestTheGatewayMayOnlyInvokeAndStopItsRuntimes(t *testing.T) {
	d := exampleDeployment(t)
	var role string
	for id := range d.main.resources("AWS::IAM::Role") {
		if strings.HasPrefix(id, "GatewayRole") {
			role = id
		}
	}
	props := d.main.resources("AWS::IAM::Role")[role]
	if props["ManagedPolicyArns"] != nil || props["Policies"] != nil {
		t.Errorf("gateway role carries more policies: %s", compact(props))
	}
	var agentcore []string
	for _, st := range d.main.policyStatements(t, role) {
		actions, resources := strs(get(t, st, "Action")), strs(get(t, st, "Resource"))
		for _, r := range resources {
			if r == "*" || r == `"*"` {
				t.Errorf("statement %s allows every resource", compact(st))
			}
		}
		if strings.HasPrefix(actions[0], "logs:") {
			if len(resources) != 1 || !strings.Contains(resources[0], "GatewayLogs") {
				t.Errorf("logging reaches beyond the gateway's log group: %s", compact(st))
			}
			continue
		}
		if strings.HasPrefix(actions[0], "secretsmanager:") {
			continue // secret_test.go checks it
		}
		if strings.HasPrefix(actions[0], "dynamodb:") {
			if len(resources) != 1 || !strings.Contains(resources[0], `"Limits`) || !strings.Contains(resources[0], `"Arn"`) {
				t.Errorf("the limits store reaches beyond its table: %s", compact(st))
			}
			if want := []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}; !slices.Equal(actions, want) {
				t.Errorf("limits table actions %v, want exactly %v", actions, want)
			}
			continue
		}
		agentcore = append(agentcore, actions...)
		want := []string{exampleARN, exampleARN + "/runtime-endpoint/*"}
		if !slices.Equal(resources, want) {
			t.Errorf("agentcore resources %v, want %v", resources, want)
		}
	}
	slices.Sort(agentcore)
	want := []string{"bedrock-agentcore:InvokeAgentRuntime", "bedrock-agentcore:InvokeAgentRuntimeForUser", "bedrock-agentcore:StopRuntimeSession"}
	if !slices.Equal(agentcore, want) {
		t.Errorf("agentcore actions %v, want exactly %v", agentcore, want)
	}
}

func TestLimitsLiveInAnOnDemandTableWithTimeToLive(t *testing.T) {
	d := exampleDeployment(t)
	id, table := d.main.only(t, "AWS::DynamoDB::Table")
	if got := compact(table["KeySchema"]); got != `[{"AttributeName":"pk","KeyType":"HASH"}]` {
		t.Errorf("key schema %s, want pk alone", got)
	}
	if got := compact(table["AttributeDefinitions"]); got != `[{"AttributeName":"pk","AttributeType":"S"}]` {
		t.Errorf("attributes %s, want pk a string", got)
	}
	if table["BillingMode"] != "PAY_PER_REQUEST" {
		t.Errorf("billing mode %v, want on demand", table["BillingMode"])
	}
	if got := compact(table["TimeToLiveSpecification"]); got != `{"AttributeName":"expires","Enabled":true}` {
		t.Errorf("time to live %s, want on expires", got)
	}
	env := d.main.functionEnv(t)
	if env["AGENTGATE_LIMIT_STORE"] != "dynamodb" || compact(env["AGENTGATE_DYNAMODB_TABLE"]) != `{"Ref":"`+id+`"}` {
		t.Errorf("the function's limits store: %v, table %s; want dynamodb and %s", env["AGENTGATE_LIMIT_STORE"], compact(env["AGENTGATE_DYNAMODB_TABLE"]), id)
	}

	t.Run("a store the gateway settings name is kept, with no table", func(t *testing.T) {
		d := synth(t, func(s *Settings) {
			gatewayYAML(t, s, "defaultAgent: demo\nagents:\n  demo:\n    arn: "+exampleARN+"\nauth:\n  none: true\nlimits:\n  store: memory\n")
		})
		if tables := d.main.resources("AWS::DynamoDB::Table"); len(tables) != 0 {
			t.Errorf("%d tables, want none", len(tables))
		}
		if env := d.main.functionEnv(t); env["AGENTGATE_LIMIT_STORE"] != nil || env["AGENTGATE_DYNAMODB_TABLE"] != nil {
			t.Errorf("the function's environment still names a store: %s", compact(env))
		}
	})
}

func TestOutputsAreTheURLAndNeverAnARN(t *testing.T) {
	d := exampleDeployment(t)
	outs, _ := d.main["Outputs"].(map[string]any)
	if len(outs) != 1 || outs["GatewayUrl"] == nil {
		t.Fatalf("outputs %s, want GatewayUrl only", compact(outs))
	}
	if got := compact(get(t, outs, "GatewayUrl", "Value")); !strings.Contains(got, `"https://"`) || !strings.Contains(got, "DomainName") {
		t.Errorf("GatewayUrl = %s, want https:// and the distribution's domain", got)
	}
	for name, tpl := range map[string]template{"main": d.main, "edge": d.edge} {
		if got := compact(tpl["Outputs"]); strings.Contains(strings.ToLower(got), "arn") {
			t.Errorf("%s stack outputs name an ARN: %s", name, got)
		}
	}
}

func TestAPrebuiltImageMakesTheRuntimeTheDefaultAgent(t *testing.T) {
	d := exampleDeployment(t)
	if n := len(d.main.resources("AWS::BedrockAgentCore::Runtime")); n != 0 {
		t.Errorf("%d runtimes without an image, want 0", n)
	}
	d.main.only(t, "AWS::ECR::Repository")

	const image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/agentgate-agent:v1"
	d = synth(t, func(s *Settings) {
		s.AgentRuntime.ImageURI = image
		gatewayYAML(t, s, "defaultAgent: demo\nauth: {none: true}")
	})
	runtimeID, rt := d.main.only(t, "AWS::BedrockAgentCore::Runtime")
	if got := get(t, rt, "AgentRuntimeArtifact", "ContainerConfiguration", "ContainerUri"); got != image {
		t.Errorf("container %v, want %s", got, image)
	}
	if images := d.dockerImages(t); len(images) != 0 {
		t.Errorf("%d image assets to build beside a prebuilt image, want none", len(images))
	}
	if get(t, rt, "NetworkConfiguration", "NetworkMode") != "PUBLIC" || rt["RoleArn"] == nil {
		t.Errorf("runtime %s", compact(rt))
	}
	runtimeARN := fmt.Sprintf(`{"Fn::GetAtt":["%s","AgentRuntimeArn"]}`, runtimeID)
	for id, fn := range d.main.resources("AWS::Lambda::Function") {
		if strings.HasPrefix(id, "Gateway") {
			if got := compact(get(t, fn, "Environment", "Variables", "AGENTGATE_UPSTREAM_ARN")); got != runtimeARN {
				t.Errorf("AGENTGATE_UPSTREAM_ARN = %s, want the runtime's ARN", got)
			}
		}
	}
	var scoped bool
	for _, p := range d.main.resources("AWS::IAM::Policy") {
		doc := compact(p)
		if strings.Contains(doc, "bedrock-agentcore:InvokeAgentRuntime") {
			scoped = strings.Contains(doc, runtimeARN)
		}
	}
	if !scoped {
		t.Error("the gateway may not invoke the runtime it was deployed with")
	}
}

func TestInUSEast1EverythingIsOneStack(t *testing.T) {
	d := synth(t, func(s *Settings) { s.Region = "us-east-1" })
	if d.edge != nil {
		t.Fatal("a us-east-1 deployment made a second stack")
	}
	aclID, _ := d.main.only(t, "AWS::WAFv2::WebACL")
	_, dist := d.main.only(t, "AWS::CloudFront::Distribution")
	if got := compact(get(t, dist, "DistributionConfig", "WebACLId")); got != fmt.Sprintf(`{"Fn::GetAtt":["%s","Arn"]}`, aclID) {
		t.Errorf("WebACLId %s, want the WebACL's ARN", got)
	}
	if outs := compact(d.main["Outputs"]); strings.Contains(strings.ToLower(outs), "arn") {
		t.Errorf("outputs name an ARN: %s", outs)
	}
}

func TestWithoutAnyAgentTheStackBuildsTheAgentAsTheDefaultAgent(t *testing.T) {
	d := synth(t, func(s *Settings) { gatewayYAML(t, s, "auth: {none: true}") })
	runtimeID, rt := d.main.only(t, "AWS::BedrockAgentCore::Runtime")
	uri := compact(get(t, rt, "AgentRuntimeArtifact", "ContainerConfiguration", "ContainerUri"))
	if !strings.Contains(uri, "cdk-hnb659fds-container-assets-") {
		t.Errorf("container %s, want the image asset in the CDK bootstrap's repository", uri)
	}
	if got := compact(d.main.functionEnv(t)["AGENTGATE_UPSTREAM_ARN"]); got != fmt.Sprintf(`{"Fn::GetAtt":["%s","AgentRuntimeArn"]}`, runtimeID) {
		t.Errorf("AGENTGATE_UPSTREAM_ARN = %s, want the runtime's ARN", got)
	}
	if len(d.main.resources("AWS::CloudFront::Distribution")) == 0 || d.edge == nil {
		t.Error("the gateway was not deployed with the agent")
	}

	images := d.dockerImages(t)
	if len(images) != 1 {
		t.Fatalf("%d image assets, want 1", len(images))
	}
	for _, img := range images {
		src := img["source"].(map[string]any)
		if src["dockerFile"] != agentDockerfile || src["platform"] != "linux/arm64" {
			t.Errorf("image asset %s, want %s for linux/arm64", compact(src), agentDockerfile)
		}
		// The build context is the repository root, cut down to what the
		// Dockerfile copies: the asset changes only with the agent's sources.
		dir := filepath.Join(d.outdir, src["directory"].(string))
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var top []string
		for _, e := range entries {
			top = append(top, e.Name())
		}
		if want := []string{"cmd", "deploy", "go.mod", "go.sum", "internal"}; !slices.Equal(top, want) {
			t.Errorf("build context holds %v, want %v", top, want)
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(agentDockerfile))); err != nil {
			t.Errorf("the Dockerfile is not in the build context: %v", err)
		}
		filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err == nil && (e.Name() == "testdata" || strings.HasSuffix(e.Name(), "_test.go") || e.Name() == "node_modules") {
				t.Errorf("the build context holds %s", path)
				return fs.SkipDir
			}
			return err
		})
	}
}

// TestTheCreatedRuntimeLetsTheGatewaysIdentityHeadersThrough: AgentCore
// passes on only the custom headers a runtime allow-lists, so the runtime
// the stack creates lists those the gateway tells its agent who is asking
// in: the principal's always, and each claim the default agent is sent.
func TestTheCreatedRuntimeLetsTheGatewaysIdentityHeadersThrough(t *testing.T) {
	const email = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Email"
	for _, tc := range []struct {
		name, gateway string
		want          []string
	}{
		{"without claims, the principal's", "auth: {none: true}", []string{identity.PrincipalHeader, identity.PrincipalKindHeader}},
		{"with claims, theirs too", "auth: {jwt: {issuer: 'https://idp.example', audience: agentgate}}\nagents: {default: {forwardClaims: {email: " + email + "}}}",
			[]string{identity.PrincipalHeader, identity.PrincipalKindHeader, email}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := synth(t, func(s *Settings) { gatewayYAML(t, s, tc.gateway) })
			_, rt := d.main.only(t, "AWS::BedrockAgentCore::Runtime")
			want, _ := json.Marshal(tc.want)
			if got := compact(get(t, rt, "RequestHeaderConfiguration", "RequestHeaderAllowlist")); got != string(want) {
				t.Errorf("requestHeaderAllowlist %s, want %s", got, want)
			}
		})
	}
}

// dockerImages returns the Docker image assets of the deployment's stacks.
func (d deployment) dockerImages(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, stack := range d.stacks {
		data, err := os.ReadFile(filepath.Join(d.outdir, *stack.ArtifactId()+".assets.json"))
		if err != nil {
			t.Fatal(err)
		}
		var manifest struct {
			DockerImages map[string]map[string]any `json:"dockerImages"`
		}
		if err := json.Unmarshal(data, &manifest); err != nil {
			t.Fatal(err)
		}
		maps.Copy(out, manifest.DockerImages)
	}
	return out
}

func TestAMissingBootstrapFailsTheSynthUnlessAPlaceholderIsAllowed(t *testing.T) {
	_, err := synthesize(func(s *Settings) {
		s.Lambda.Code = t.TempDir()
		s.Lambda.AllowPlaceholder = false
	})
	if err == nil || !strings.Contains(err.Error(), "scripts/build-lambda.sh") || !strings.Contains(err.Error(), "allowPlaceholder") {
		t.Errorf("error %v, want one naming scripts/build-lambda.sh and lambda.allowPlaceholder", err)
	}

	d, err := synthesizeApp(func(s *Settings) { s.Lambda.Code = t.TempDir() }, nil)
	if err != nil {
		t.Fatal(err)
	}
	warnings := assertions.Annotations_FromStack(d.stacks[0]).FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("placeholder")))
	if len(*warnings) == 0 {
		t.Error("a placeholder deployment gives no warning")
	}
}
