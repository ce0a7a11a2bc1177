// Package secrets reads the gateway's secret settings from AWS Secrets
// Manager: one secret, named by its ARN, whose SecretString is the JSON
// object config.SecretValues describes. It reads; when to read again, and
// what a new value changes, is the stack's business (stack.Live).
package secrets

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/agentgate/agentgate/internal/config"
)

// attempts caps the SDK's tries per read: a throttled or failed call is
// tried again, within the read's timeout.
const attempts = 3

// Source reads one secret. It is safe for concurrent use.
type Source struct {
	client *secretsmanager.Client
	cfg    config.Secrets
}

// NewSource returns a Source for the secret s names, with the AWS SDK's
// default credentials (AWS_* variables, the Lambda function's role) in the
// secret's own region, and s.Endpoint, when set, in place of the service's
// URL.
func NewSource(ctx context.Context, s config.Secrets) (*Source, error) {
	if err := (&config.Config{Secrets: s}).ValidateSecrets(); err != nil {
		return nil, err
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(config.SecretRegion(s.ARN)), awsconfig.WithRetryMaxAttempts(attempts))
	if err != nil {
		return nil, fmt.Errorf("secrets: loading the AWS configuration: %w", err)
	}
	client := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
	})
	return &Source{client: client, cfg: s}, nil
}

// ARN is the secret's ARN.
func (s *Source) ARN() string { return s.cfg.ARN }

// Read fetches the secret's current value and parses it, within the
// configured timeout. Its errors name the secret and what went wrong,
// never a value.
func (s *Source) Read(ctx context.Context) (config.SecretValues, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.cfg.ARN)})
	if err != nil {
		return config.SecretValues{}, fmt.Errorf("secrets.arn %s: %w", s.cfg.ARN, err)
	}
	if out.SecretString == nil {
		return config.SecretValues{}, fmt.Errorf("secrets.arn %s: the secret holds binary data; it must hold a JSON object as text (SecretString)", s.cfg.ARN)
	}
	v, err := config.ParseSecretValues([]byte(*out.SecretString))
	if err != nil {
		return config.SecretValues{}, fmt.Errorf("secrets.arn %s: %w", s.cfg.ARN, err)
	}
	return v, nil
}
