package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/format"
	"github.com/aws/jsii-runtime-go"
)

func TestNumberAboveMatchesExactlyTheLargerNumbers(t *testing.T) {
	patterns := map[int64]*regexp.Regexp{}
	check := func(n, v int64) {
		t.Helper()
		re, ok := patterns[n]
		if !ok {
			re = regexp.MustCompile(numberAbove(n))
			patterns[n] = re
		}
		for _, s := range []string{strconv.FormatInt(v, 10), "00" + strconv.FormatInt(v, 10)} {
			if got := re.MatchString(s); got != (v > n) {
				t.Fatalf("numberAbove(%d) matches %q: %v, want %v (%s)", n, s, got, v > n, re)
			}
		}
	}
	for _, n := range []int64{0, 1, 9, 10, 99, 100, 190, 909, 999, 1000, 8192} {
		for v := range int64(12000) {
			check(n, v)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := r.Int64N(1 << 40)
		check(n, n-1)
		check(n, n)
		check(n, n+1)
		for range 50 {
			check(n, r.Int64N(4*n+10))
		}
	}
}

func TestNumberAboveRefusesWhatIsNotANumber(t *testing.T) {
	re := regexp.MustCompile(numberAbove(1048576))
	for _, s := range []string{"", " 2000000", "2000000 ", "-2000000", "2e9", "0x200000", "99999999999999999999a"} {
		if re.MatchString(s) {
			t.Errorf("matches %q", s)
		}
	}
	if len(numberAbove(1<<62)) > 512 {
		t.Error("pattern longer than the 512 characters WAF takes")
	}
}

// webACL returns the deployment's WebACL and its rules by name.
func (d deployment) webACL(t *testing.T) (map[string]any, map[string]any) {
	t.Helper()
	tpl := d.edge
	if tpl == nil {
		tpl = d.main
	}
	_, acl := tpl.only(t, "AWS::WAFv2::WebACL")
	rules := map[string]any{}
	for _, r := range acl["Rules"].([]any) {
		rules[get(t, r, "Name").(string)] = r
	}
	return acl, rules
}

// managedActions returns the action each managed rule gets: "count",
// "block 403" and so on, by rule name.
func managedActions(t *testing.T, rules map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, g := range managedGroups {
		statement := get(t, rules[g.Name], "Statement", "ManagedRuleGroupStatement")
		if get(t, statement, "VendorName") != "AWS" || get(t, statement, "Name") != g.Name {
			t.Errorf("rule %s uses %s", g.Name, compact(statement))
		}
		for _, o := range get(t, statement, "RuleActionOverrides").([]any) {
			name := get(t, o, "Name").(string)
			if _, dup := out[name]; dup {
				t.Errorf("%s is overridden twice", name)
			}
			action := get(t, o, "ActionToUse").(map[string]any)
			switch {
			case action["Count"] != nil:
				out[name] = "count"
			case action["Block"] != nil:
				out[name] = fmt.Sprintf("block %v", get(t, action, "Block", "CustomResponse", "ResponseCode"))
			default:
				out[name] = compact(action)
			}
		}
	}
	return out
}

func TestTheManagedRulesThatMatchPromptsCountUnlessSettingsBlockThem(t *testing.T) {
	_, rules := exampleDeployment(t).webACL(t)
	actions := managedActions(t, rules)
	for _, name := range managedRuleNames() {
		want := "block 403"
		if _, prompts := countedByDefault[name]; prompts {
			want = "count"
		}
		if actions[name] != want {
			t.Errorf("%s: %q, want %q", name, actions[name], want)
		}
	}
	for _, name := range []string{"CrossSiteScripting_BODY", "GenericLFI_BODY", "GenericRFI_BODY", "EC2MetaDataSSRF_BODY",
		"SizeRestrictions_QUERYSTRING", "SizeRestrictions_BODY", "JavaDeserializationRCE_BODY", "Log4JRCE_BODY"} {
		if actions[name] != "count" {
			t.Errorf("%s, which matches ordinary prompts, does not count by default: %q", name, actions[name])
		}
	}
	if len(actions) != len(managedRuleNames()) {
		t.Errorf("%d overrides, want one per rule (%d)", len(actions), len(managedRuleNames()))
	}

	t.Run("waf.block and waf.countOnly turn them", func(t *testing.T) {
		d := synth(t, func(s *Settings) {
			s.WAF.Block = []string{"CrossSiteScripting_BODY", "Log4JRCE_BODY"}
			s.WAF.CountOnly = []string{"NoUserAgent_HEADER"}
		})
		_, rules := d.webACL(t)
		actions := managedActions(t, rules)
		for name, want := range map[string]string{
			"CrossSiteScripting_BODY": "block 403", "Log4JRCE_BODY": "block 403",
			"NoUserAgent_HEADER": "count", "GenericLFI_BODY": "count", "UserAgent_BadBots_HEADER": "block 403",
		} {
			if actions[name] != want {
				t.Errorf("%s: %q, want %q", name, actions[name], want)
			}
		}
	})
}

// Each rule that counts by default is named in docs/deploy.md with why.
func TestTheDeployGuideNamesEachRuleThatCounts(t *testing.T) {
	doc, err := os.ReadFile(filepath.FromSlash("../../docs/deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range countedByDefault {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/deploy.md does not name %s", name)
		}
	}
	example, err := os.ReadFile(defaultSettingsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"block:", "countOnly:", "logs:", "accessLogs:", "allowPlaceholder:"} {
		if !strings.Contains(string(example), key) {
			t.Errorf("%s does not show %s", defaultSettingsFile, key)
		}
	}
}

// Every block the WebACL can answer, its own rules' and the managed rules',
// carries a custom JSON body in the gateway's error shape, with the status
// the gateway would give: 429 for the rate, 413 for the size, 403 else.
func TestEveryWAFBlockAnswersInTheGatewaysErrorShape(t *testing.T) {
	for name, d := range map[string]deployment{
		"the example settings": exampleDeployment(t),
		"a small body cap": synth(t, func(s *Settings) {
			gatewayYAML(t, s, "defaultAgent: demo\nagents: {demo: {arn: "+exampleARN+"}}\nauth: {none: true}\nlimits: {maxBodyBytes: 8192}")
		}),
	} {
		t.Run(name, func(t *testing.T) {
			acl, rules := d.webACL(t)
			bodies := get(t, acl, "CustomResponseBodies").(map[string]any)
			check := func(where string, block any, status float64) {
				t.Helper()
				resp := get(t, block, "CustomResponse")
				if resp == nil {
					t.Errorf("%s blocks with WAF's own page", where)
					return
				}
				if got := get(t, resp, "ResponseCode"); got != status {
					t.Errorf("%s answers %v, want %v", where, got, status)
				}
				key, _ := get(t, resp, "CustomResponseBodyKey").(string)
				body := bodies[key]
				if body == nil || get(t, body, "ContentType") != "APPLICATION_JSON" {
					t.Errorf("%s: body %q is %s, want JSON", where, key, compact(body))
					return
				}
				var answer struct {
					Error format.Failure `json:"error"`
				}
				dec := json.NewDecoder(strings.NewReader(get(t, body, "Content").(string)))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&answer); err != nil || answer.Error.Code == "" || answer.Error.Message == "" {
					t.Errorf("%s: body %s is not the gateway's error shape: %v", where, get(t, body, "Content"), err)
				}
			}
			blocks := 0
			for name, r := range rules {
				if b := lookup(r, "Action", "Block"); b != nil {
					blocks++
					want := map[string]float64{"RatePerIp": 429, "BodySize": 413}[name]
					if want == 0 {
						t.Errorf("rule %s blocks", name)
					}
					check(name, b, want)
				}
				overrides, _ := lookup(r, "Statement", "ManagedRuleGroupStatement", "RuleActionOverrides").([]any)
				for _, o := range overrides {
					if b := lookup(o, "ActionToUse", "Block"); b != nil {
						blocks++
						check(get(t, o, "Name").(string), b, 403)
					}
				}
			}
			if blocks < 3 {
				t.Errorf("%d blocks found, want the rate, the size and managed rules'", blocks)
			}
			if lookup(acl, "DefaultAction", "Allow") == nil {
				t.Errorf("default action %s, want allow", compact(get(t, acl, "DefaultAction")))
			}
		})
	}
}

func TestWAFLogsGoToAnAwsWafLogsGroupBesideTheWebACL(t *testing.T) {
	for region, d := range map[string]deployment{
		"eu-west-1": exampleDeployment(t),
		"us-east-1": synth(t, func(s *Settings) { s.Region = "us-east-1" }),
	} {
		t.Run("in "+region, func(t *testing.T) {
			tpl := d.edge
			if tpl == nil {
				tpl = d.main
			}
			aclID, _ := tpl.only(t, "AWS::WAFv2::WebACL")
			groupID, group := "", map[string]any(nil)
			for id, g := range tpl.resources("AWS::Logs::LogGroup") {
				if strings.HasPrefix(fmt.Sprint(g["LogGroupName"]), "aws-waf-logs-") {
					groupID, group = id, g
				}
			}
			if group == nil {
				t.Fatal("no aws-waf-logs-* log group in the WebACL's stack (us-east-1)")
			}
			if group["LogGroupName"] != "aws-waf-logs-Agentgate" || group["RetentionInDays"] != 30.0 {
				t.Errorf("log group %s", compact(group))
			}
			_, cfg := tpl.only(t, "AWS::WAFv2::LoggingConfiguration")
			if got := compact(cfg["ResourceArn"]); got != fmt.Sprintf(`{"Fn::GetAtt":["%s","Arn"]}`, aclID) {
				t.Errorf("logging for %s, want the WebACL", got)
			}
			dest := compact(get(t, cfg, "LogDestinationConfigs", 0))
			if !strings.Contains(dest, ":log-group:") || !strings.Contains(dest, `{"Ref":"`+groupID+`"}`) || strings.HasSuffix(dest, `:*"]]}`) {
				t.Errorf("destination %s, want the log group's ARN without :*", dest)
			}
			redacted := compact(cfg["RedactedFields"])
			for _, want := range []string{`"QueryString":{}`, `"Name":"x-api-key"`, `"Name":"cookie"`, `"Name":"authorization"`} {
				if !strings.Contains(redacted, want) {
					t.Errorf("redacted fields %s lack %s", redacted, want)
				}
			}
			if get(t, cfg, "LoggingFilter", "DefaultBehavior") != "DROP" {
				t.Errorf("logging filter %s, want blocked and counted requests only", compact(cfg["LoggingFilter"]))
			}
		})
	}

	t.Run("waf.logs false turns them off", func(t *testing.T) {
		d := synth(t, func(s *Settings) { s.WAF.Logs = jsii.Bool(false) })
		if n := len(d.edge.resources("AWS::WAFv2::LoggingConfiguration")); n != 0 {
			t.Errorf("%d logging configurations, want none", n)
		}
	})
}

func TestCloudFrontStandardLogsAreOffByDefaultAndGoToABucketWithACLs(t *testing.T) {
	d := exampleDeployment(t)
	_, dist := d.main.only(t, "AWS::CloudFront::Distribution")
	if got := lookup(dist, "DistributionConfig", "Logging"); got != nil {
		t.Errorf("logging %s, want none by default", compact(got))
	}
	if n := len(d.edge.resources("AWS::S3::Bucket")) + len(d.main.resources("AWS::S3::Bucket")); n != 0 {
		t.Errorf("%d buckets, want none by default", n)
	}

	d = synth(t, func(s *Settings) { s.Edge.AccessLogs = true })
	bucketID, bucket := d.edge.only(t, "AWS::S3::Bucket")
	if got := compact(get(t, bucket, "OwnershipControls")); got != `{"Rules":[{"ObjectOwnership":"BucketOwnerPreferred"}]}` {
		t.Errorf("ownership %s: standard logging needs ACLs, with the bucket owner preferred", got)
	}
	if got := compact(get(t, bucket, "PublicAccessBlockConfiguration")); strings.Contains(got, "false") || !strings.Contains(got, "BlockPublicAcls") {
		t.Errorf("public access block %s", got)
	}
	if get(t, bucket, "BucketEncryption") == nil || get(t, bucket, "LifecycleConfiguration", "Rules", 0, "ExpirationInDays") != 90.0 {
		t.Errorf("bucket %s, want encryption and logs expiring after 90 days", compact(bucket))
	}
	_, dist = d.main.only(t, "AWS::CloudFront::Distribution")
	logging := lookup(dist, "DistributionConfig", "Logging")
	if logging == nil || get(t, logging, "IncludeCookies") != false {
		t.Fatalf("logging %s, want standard logs without cookies", compact(logging))
	}
	// The bucket lives in us-east-1 with the WebACL: the distribution reads
	// its domain name through a cross-region reference.
	_, writer := d.edge.only(t, "Custom::CrossRegionExportWriter")
	if !strings.Contains(compact(writer), `"`+bucketID+`","RegionalDomainName"`) {
		t.Errorf("the us-east-1 stack does not export the bucket: %s", compact(writer))
	}
}
