package main

import (
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront/experimental"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/jsii-runtime-go"
)

// forwardedHeaders are the viewer headers the gateway reads. Not Host (the
// function URL's own host goes to the origin, as SigV4 needs), not
// Accept-Encoding (a compressed request to a streaming function URL gives
// intermittent 502s, and the gateway never compresses), and not
// Authorization: OAC signs the origin request with its own Authorization,
// replacing the viewer's, and CloudFront only forwards that header through a
// cache policy, which CachingDisabled cannot carry. The viewer-request
// function copies it into X-Agentgate-Authorization instead (viewerrequest.go).
// CloudFront-Viewer-Address is added by
// CloudFront and names the client for limits and network rules. Origin and
// Sec-Fetch-Site tell the gateway whether a cookie-authenticated request
// came from its own pages: behind CloudFront the Host it sees is the
// function URL's, not the one the browser used.
var forwardedHeaders = []string{
	"Accept",
	"Content-Type",
	"X-Api-Key",
	"X-Agentgate-Authorization",
	"X-Agentgate-Session-Id",
	"traceparent",
	"tracestate",
	"Origin",
	"Sec-Fetch-Site",
	"Access-Control-Request-Method",
	"CloudFront-Viewer-Address",
}

// edgeCodeDir is the Lambda@Edge signer, from this app's folder.
const edgeCodeDir = "../edge"

// newDistribution puts CloudFront in front of the function URL: Origin
// Access Control signs every origin request, the edge signer hashes bodies
// for it, caching is off, HTTPS only, security headers on every answer, the
// origin lock header added, and the origin read timeout (an idle timeout
// between bytes) at 60 s, which the gateway's 15 s heartbeats keep alive.
// edgeStackID names the us-east-1 stack for the edge function, "" when the
// main stack is in us-east-1 itself.
func newDistribution(stack awscdk.Stack, s *Settings, gw *gatewayFunction, webACLArn *string, edgeStackID string) awscloudfront.Distribution {
	oac := awscloudfront.NewFunctionUrlOriginAccessControl(stack, jsii.String("GatewayOac"), &awscloudfront.FunctionUrlOriginAccessControlProps{
		Description: jsii.String("agentgate: CloudFront signs requests to the gateway function URL"),
		Signing:     awscloudfront.Signing_SIGV4_ALWAYS(),
	})
	origin := awscloudfrontorigins.FunctionUrlOrigin_WithOriginAccessControl(gw.url, &awscloudfrontorigins.FunctionUrlOriginWithOACProps{
		OriginAccessControl: oac,
		ReadTimeout:         awscdk.Duration_Seconds(jsii.Number(60)),
		CustomHeaders:       &map[string]*string{s.Edge.OriginHeader: gw.originSecret},
	})
	requests := awscloudfront.NewOriginRequestPolicy(stack, jsii.String("GatewayOriginRequest"), &awscloudfront.OriginRequestPolicyProps{
		Comment:             jsii.String("agentgate: the viewer headers the gateway reads, never Host or Accept-Encoding"),
		HeaderBehavior:      awscloudfront.OriginRequestHeaderBehavior_AllowList(*jsii.Strings(forwardedHeaders...)...),
		CookieBehavior:      awscloudfront.OriginRequestCookieBehavior_All(),
		QueryStringBehavior: awscloudfront.OriginRequestQueryStringBehavior_All(),
	})
	headers := awscloudfront.NewResponseHeadersPolicy(stack, jsii.String("SecurityHeaders"), &awscloudfront.ResponseHeadersPolicyProps{
		Comment: jsii.String("agentgate: security headers"),
		SecurityHeadersBehavior: &awscloudfront.ResponseSecurityHeadersBehavior{
			StrictTransportSecurity: &awscloudfront.ResponseHeadersStrictTransportSecurity{
				AccessControlMaxAge: awscdk.Duration_Days(jsii.Number(730)),
				IncludeSubdomains:   jsii.Bool(true),
				Override:            jsii.Bool(true),
			},
			ContentTypeOptions: &awscloudfront.ResponseHeadersContentTypeOptions{Override: jsii.Bool(true)},
			FrameOptions: &awscloudfront.ResponseHeadersFrameOptions{
				FrameOption: awscloudfront.HeadersFrameOption_DENY, Override: jsii.Bool(true),
			},
			ReferrerPolicy: &awscloudfront.ResponseHeadersReferrerPolicy{
				ReferrerPolicy: awscloudfront.HeadersReferrerPolicy_NO_REFERRER, Override: jsii.Bool(true),
			},
			ContentSecurityPolicy: &awscloudfront.ResponseHeadersContentSecurityPolicy{
				ContentSecurityPolicy: jsii.String("frame-ancestors 'none'"), Override: jsii.Bool(true),
			},
			XssProtection: &awscloudfront.ResponseHeadersXSSProtection{Protection: jsii.Bool(false), Override: jsii.Bool(true)},
		},
	})
	dist := awscloudfront.NewDistribution(stack, jsii.String("Distribution"), &awscloudfront.DistributionProps{
		Comment:     jsii.String("agentgate gateway"),
		HttpVersion: awscloudfront.HttpVersion_HTTP2_AND_3,
		WebAclId:    webACLArn,
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:                origin,
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			AllowedMethods:        awscloudfront.AllowedMethods_ALLOW_ALL(),
			CachePolicy:           awscloudfront.CachePolicy_CACHING_DISABLED(),
			OriginRequestPolicy:   requests,
			ResponseHeadersPolicy: headers,
			// Compression would make CloudFront hold back bytes of a stream.
			Compress: jsii.Bool(false),
			FunctionAssociations: &[]*awscloudfront.FunctionAssociation{{
				Function:  newViewerRequestFunction(stack),
				EventType: awscloudfront.FunctionEventType_VIEWER_REQUEST,
			}},
			EdgeLambdas: &[]*awscloudfront.EdgeLambda{{
				FunctionVersion: newBodySigner(stack, edgeStackID).CurrentVersion(),
				EventType:       awscloudfront.LambdaEdgeEventType_ORIGIN_REQUEST,
				IncludeBody:     jsii.Bool(true),
			}},
		},
	})
	awscdk.NewCfnOutput(stack, jsii.String("GatewayUrl"), &awscdk.CfnOutputProps{
		Description: jsii.String("agentgate's public URL"),
		Value:       awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("https://"), dist.DistributionDomainName()}),
	})
	return dist
}

// newBodySigner is the Lambda@Edge function of deploy/edge. EdgeFunction puts
// it in us-east-1 whatever the stack's region: in the stack named
// edgeStackID, the one that also holds the WebACL.
func newBodySigner(stack awscdk.Stack, edgeStackID string) experimental.EdgeFunction {
	props := &experimental.EdgeFunctionProps{
		Description: jsii.String("agentgate: x-amz-content-sha256 for OAC, 413 past 1 MB"),
		Runtime:     awslambda.Runtime_NODEJS_22_X(),
		Handler:     jsii.String("index.handler"),
		Code: awslambda.Code_FromAsset(jsii.String(filepath.FromSlash(edgeCodeDir)), &awss3assets.AssetOptions{
			Exclude: jsii.Strings("*.test.js", viewerRequestFile),
		}),
		MemorySize: jsii.Number(128),
		Timeout:    awscdk.Duration_Seconds(jsii.Number(5)),
	}
	if edgeStackID != "" {
		props.StackId = jsii.String(edgeStackID)
	}
	return experimental.NewEdgeFunction(stack, jsii.String("BodySigner"), props)
}
