package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsbedrockagentcore"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// newAgentSide builds what `agentgate agent` needs on AgentCore Runtime: an
// ECR repository for images pushed by hand, an execution role like the
// AgentCore samples' (image pull, logs, X-Ray, metrics, workload identity,
// Bedrock models) and, when withRuntime, the runtime itself, from the image
// agentRuntime.imageUri names or else from one built out of this repository
// at deploy time, passing on the request headers allow names. It returns
// the runtime's ARN, or nil without a runtime.
func newAgentSide(stack awscdk.Stack, s *Settings, withRuntime bool, allow []string) (*string, error) {
	repo := awsecr.NewRepository(stack, jsii.String("AgentRepository"), &awsecr.RepositoryProps{
		RepositoryName:  jsii.String(s.AgentRuntime.Repository),
		ImageScanOnPush: jsii.Bool(true),
		LifecycleRules:  &[]*awsecr.LifecycleRule{{MaxImageCount: jsii.Number(10), Description: jsii.String("keep the last 10 images")}},
		// cdk destroy leaves nothing behind: the images are rebuilt from source.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		EmptyOnDelete: jsii.Bool(true),
	})
	images := []*string{repo.RepositoryArn()}
	var image *string
	switch {
	case !withRuntime:
	case s.AgentRuntime.ImageURI != "":
		image = jsii.String(s.AgentRuntime.ImageURI)
		if acct, reg, name := s.imageRepository(); name != s.AgentRuntime.Repository {
			images = append(images, awscdk.Fn_Join(jsii.String(""), &[]*string{
				jsii.String("arn:"), stack.Partition(), jsii.String(":ecr:" + reg + ":" + acct + ":repository/" + name),
			}))
		}
	default:
		asset, err := newAgentImage(stack)
		if err != nil {
			return nil, err
		}
		image = asset.ImageUri()
		images = append(images, asset.Repository().RepositoryArn())
	}
	role := agentExecutionRole(stack, s, images)
	if image == nil {
		return nil, nil
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
				ContainerUri: image,
			},
		},
		RoleArn:               role.RoleArn(),
		NetworkConfiguration:  &awsbedrockagentcore.CfnRuntime_NetworkConfigurationProperty{NetworkMode: jsii.String("PUBLIC")},
		ProtocolConfiguration: jsii.String("HTTP"),
		EnvironmentVariables:  &env,
		// Without an allow-list, AgentCore passes on no custom header: the
		// agent would never hear who is asking.
		RequestHeaderConfiguration: &awsbedrockagentcore.CfnRuntime_RequestHeaderConfigurationProperty{
			RequestHeaderAllowlist: jsii.Strings(allow...),
		},
	})
	// Creating the runtime checks that the role can pull the image, so its
	// policy must exist first.
	runtime.Node().AddDependency(role)
	return runtime.AttrAgentRuntimeArn(), nil
}

// The agent image is built from agentDockerfile with the repository root
// as its context, both from this app's folder.
const (
	repositoryRoot  = "../.."
	agentDockerfile = "deploy/docker/agent.Dockerfile"
)

// newAgentImage is the agent's image as a CDK asset: `cdk deploy` builds it
// for linux/arm64 (the one platform AgentCore runs) and pushes it to the
// CDK bootstrap's repository before the stacks deploy, so one deploy brings
// everything up; synth only stages the build context and needs no Docker.
// The context is what agent.Dockerfile.dockerignore lets in, so that the
// asset, and the image, change only when the agent's sources do.
func newAgentImage(stack awscdk.Stack) (awsecrassets.DockerImageAsset, error) {
	root, err := filepath.Abs(filepath.FromSlash(repositoryRoot))
	if err != nil {
		return nil, err
	}
	exclude, err := dockerignore(filepath.Join(root, filepath.FromSlash(agentDockerfile+".dockerignore")))
	if err != nil {
		return nil, err
	}
	// The ignore file shuts everything out but the sources; CDK lets the
	// Dockerfile back in by its base name only, as if it sat in the root.
	exclude = append(exclude, "!"+agentDockerfile)
	return awsecrassets.NewDockerImageAsset(stack, jsii.String("AgentImage"), &awsecrassets.DockerImageAssetProps{
		Directory:   jsii.String(root),
		File:        jsii.String(agentDockerfile),
		Platform:    awsecrassets.Platform_LINUX_ARM64(),
		Exclude:     jsii.Strings(exclude...),
		IgnoreMode:  awscdk.IgnoreMode_DOCKER,
		DisplayName: jsii.String("agentgate agent"),
	}), nil
}

// dockerignore reads the patterns of a .dockerignore file.
func dockerignore(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("agent image: %w", err)
	}
	defer f.Close()
	var patterns []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("agent image: %w", err)
	}
	return patterns, nil
}

// agentExecutionRole is the runtime's role; images are the ECR
// repositories it may pull from.
func agentExecutionRole(stack awscdk.Stack, s *Settings, images []*string) awsiam.Role {
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

	acceptFinding(role, "AwsSolutions-IAM5",
		"ecr:GetAuthorizationToken, the X-Ray calls and cloudwatch:PutMetricData take no resource; the metrics are held to the bedrock-agentcore namespace by condition",
		`/^Resource::\*$/`)
	acceptFinding(role, "AwsSolutions-IAM5",
		"logs:DescribeLogGroups takes no narrower resource than the account's log groups",
		`/^Resource::arn:<AWS::Partition>:logs:[^:]+:[^:]+:log-group:\*$/`)
	acceptFinding(role, "AwsSolutions-IAM5",
		"AgentCore names the runtime's log groups and streams after the runtime id it assigns at creation; the role is held to the /aws/bedrock-agentcore/runtimes/ prefix",
		`/^Resource::arn:<AWS::Partition>:logs:[^:]+:[^:]+:log-group:\/aws\/bedrock-agentcore\/runtimes\/\*(:log-stream:\*)?$/`)
	acceptFinding(role, "AwsSolutions-IAM5",
		"AgentCore names the runtime's workload identity after the runtime with a suffix it assigns; the role is held to this runtime's name",
		`/^Resource::arn:<AWS::Partition>:bedrock-agentcore:[^:]+:[^:]+:workload-identity-directory\/default\/workload-identity\/[A-Za-z0-9_]+-\*$/`)
	acceptFinding(role, "AwsSolutions-IAM5",
		"the agent picks its model from its own settings (AGENTGATE_BEDROCK_MODEL_ID), and a cross-region inference profile routes to the model in any region of its geography",
		`/^Resource::arn:<AWS::Partition>:bedrock:\*::foundation-model\/\*$/`,
		`/^Resource::arn:<AWS::Partition>:bedrock:\*:[^:]+:inference-profile\/\*$/`)
	return role
}
