package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// newWebACL builds the WebACL that guards the distribution before a request
// costs anything: a rate limit per client IP, a body-size rule mirroring the
// gateway's limits.maxBodyBytes, and the AWS Common and KnownBadInputs rule
// groups. Its scope is CLOUDFRONT, so it must live in us-east-1: scope is the
// us-east-1 stack (or the main stack when that is in us-east-1).
func newWebACL(scope constructs.Construct, s *Settings, maxBodyBytes int64) awswafv2.CfnWebACL {
	name := s.StackName + "-gateway"
	return awswafv2.NewCfnWebACL(scope, jsii.String("WebAcl"), &awswafv2.CfnWebACLProps{
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
			"rate-limited": jsonBody("rate_limited", "too many requests from this address; retry later"),
			"body-too-large": jsonBody("body_too_large",
				fmt.Sprintf("the request body is larger than %d bytes", maxBodyBytes)),
		},
		Rules: []any{
			rateRule(s.WAF),
			bodySizeRule(maxBodyBytes, s.WAF.inspectionBytes()),
			managedRule(2, "AWSManagedRulesCommonRuleSet", append([]string{"SizeRestrictions_BODY"}, s.WAF.CountOnly...)),
			managedRule(3, "AWSManagedRulesKnownBadInputsRuleSet", nil),
		},
	})
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
		Action:           block(429, "rate-limited", "60"),
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
		Action:           block(413, "body-too-large", ""),
		VisibilityConfig: visibility("BodySize"),
	}
}

// managedRule uses an AWS managed rule group; the rules named in countOnly
// count instead of blocking.
func managedRule(priority int, group string, countOnly []string) *awswafv2.CfnWebACL_RuleProperty {
	overrides := make([]any, 0, len(countOnly))
	for _, r := range countOnly {
		overrides = append(overrides, &awswafv2.CfnWebACL_RuleActionOverrideProperty{
			Name:        jsii.String(r),
			ActionToUse: &awswafv2.CfnWebACL_RuleActionProperty{Count: &awswafv2.CfnWebACL_CountActionProperty{}},
		})
	}
	statement := &awswafv2.CfnWebACL_ManagedRuleGroupStatementProperty{
		VendorName: jsii.String("AWS"),
		Name:       jsii.String(group),
	}
	if len(overrides) > 0 {
		statement.RuleActionOverrides = overrides
	}
	return &awswafv2.CfnWebACL_RuleProperty{
		Name:             jsii.String(group),
		Priority:         jsii.Number(priority),
		Statement:        &awswafv2.CfnWebACL_StatementProperty{ManagedRuleGroupStatement: statement},
		OverrideAction:   &awswafv2.CfnWebACL_OverrideActionProperty{None: map[string]any{}},
		VisibilityConfig: visibility(group),
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
	return &awswafv2.CfnWebACL_CustomResponseBodyProperty{
		ContentType: jsii.String("APPLICATION_JSON"),
		Content:     jsii.String(fmt.Sprintf(`{"error":{"code":%q,"message":%q}}`, code, message)),
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
