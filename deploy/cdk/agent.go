package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsbedrockagentcore"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// newAgentSide builds what `agentgate agent` needs on AgentCore Runtime: an
// ECR repository to push its image to, an execution role like the AgentCore
// samples' (image pull, logs, X-Ray, metrics, workload identity, Bedrock
// models) and, once settings name an image, the runtime itself. It returns
// the runtime's ARN, or nil when there is no image yet.
func newAgentSide(stack awscdk.Stack, s *Settings) *string {
	repo := awsecr.NewRepository(stack, jsii.String("AgentRepository"), &awsecr.RepositoryProps{
		RepositoryName:  jsii.String(s.AgentRuntime.Repository),
		ImageScanOnPush: jsii.Bool(true),
		LifecycleRules:  &[]*awsecr.LifecycleRule{{MaxImageCount: jsii.Number(10), Description: jsii.String("keep the last 10 images")}},
		// cdk destroy leaves nothing behind: the images are rebuilt from source.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		EmptyOnDelete: jsii.Bool(true),
	})
	role := agentExecutionRole(stack, s, repo)
	if s.AgentRuntime.ImageURI == "" {
		return nil
	}
	env := make(map[string]*string, len(s.AgentRuntime.Environment))
	for k, v := range s.AgentRuntime.Environment {
		env[k] = jsii.String(v)
	}
	runtime := awsbedrockagentcore.NewCfnRuntime(stack, jsii.String("AgentRuntime"), &awsbedrockagentcore.CfnRuntimeProps{
		AgentRuntimeName: jsii.String(s.AgentRuntime.Name),
		Description:      jsii.String("agentgate agent (AgentCore HTTP contract)"),
		AgentRuntimeArtifact: &awsbedrockagentcore.CfnRuntime_AgentRuntimeArtifactProperty{
			ContainerConfiguration: &awsbedrockagentcore.CfnRuntime_ContainerConfigurationProperty{
				ContainerUri: jsii.String(s.AgentRuntime.ImageURI),
			},
		},
		RoleArn:               role.RoleArn(),
		NetworkConfiguration:  &awsbedrockagentcore.CfnRuntime_NetworkConfigurationProperty{NetworkMode: jsii.String("PUBLIC")},
		ProtocolConfiguration: jsii.String("HTTP"),
		EnvironmentVariables:  &env,
	})
	// Creating the runtime checks that the role can pull the image, so its
	// policy must exist first.
	runtime.Node().AddDependency(role)
	return runtime.AttrAgentRuntimeArn()
}

func agentExecutionRole(stack awscdk.Stack, s *Settings, repo awsecr.Repository) awsiam.Role {
	partition, region, account := stack.Partition(), stack.Region(), stack.Account()
	arn := func(service, resource string) *string {
		return awscdk.Fn_Join(jsii.String(""), &[]*string{
			jsii.String("arn:"), partition, jsii.String(":" + service + ":"), region, jsii.String(":"), account, jsii.String(":" + resource),
		})
	}
	role := awsiam.NewRole(stack, jsii.String("AgentExecutionRole"), &awsiam.RoleProps{
		Description: jsii.String("agentgate agent on AgentCore Runtime"),
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("bedrock-agentcore.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{
				"StringEquals": map[string]any{"aws:SourceAccount": account},
				"ArnLike":      map[string]any{"aws:SourceArn": arn("bedrock-agentcore", "*")},
			},
		}),
	})
	images := []*string{repo.RepositoryArn()}
	if acct, reg, name := s.imageRepository(); name != "" && name != s.AgentRuntime.Repository {
		images = append(images, awscdk.Fn_Join(jsii.String(""), &[]*string{
			jsii.String("arn:"), partition, jsii.String(":ecr:" + reg + ":" + acct + ":repository/" + name),
		}))
	}
	allow := func(sid string, actions []string, resources []*string, conditions map[string]any) {
		st := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String(sid),
			Actions:   jsii.Strings(actions...),
			Resources: &resources,
		})
		for op, c := range conditions {
			st.AddCondition(jsii.String(op), c)
		}
		role.AddToPolicy(st)
	}
	allow("EcrImagePull", []string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}, images, nil)
	allow("EcrToken", []string{"ecr:GetAuthorizationToken"}, []*string{jsii.String("*")}, nil)
	allow("LogGroups", []string{"logs:DescribeLogStreams", "logs:CreateLogGroup"},
		[]*string{arn("logs", "log-group:/aws/bedrock-agentcore/runtimes/*")}, nil)
	allow("DescribeLogGroups", []string{"logs:DescribeLogGroups"}, []*string{arn("logs", "log-group:*")}, nil)
	allow("LogStreams", []string{"logs:CreateLogStream", "logs:PutLogEvents"},
		[]*string{arn("logs", "log-group:/aws/bedrock-agentcore/runtimes/*:log-stream:*")}, nil)
	allow("XRay", []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"},
		[]*string{jsii.String("*")}, nil)
	allow("Metrics", []string{"cloudwatch:PutMetricData"}, []*string{jsii.String("*")},
		map[string]any{"StringEquals": map[string]any{"cloudwatch:namespace": "bedrock-agentcore"}})
	allow("WorkloadIdentity", []string{
		"bedrock-agentcore:GetWorkloadAccessToken",
		"bedrock-agentcore:GetWorkloadAccessTokenForJWT",
		"bedrock-agentcore:GetWorkloadAccessTokenForUserId",
	}, []*string{
		arn("bedrock-agentcore", "workload-identity-directory/default"),
		arn("bedrock-agentcore", "workload-identity-directory/default/workload-identity/"+s.AgentRuntime.Name+"-*"),
	}, nil)
	// ConverseStream is authorized as InvokeModelWithResponseStream; the
	// cross-region inference profiles (us.anthropic...) route to models in
	// other regions, hence the wildcard region on foundation models.
	allow("BedrockModels", []string{"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}, []*string{
		awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("arn:"), partition, jsii.String(":bedrock:*::foundation-model/*")}),
		awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("arn:"), partition, jsii.String(":bedrock:*:"), account, jsii.String(":inference-profile/*")}),
	}, nil)
	return role
}
