package main

import (
	"cmp"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
)

// edgeRegion is where CloudFront wants its WebACLs and Lambda@Edge functions.
const edgeRegion = "us-east-1"

// fallbackRegion is only used to synthesize with no AWS configuration at all
// (CI): any deploy runs with credentials, and then the CLI names a region.
const fallbackRegion = "eu-west-1"

// Agentgate is the whole deployment.
type Agentgate struct {
	// Main holds the gateway function, CloudFront and the agent side, in
	// the settings' region.
	Main awscdk.Stack
	// Edge is the us-east-1 stack holding the WebACL, its logs and the edge
	// signer; nil when Main is in us-east-1 and holds them.
	Edge awscdk.Stack
}

// NewAgentgate adds the deployment's stacks to app. CloudFront's WebACL and
// Lambda@Edge function must live in us-east-1 whatever region the rest
// deploys to; elsewhere they go into a second stack there, which the main
// stack depends on and reads through cross-region references, so that
// `cdk deploy --all` from any region is one command.
func NewAgentgate(app awscdk.App, s *Settings) (*Agentgate, error) {
	plan, err := planGateway(s)
	if err != nil {
		return nil, err
	}
	account, region := s.environment()
	main := awscdk.NewStack(app, jsii.String(s.StackName), &awscdk.StackProps{
		Description:           jsii.String("agentgate: streaming gateway for AgentCore Runtime (Lambda function URL behind CloudFront and WAF)"),
		Env:                   &awscdk.Environment{Account: account, Region: jsii.String(region)},
		CrossRegionReferences: jsii.Bool(true),
	})
	// Strong references travel through SSM parameters that a custom resource
	// writes in us-east-1 and reads here; weak ones would be stack outputs,
	// and outputs never carry an ARN.
	awscdk.CrossStackReferences_Of(main).Consume(awscdk.ReferenceStrength_STRONG)
	runtimeARN, err := newAgentSide(main, s, plan.runtime, plan.headerAllowlist)
	if err != nil {
		return nil, err
	}
	d := &Agentgate{Main: main}
	edgeScope, edgeStackID := main, ""
	if region != edgeRegion {
		edgeStackID = s.StackName + "Edge"
		d.Edge = awscdk.NewStack(app, jsii.String(edgeStackID), &awscdk.StackProps{
			Description:           jsii.String("agentgate: CloudFront's WAF WebACL and Lambda@Edge signer, which must live in us-east-1"),
			Env:                   &awscdk.Environment{Account: account, Region: jsii.String(edgeRegion)},
			CrossRegionReferences: jsii.Bool(true),
		})
		edgeScope = d.Edge
	}
	webACL := newWebACL(edgeScope, s, plan.maxBodyBytes)
	var logBucket awss3.IBucket
	if s.Edge.AccessLogs {
		logBucket = newAccessLogBucket(edgeScope, s)
	}
	gw, err := newGatewayFunction(main, s, plan, runtimeARN, *app.Outdir())
	if err != nil {
		return nil, err
	}
	newDistribution(main, s, gw, webACL.AttrArn(), edgeStackID, logBucket)
	if plan.maxBodyBytes > 1<<20 {
		awscdk.Annotations_Of(main).AddWarningV2(jsii.String("agentgate:edge-body"), jsii.String(
			"limits.maxBodyBytes is above 1 MiB, but Lambda@Edge sees at most 1 MB of a body: larger bodies are refused at the edge with 413"))
	}
	return d, nil
}

// environment is where the main stack goes: the settings' account and
// region, else the CLI profile's.
func (s *Settings) environment() (account *string, region string) {
	if a := cmp.Or(s.Account, os.Getenv("CDK_DEFAULT_ACCOUNT")); a != "" {
		account = jsii.String(a)
	}
	return account, cmp.Or(s.Region, os.Getenv("CDK_DEFAULT_REGION"), fallbackRegion)
}
