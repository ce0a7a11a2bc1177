package main

import (
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// acceptFinding records on c, and on every resource under it, that a
// finding of cdk-nag's AwsSolutions pack (run over every stack by
// nag_test.go) is accepted, and why; the record lands in the template's
// metadata. Each of appliesTo, a regular expression written /.../, narrows
// it to the findings it matches: the IAM rules report each wildcard
// resource on its own ("Resource::arn:...").
func acceptFinding(c constructs.IConstruct, rule, reason string, appliesTo ...string) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(rule), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		list := make([]any, len(appliesTo))
		for i, re := range appliesTo {
			list[i] = &cdknag.RegexAppliesTo{Regex: jsii.String(re)}
		}
		s.AppliesTo = &list
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
}
