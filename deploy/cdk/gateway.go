package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
)

// gatewayFunction is the gateway as a Lambda function behind a function URL.
type gatewayFunction struct {
	url awslambda.FunctionUrl
	// originSecret is the value CloudFront must send in the origin lock
	// header: a dynamic reference into the gateway secret.
	originSecret *string
}

// configPath is where the function finds the bundled gateway configuration
// (the code's folder, LAMBDA_TASK_ROOT).
const configPath = "/var/task/agentgate.yaml"

// placeholderDir holds a stand-in bootstrap for synthesizing without a build.
const placeholderDir = "placeholder"

// newGatewayFunction builds the gateway function: provided.al2023 on arm64,
// 15 minutes (Lambda's cap per invocation), a function URL with AWS_IAM auth
// (only CloudFront's OAC can call it) in RESPONSE_STREAM mode, and a role
// that may only invoke and stop sessions of the configured runtimes, keep
// limits in the stack's own table, read the gateway secret, and write its
// own logs. Its environment names the secret and holds no secret value.
func newGatewayFunction(stack awscdk.Stack, s *Settings, plan gatewayPlan, runtimeARN *string, outdir string) (*gatewayFunction, error) {
	code, err := stageCode(stack, s, plan, outdir)
	if err != nil {
		return nil, err
	}
	logs := awslogs.NewLogGroup(stack, jsii.String("GatewayLogs"), &awslogs.LogGroupProps{
		Retention:     retentionDays[s.Lambda.LogRetentionDays],
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})

	role := awsiam.NewRole(stack, jsii.String("GatewayRole"), &awsiam.RoleProps{
		Description: jsii.String("agentgate gateway function: invoke the configured AgentCore runtimes"),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("OwnLogs"),
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: &[]*string{logs.LogGroupArn()},
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("InvokeAgentRuntimes"),
		Actions:   jsii.Strings(agentCoreActions...),
		Resources: runtimeResources(plan.runtimeARNs, runtimeARN),
	}))
	acceptFinding(role, "AwsSolutions-IAM5",
		"an invocation with a qualifier is authorized against the runtime's endpoint too; endpoints are named by whoever runs the runtime, and the role is held to the configured runtimes'",
		`/^Resource::.+\/runtime-endpoint\/\*$/`)

	env := map[string]*string{
		"AGENTGATE_CONFIG":        jsii.String(configPath),
		"AGENTGATE_ORIGIN_HEADER": jsii.String(s.Edge.OriginHeader),
	}
	secret := newGatewaySecret(stack, plan)
	secret.grantRead(role)
	env["AGENTGATE_SECRETS_ARN"] = secret.arn()
	gw := &gatewayFunction{originSecret: secret.originSecret}
	if runtimeARN != nil {
		env["AGENTGATE_UPSTREAM_ARN"] = runtimeARN
	}
	if plan.limitsTable {
		table := newLimitsTable(stack)
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("LimitsTable"),
			Actions:   jsii.Strings(limitsTableActions...),
			Resources: &[]*string{table.TableArn()},
		}))
		env["AGENTGATE_LIMIT_STORE"] = jsii.String("dynamodb")
		env["AGENTGATE_DYNAMODB_TABLE"] = table.TableName()
	}

	props := &awslambda.FunctionProps{
		Description:  jsii.String("agentgate gateway: function URL, response streaming"),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         code,
		Timeout:      awscdk.Duration_Minutes(jsii.Number(15)),
		MemorySize:   jsii.Number(s.Lambda.MemorySize),
		Role:         role,
		LogGroup:     logs,
		Environment:  &env,
	}
	if n := s.Lambda.ReservedConcurrency; n > 0 {
		props.ReservedConcurrentExecutions = jsii.Number(n)
	}
	fn := awslambda.NewFunction(stack, jsii.String("Gateway"), props)
	gw.url = fn.AddFunctionUrl(&awslambda.FunctionUrlOptions{
		AuthType:   awslambda.FunctionUrlAuthType_AWS_IAM,
		InvokeMode: awslambda.InvokeMode_RESPONSE_STREAM,
	})
	return gw, nil
}

// limitsTableActions are all the DynamoDB store does: conditional writes,
// and a strongly consistent read where a refused write returns no item.
var limitsTableActions = []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}

// newLimitsTable is where every function instance keeps the limits, budgets,
// sign-in failures and sign-out revocations they share: a string key pk,
// billed per request (nothing to pay while idle, nothing to size), and
// items that end by time to live on expires. It holds nothing that does
// not end by itself, so it goes with the stack.
func newLimitsTable(stack awscdk.Stack) awsdynamodb.Table {
	table := awsdynamodb.NewTable(stack, jsii.String("Limits"), &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String("pk"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute: jsii.String("expires"),
		RemovalPolicy:       awscdk.RemovalPolicy_DESTROY,
	})
	acceptFinding(table, "AwsSolutions-DDB3",
		"the table holds only counters, budgets and revocations that end by time to live within their windows: a restore would bring back stale limits, so there is nothing to recover")
	return table
}

// retentionDays are the log retentions CloudWatch offers, by days.
var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
}

// agentCoreActions are all the gateway does upstream: invoke (as itself and
// on behalf of the caller's principal, the runtime user id) and end a session.
var agentCoreActions = []string{
	"bedrock-agentcore:InvokeAgentRuntime",
	"bedrock-agentcore:InvokeAgentRuntimeForUser",
	"bedrock-agentcore:StopRuntimeSession",
}

// runtimeResources lists each runtime and its endpoints: an invocation with a
// qualifier is authorized against runtime/ID/runtime-endpoint/NAME too.
func runtimeResources(static []string, created *string) *[]*string {
	var out []*string
	for _, arn := range static {
		out = append(out, jsii.String(arn), jsii.String(arn+"/runtime-endpoint/*"))
	}
	if created != nil {
		out = append(out, created, awscdk.Fn_Join(jsii.String(""), &[]*string{created, jsii.String("/runtime-endpoint/*")}))
	}
	return &out
}

// stageCode assembles the function's code folder in the cloud assembly:
// bootstrap from settings lambda.code and the gateway configuration beside
// it. Without a built bootstrap the synth fails, unless lambda.allowPlaceholder
// lets the function get a placeholder that fails every invocation (tests, CI).
func stageCode(stack awscdk.Stack, s *Settings, plan gatewayPlan, outdir string) (awslambda.Code, error) {
	src := filepath.Join(s.path(s.Lambda.Code), "bootstrap")
	if _, err := os.Stat(src); err != nil {
		if !s.Lambda.AllowPlaceholder {
			return nil, fmt.Errorf("lambda.code: no %s: run scripts/build-lambda.sh first (or set lambda.allowPlaceholder: true to deploy a function that fails every invocation)", src)
		}
		awscdk.Annotations_Of(stack).AddWarningV2(jsii.String("agentgate:placeholder"), jsii.String(fmt.Sprintf(
			"no %s: lambda.allowPlaceholder gives the function a placeholder that fails every invocation; run scripts/build-lambda.sh before deploying", src)))
		abs, err := filepath.Abs(filepath.Join(placeholderDir, "bootstrap"))
		if err != nil {
			return nil, err
		}
		src = abs
	}
	dir := filepath.Join(outdir, "agentgate-lambda")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := copyFile(src, filepath.Join(dir, "bootstrap"), 0o755); err != nil {
		return nil, fmt.Errorf("lambda.code: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(configPath)), plan.file, 0o644); err != nil {
		return nil, err
	}
	return awslambda.Code_FromAsset(jsii.String(dir), nil), nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
