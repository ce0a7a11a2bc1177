package main

import (
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/jsii-runtime-go"
)

// viewerRequestFile is the CloudFront Function of deploy/edge, in edgeCodeDir.
const viewerRequestFile = "viewer-request.js"

// newViewerRequestFunction is the CloudFront Function that runs on every
// viewer request (runtime cloudfront-js-2.0) and copies the viewer's
// Authorization into X-Agentgate-Authorization, removing any copy a viewer
// sent itself. Origin Access Control writes its own signature over
// Authorization, so the copy, which the origin request policy forwards, is
// how bearer tokens and Basic credentials reach the gateway. A CloudFront
// Function on viewer request goes with the Lambda@Edge signer on origin
// request; the two kinds only exclude each other on the same viewer event.
func newViewerRequestFunction(stack awscdk.Stack) awscloudfront.Function {
	return awscloudfront.NewFunction(stack, jsii.String("ViewerRequest"), &awscloudfront.FunctionProps{
		Comment: jsii.String("agentgate: Authorization to X-Agentgate-Authorization, which OAC leaves alone"),
		Runtime: awscloudfront.FunctionRuntime_JS_2_0(),
		Code: awscloudfront.FunctionCode_FromFile(&awscloudfront.FileCodeOptions{
			FilePath: jsii.String(filepath.Join(filepath.FromSlash(edgeCodeDir), viewerRequestFile)),
		}),
	})
}
