package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// managedGroup is an AWS managed rule group and every rule it holds, by the
// names AWS WAF documents ("Baseline rule groups" in the AWS WAF Developer
// Guide). The WebACL overrides each rule by name, to count it or to block
// with the gateway's JSON answer; WAF silently ignores an override naming a
// rule the group lacks, so these lists are checked against the guide, and
// a rule AWS adds later blocks with WAF's own 403 until it is listed here.
type managedGroup struct {
	Name  string
	Rules []string
}

var managedGroups = []managedGroup{
	{Name: "AWSManagedRulesCommonRuleSet", Rules: []string{
		"NoUserAgent_HEADER", "UserAgent_BadBots_HEADER",
		"SizeRestrictions_QUERYSTRING", "SizeRestrictions_Cookie_HEADER", "SizeRestrictions_BODY", "SizeRestrictions_URIPATH",
		"EC2MetaDataSSRF_BODY", "EC2MetaDataSSRF_COOKIE", "EC2MetaDataSSRF_URIPATH", "EC2MetaDataSSRF_QUERYARGUMENTS",
		"GenericLFI_QUERYARGUMENTS", "GenericLFI_URIPATH", "GenericLFI_BODY",
		"RestrictedExtensions_URIPATH", "RestrictedExtensions_QUERYARGUMENTS",
		"GenericRFI_QUERYARGUMENTS", "GenericRFI_BODY", "GenericRFI_URIPATH",
		"CrossSiteScripting_COOKIE", "CrossSiteScripting_QUERYARGUMENTS", "CrossSiteScripting_BODY", "CrossSiteScripting_URIPATH",
	}},
	{Name: "AWSManagedRulesKnownBadInputsRuleSet", Rules: []string{
		"JavaDeserializationRCE_HEADER", "JavaDeserializationRCE_BODY", "JavaDeserializationRCE_URIPATH", "JavaDeserializationRCE_QUERYSTRING",
		"Host_localhost_HEADER", "PROPFIND_METHOD", "ExploitablePaths_URIPATH",
		"Log4JRCE_HEADER", "Log4JRCE_QUERYSTRING", "Log4JRCE_BODY", "Log4JRCE_URIPATH",
		"ReactJSRCE_BODY",
	}},
}

// countedByDefault are the managed rules that match ordinary prompts, with
// what they match: a prompt quotes code, HTML, shell, file paths and URLs,
// and the gateway hands it to the agent as text, never as markup, a path or
// an address to fetch. They count (and log) unless settings waf.block names
// them; the gateway's own body cap (the BodySize rule) and rate limits stand
// in for the size rules.
var countedByDefault = map[string]string{
	"SizeRestrictions_BODY":        "bodies past 8 KB: any long prompt (the BodySize rule mirrors limits.maxBodyBytes instead)",
	"SizeRestrictions_QUERYSTRING": "query strings past 2 KB: a prompt sent with GET (?prompt=)",
	"CrossSiteScripting_BODY":      "HTML and <script> tags, which prompts about web pages quote",
	"GenericLFI_BODY":              "file paths such as ../ or /etc/passwd, which prompts about code and shells quote",
	"GenericRFI_BODY":              "URLs, which prompts quote all the time",
	"EC2MetaDataSSRF_BODY":         "the instance metadata address 169.254.169.254, which prompts about AWS quote",
	"JavaDeserializationRCE_BODY":  "Java serialization and class names, which prompts about Java quote",
	"Log4JRCE_BODY":                "${jndi: lookups, which prompts about Log4Shell quote",
	"ReactJSRCE_BODY":              "React Server Components payloads, which prompts about React quote",
}

// managedRuleNames returns every rule of the managed groups.
func managedRuleNames() []string {
	var out []string
	for _, g := range managedGroups {
		out = append(out, g.Rules...)
	}
	return out
}

// counts reports whether the managed rule name only counts: it matches
// prompts and waf.block does not name it, or waf.countOnly names it.
func (w WAFSettings) counts(name string) bool {
	_, prompts := countedByDefault[name]
	return (prompts && !slices.Contains(w.Block, name)) || slices.Contains(w.CountOnly, name)
}

// Custom response bodies: WAF's refusals read like the gateway's own
// ({"error":{"code","message"}}). WAF bodies are static, so they carry no
// requestId; CloudFront's request id is in the x-amz-cf-id header.
const (
	bodyBlocked     = "blocked"
	bodyRateLimited = "rate-limited"
	bodyTooLarge    = "body-too-large"
)

// newWebACL builds the WebACL that guards the distribution before a request
// costs anything: a rate limit per client IP, a body-size rule mirroring the
// gateway's limits.maxBodyBytes, and the AWS Common and KnownBadInputs rule
// groups; every block answers in the gateway's JSON error shape. Its scope
// is CLOUDFRONT, so it must live in us-east-1: scope is the us-east-1 stack
// (or the main stack when that is in us-east-1), which also holds its logs.
func newWebACL(scope constructs.Construct, s *Settings, maxBodyBytes int64) awswafv2.CfnWebACL {
	name := s.StackName + "-gateway"
	rules := []any{rateRule(s.WAF), bodySizeRule(maxBodyBytes, s.WAF.inspectionBytes())}
	for i, g := range managedGroups {
		rules = append(rules, managedRule(2+i, g, s.WAF))
	}
	acl := awswafv2.NewCfnWebACL(scope, jsii.String("WebAcl"), &awswafv2.CfnWebACLProps{
		Name:             jsii.String(name),
		Description:      jsii.String("agentgate: rate limit per IP, body size, AWS managed rules"),
		Scope:            jsii.String("CLOUDFRONT"),
		DefaultAction:    &awswafv2.CfnWebACL_DefaultActionProperty{Allow: &awswafv2.CfnWebACL_AllowActionProperty{}},
		VisibilityConfig: visibility(name),
		AssociationConfig: &awswafv2.CfnWebACL_AssociationConfigProperty{
			RequestBody: map[string]any{
				"CLOUDFRONT": &awswafv2.CfnWebACL_RequestBodyAssociatedResourceTypeConfigProperty{
					DefaultSizeInspectionLimit: jsii.String(s.WAF.BodyInspectionLimit),
				},
			},
		},
		CustomResponseBodies: map[string]any{
			bodyBlocked:     jsonBody("request_blocked", "the gateway's firewall refused this request"),
			bodyRateLimited: jsonBody("rate_limited", "too many requests from this address; retry later"),
			bodyTooLarge: jsonBody("body_too_large",
				fmt.Sprintf("the request body is larger than %d bytes", maxBodyBytes)),
		},
		Rules: rules,
	})
	if *s.WAF.Logs {
		newWAFLogging(scope, s, acl)
	}
	return acl
}

func rateRule(w WAFSettings) *awswafv2.CfnWebACL_RuleProperty {
	return &awswafv2.CfnWebACL_RuleProperty{
		Name:     jsii.String("RatePerIp"),
		Priority: jsii.Number(0),
		Statement: &awswafv2.CfnWebACL_StatementProperty{
			RateBasedStatement: &awswafv2.CfnWebACL_RateBasedStatementProperty{
				AggregateKeyType:    jsii.String("IP"),
				Limit:               jsii.Number(w.RequestsPerIP),
				EvaluationWindowSec: jsii.Number(w.WindowSeconds),
			},
		},
		Action:           block(429, bodyRateLimited, "60"),
		VisibilityConfig: visibility("RatePerIp"),
	}
}

// bodySizeRule refuses bodies past the gateway's cap at the edge. WAF sees
// only the first bodyInspectionLimit bytes of a body, so a cap below that is
// checked on the body itself (oversize counts as a match); any cap is also
// checked on the declared Content-Length, the one size WAF can read past the
// inspection limit. A chunked upload without Content-Length past the
// inspection limit still reaches the edge signer (which refuses past 1 MB)
// and the gateway (which refuses past its cap).
func bodySizeRule(maxBodyBytes, inspectionBytes int64) *awswafv2.CfnWebACL_RuleProperty {
	declared := &awswafv2.CfnWebACL_StatementProperty{
		RegexMatchStatement: &awswafv2.CfnWebACL_RegexMatchStatementProperty{
			FieldToMatch:        &awswafv2.CfnWebACL_FieldToMatchProperty{SingleHeader: map[string]any{"Name": "content-length"}},
			RegexString:         jsii.String(numberAbove(maxBodyBytes)),
			TextTransformations: noTransformation(),
		},
	}
	statement := declared
	if maxBodyBytes < inspectionBytes {
		inspected := &awswafv2.CfnWebACL_StatementProperty{
			SizeConstraintStatement: &awswafv2.CfnWebACL_SizeConstraintStatementProperty{
				ComparisonOperator:  jsii.String("GT"),
				Size:                jsii.Number(maxBodyBytes),
				FieldToMatch:        &awswafv2.CfnWebACL_FieldToMatchProperty{Body: &awswafv2.CfnWebACL_BodyProperty{OversizeHandling: jsii.String("MATCH")}},
				TextTransformations: noTransformation(),
			},
		}
		statement = &awswafv2.CfnWebACL_StatementProperty{
			OrStatement: &awswafv2.CfnWebACL_OrStatementProperty{Statements: []any{inspected, declared}},
		}
	}
	return &awswafv2.CfnWebACL_RuleProperty{
		Name:             jsii.String("BodySize"),
		Priority:         jsii.Number(1),
		Statement:        statement,
		Action:           block(413, bodyTooLarge, ""),
		VisibilityConfig: visibility("BodySize"),
	}
}

// managedRule uses an AWS managed rule group with every rule overridden:
// counting (countedByDefault, waf.countOnly) or blocking with 403 and the
// gateway's JSON, as WAF's own block answer is an HTML page.
func managedRule(priority int, g managedGroup, w WAFSettings) *awswafv2.CfnWebACL_RuleProperty {
	overrides := make([]any, 0, len(g.Rules))
	for _, r := range g.Rules {
		action := block(403, bodyBlocked, "")
		if w.counts(r) {
			action = &awswafv2.CfnWebACL_RuleActionProperty{Count: &awswafv2.CfnWebACL_CountActionProperty{}}
		}
		overrides = append(overrides, &awswafv2.CfnWebACL_RuleActionOverrideProperty{Name: jsii.String(r), ActionToUse: action})
	}
	return &awswafv2.CfnWebACL_RuleProperty{
		Name:     jsii.String(g.Name),
		Priority: jsii.Number(priority),
		Statement: &awswafv2.CfnWebACL_StatementProperty{ManagedRuleGroupStatement: &awswafv2.CfnWebACL_ManagedRuleGroupStatementProperty{
			VendorName:          jsii.String("AWS"),
			Name:                jsii.String(g.Name),
			RuleActionOverrides: overrides,
		}},
		OverrideAction:   &awswafv2.CfnWebACL_OverrideActionProperty{None: map[string]any{}},
		VisibilityConfig: visibility(g.Name),
	}
}

// block answers in the gateway's error shape, so that a client reads a WAF
// refusal like the gateway's own.
func block(status int, body, retryAfter string) *awswafv2.CfnWebACL_RuleActionProperty {
	resp := &awswafv2.CfnWebACL_CustomResponseProperty{
		ResponseCode:          jsii.Number(status),
		CustomResponseBodyKey: jsii.String(body),
	}
	if retryAfter != "" {
		resp.ResponseHeaders = []any{&awswafv2.CfnWebACL_CustomHTTPHeaderProperty{
			Name: jsii.String("Retry-After"), Value: jsii.String(retryAfter),
		}}
	}
	return &awswafv2.CfnWebACL_RuleActionProperty{Block: &awswafv2.CfnWebACL_BlockActionProperty{CustomResponse: resp}}
}

func jsonBody(code, message string) *awswafv2.CfnWebACL_CustomResponseBodyProperty {
	type failure struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	content, err := json.Marshal(struct {
		Error failure `json:"error"`
	}{failure{code, message}})
	if err != nil {
		panic(err) // two strings always marshal
	}
	return &awswafv2.CfnWebACL_CustomResponseBodyProperty{
		ContentType: jsii.String("APPLICATION_JSON"),
		Content:     jsii.String(string(content)),
	}
}

func visibility(metric string) *awswafv2.CfnWebACL_VisibilityConfigProperty {
	return &awswafv2.CfnWebACL_VisibilityConfigProperty{
		CloudWatchMetricsEnabled: jsii.Bool(true),
		SampledRequestsEnabled:   jsii.Bool(true),
		MetricName:               jsii.String(metric),
	}
}

func noTransformation() []any {
	return []any{&awswafv2.CfnWebACL_TextTransformationProperty{Priority: jsii.Number(0), Type: jsii.String("NONE")}}
}

// redactedHeaders are the credentials a WAF log record would otherwise
// carry: the API key, the login cookie, and any Authorization.
var redactedHeaders = []string{"x-api-key", "cookie", "authorization"}

// newWAFLogging sends the WebACL's log records to a CloudWatch log group,
// which WAF wants named aws-waf-logs-* and, for a CLOUDFRONT WebACL, in
// us-east-1 (scope is the WebACL's). Only the requests a rule blocked or
// counted are kept: the gateway's access lines record the rest. Credentials
// and the query string (which holds the prompt of a GET) are redacted.
func newWAFLogging(scope constructs.Construct, s *Settings, acl awswafv2.CfnWebACL) awslogs.LogGroup {
	logs := awslogs.NewLogGroup(scope, jsii.String("WafLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("aws-waf-logs-" + s.StackName),
		Retention:     retentionDays[s.WAF.LogRetentionDays],
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// WAF takes the log group's ARN without the ":*" that its Arn attribute ends with.
	arn := awscdk.Stack_Of(scope).FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("logs"),
		Resource:     jsii.String("log-group"),
		ResourceName: logs.LogGroupName(),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	redacted := []any{&awswafv2.CfnLoggingConfiguration_FieldToMatchProperty{QueryString: map[string]any{}}}
	for _, h := range redactedHeaders {
		redacted = append(redacted, &awswafv2.CfnLoggingConfiguration_FieldToMatchProperty{SingleHeader: map[string]any{"Name": h}})
	}
	// LoggingFilter is plain JSON to CDK: its keys are CloudFormation's.
	var kept []any
	for _, action := range []string{"BLOCK", "COUNT", "EXCLUDED_AS_COUNT"} {
		kept = append(kept, map[string]any{"ActionCondition": map[string]any{"Action": action}})
	}
	awswafv2.NewCfnLoggingConfiguration(scope, jsii.String("WafLogging"), &awswafv2.CfnLoggingConfigurationProps{
		ResourceArn:           acl.AttrArn(),
		LogDestinationConfigs: &[]any{arn},
		RedactedFields:        redacted,
		LoggingFilter: map[string]any{
			"DefaultBehavior": "DROP",
			"Filters": []any{map[string]any{
				"Behavior":    "KEEP",
				"Requirement": "MEETS_ANY",
				"Conditions":  kept,
			}},
		},
	})
	return logs
}

// numberAbove returns a regular expression matching exactly the decimal
// numbers greater than n (leading zeros allowed): WAF compares the sizes of
// what it inspects, never a header's value as a number. The numbers above n
// are those with more digits, or as many digits and, at the first digit that
// differs from n, a larger one. WAF takes no capturing group, hence (?:).
func numberAbove(n int64) string {
	d := strconv.FormatInt(n, 10)
	alts := []string{fmt.Sprintf("[1-9][0-9]{%d,}", len(d))}
	for i := range len(d) {
		if d[i] == '9' {
			continue
		}
		alt := d[:i] + digitsFrom(d[i]+1)
		if rest := len(d) - i - 1; rest > 0 {
			alt += fmt.Sprintf("[0-9]{%d}", rest)
		}
		alts = append(alts, alt)
	}
	return "^0*(?:" + strings.Join(alts, "|") + ")$"
}

func digitsFrom(c byte) string {
	if c == '9' {
		return "9"
	}
	return "[" + string(c) + "-9]"
}
