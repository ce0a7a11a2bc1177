package stack

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/limit"
)

// dynamoDBAttempts caps the SDK's tries per call to the limits table: one
// retry of a throttled or failed call, both within limits.dynamodb.timeout,
// so that admission never waits on a retry loop.
const dynamoDBAttempts = 2

// OpenStore returns the store of shared limit state l names: NewStore's,
// or DynamoDB, whose client needs the AWS configuration of the
// environment (region, credentials) and can fail to load it.
func OpenStore(ctx context.Context, l config.Limits) (limit.Store, error) {
	if l.Store != "dynamodb" {
		return NewStore(l), nil
	}
	return NewDynamoDBStore(ctx, l.DynamoDB)
}

// NewDynamoDBStore returns a DynamoDB store on d's table, with the AWS
// SDK's default configuration (AWS_REGION, the function's role) and d's
// endpoint, when set, in place of the service's. It never creates the
// table: the deployment does.
func NewDynamoDBStore(ctx context.Context, d config.DynamoDB) (*limit.DynamoDB, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRetryMaxAttempts(dynamoDBAttempts))
	if err != nil {
		return nil, fmt.Errorf("limits.dynamodb: loading the AWS configuration: %w", err)
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if d.Endpoint != "" {
			o.BaseEndpoint = aws.String(d.Endpoint)
		}
	})
	s := limit.NewDynamoDB(client, d.Table)
	s.Timeout = d.Timeout
	return s, nil
}
