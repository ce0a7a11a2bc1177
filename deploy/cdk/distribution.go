package main

import (
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront/experimental"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/constructs-go/constructs/v10"
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
// CloudFront-Viewer-Address is added by CloudFront and names the client for
// limits and network rules. Origin and Sec-Fetch-Site tell the gateway
// whether a cookie-authenticated request came from its own pages: behind
// CloudFront the Host it sees is the function URL's, not the one the
// browser used; Sec-Fetch-Mode tells a page's script from a navigation,
// which alone gets a Basic challenge; Access-Control-Request-Method and
// -Headers make a CORS preflight.
//
// A policy takes at most maxForwardedHeaders (CloudFront's default quota),
// so the viewer-request function packs the four fetch and preflight headers
// into one, X-Agentgate-Fetch, and tracestate stays out: traceparent alone
// continues a trace.
var forwardedHeaders = []string{
	"Accept",
	"Content-Type",
	"X-Api-Key",
	"X-Agentgate-Authorization",
	"X-Agentgate-Session-Id",
	"traceparent",
	"Origin",
	"X-Agentgate-Fetch",
	"CloudFront-Viewer-Address",
}

// maxForwardedHeaders is CloudFront's default quota of headers in an origin
// request policy; more fail the deploy unless the account's quota was raised.
const maxForwardedHeaders = 10

// edgeCodeDir is the Lambda@Edge signer, from this app's folder.
const edgeCodeDir = "../edge"

// newDistribution puts CloudFront in front of the function URL: Origin
// Access Control signs every origin request, the edge signer hashes bodies
// for it, caching is off, viewers get HTTPS only (an API refuses plain HTTP
// rather than redirect it, so a key sent in the clear fails at once),
// security headers on every answer, the origin lock header added, and the
// origin read timeout (an idle timeout between bytes) at 60 s, which the
// gateway's 15 s heartbeats keep alive. edgeStackID names the us-east-1
// stack for the edge function, "" when the main stack is in us-east-1
// itself; logBucket, when not nil, takes CloudFront's standard logs.
func newDistribution(stack awscdk.Stack, s *Settings, gw *gatewayFunction, webACLArn *string, edgeStackID string, logBucket awss3.IBucket) awscloudfront.Distribution {
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
			// The chat page sends its own policy, which must stand; an
			// answer without one (the API's) gets frame-ancestors 'none'.
			ContentSecurityPolicy: &awscloudfront.ResponseHeadersContentSecurityPolicy{
				ContentSecurityPolicy: jsii.String("frame-ancestors 'none'"), Override: jsii.Bool(false),
			},
			XssProtection: &awscloudfront.ResponseHeadersXSSProtection{Protection: jsii.Bool(false), Override: jsii.Bool(true)},
		},
	})
	props := &awscloudfront.DistributionProps{
		Comment:     jsii.String("agentgate gateway"),
		HttpVersion: awscloudfront.HttpVersion_HTTP2_AND_3,
		WebAclId:    webACLArn,
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:                origin,
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_HTTPS_ONLY,
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
	}
	if logBucket != nil {
		// Cookies stay out: they hold the login session.
		props.EnableLogging = jsii.Bool(true)
		props.LogBucket = logBucket
		props.LogIncludesCookies = jsii.Bool(false)
		props.LogFilePrefix = jsii.String("cloudfront/")
	}
	dist := awscloudfront.NewDistribution(stack, jsii.String("Distribution"), props)
	acceptFinding(dist, "AwsSolutions-CFR1",
		"an API for callers anywhere; where callers must be restricted, the gateway's network rules and WAF do it by address")
	acceptFinding(dist, "AwsSolutions-CFR4",
		"with CloudFront's default cloudfront.net certificate CloudFront fixes the viewer security policy; a minimum of TLSv1.2_2021 takes a custom domain and an ACM certificate, which this app does not manage")
	if logBucket == nil {
		acceptFinding(dist, "AwsSolutions-CFR3",
			"standard logs are off by default (edge.accessLogs): they record every query string, which holds the prompt of a GET; WAF logs what it blocks or counts and the gateway writes an access line per request")
	}
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
	signer := experimental.NewEdgeFunction(stack, jsii.String("BodySigner"), props)
	// The function itself sits in the us-east-1 stack, or under the
	// EdgeFunction when the main stack is there.
	fn := signer.Node().TryFindChild(jsii.String("Fn"))
	if edgeStackID != "" {
		fn = signer.Node().Root().Node().FindChild(jsii.String(edgeStackID)).Node().FindChild(jsii.String("BodySigner"))
	}
	acceptFinding(fn, "AwsSolutions-L1",
		"Lambda@Edge takes a subset of Lambda's runtimes that trails Lambda's own; nodejs22.x is supported until 2027-04-30 and moves to nodejs24.x once Lambda@Edge lists it")
	acceptFinding(fn, "AwsSolutions-IAM4",
		"Lambda@Edge writes logs from every region it runs in, to log groups it names itself; AWSLambdaBasicExecutionRole, which CDK's EdgeFunction attaches, grants only those log writes",
		`/^Policy::arn:<AWS::Partition>:iam::aws:policy\/service-role\/AWSLambdaBasicExecutionRole$/`)
	return signer
}

// newAccessLogBucket is where CloudFront writes its standard logs: in
// us-east-1 with the WebACL (CloudFront delivers to no bucket in some
// opt-in regions), with ACLs enabled, as standard logging grants CloudFront's
// log delivery account write access through the bucket ACL, and the bucket
// owner preferred, so that the account owns the files. Nothing public, TLS
// only, files expire after edge.accessLogDays. It outlives the stack: logs
// are records.
func newAccessLogBucket(scope constructs.Construct, s *Settings) awss3.Bucket {
	bucket := awss3.NewBucket(scope, jsii.String("AccessLogs"), &awss3.BucketProps{
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_PREFERRED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Expiration: awscdk.Duration_Days(jsii.Number(s.Edge.AccessLogDays)),
		}},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	acceptFinding(bucket, "AwsSolutions-S1",
		"this bucket holds CloudFront's access logs; logging the access to it would take yet another bucket")
	return bucket
}
