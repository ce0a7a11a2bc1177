package main

import (
	"fmt"
	"sort"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// cdk-nag's AwsSolutions pack runs over every stack; each finding is fixed
// or suppressed next to the construct it is about, with its reason (those
// suppressions land in the templates' metadata). Any finding left is an
// error or a warning annotation, and fails here.
func TestNoStackHasAnUnsuppressedAwsSolutionsFinding(t *testing.T) {
	for name, change := range map[string]func(*Settings){
		"the example settings": nil,
		"the agent built here, standard logs on": func(s *Settings) {
			gatewayYAML(t, s, "auth: {none: true}")
			s.Edge.AccessLogs = true
		},
		"everything in us-east-1, WAF logs off": func(s *Settings) {
			s.Region = "us-east-1"
			s.WAF.Logs = jsii.Bool(false)
		},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := synthesizeApp(change, func(app awscdk.App) {
				awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
			})
			if err != nil {
				t.Fatal(err)
			}
			var findings []string
			for _, stack := range d.stacks {
				a := assertions.Annotations_FromStack(stack)
				pattern := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-"))
				for _, list := range []*[]*cxapi.SynthesisMessage{a.FindError(jsii.String("*"), pattern), a.FindWarning(jsii.String("*"), pattern)} {
					for _, m := range *list {
						findings = append(findings, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
					}
				}
			}
			sort.Strings(findings)
			for _, f := range findings {
				t.Error(f)
			}
		})
	}
}
