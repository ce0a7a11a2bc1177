package main

import (
	"errors"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentgate/agentgate/internal/config"
)

// gatewaySecret is the Secrets Manager secret the gateway reads its secret
// settings from at run time (config.SecretValues, docs/deploy.md): neither
// the template, the cloud assembly, the code asset nor the function's
// environment holds a secret value, and a value put into the secret takes
// effect within secrets.refresh, without a deploy.
//
// Its sessionKey, tokenKey and originSecret are generated at deploy time.
// A secret generates one value (GenerateSecretString's GenerateStringKey,
// here originSecret); the other two come from two secrets generated beside
// it, which CloudFormation resolves into the JSON template when it creates
// the gateway secret. They hold those first values only: rotations go into
// the gateway secret.
type gatewaySecret struct {
	secret awssecretsmanager.Secret
	// originSecret is the origin lock's value as CloudFront must send it:
	// a dynamic reference to the secret's originSecret, which
	// CloudFormation resolves into the distribution's origin custom header,
	// where cloudfront:GetDistributionConfig reads it. It is the one value
	// that leaves Secrets Manager, because CloudFront has no other way to
	// get it.
	originSecret *string
}

// secretReadActions are all the function does with its secret.
var secretReadActions = []string{"secretsmanager:GetSecretValue"}

// newGatewaySecret creates the gateway secret and its generated values.
func newGatewaySecret(stack awscdk.Stack, plan gatewayPlan) *gatewaySecret {
	template := stack.ToJsonString(map[string]any{
		"sessionKey": generatedValue(stack, "GatewaySessionKey", "agentgate: the first sessions.key, copied into the gateway secret at its creation"),
		"tokenKey":   generatedValue(stack, "GatewayTokenKey", "agentgate: the first auth.passwords.tokenKey, copied into the gateway secret at its creation"),
	}, nil)
	secret := awssecretsmanager.NewSecret(stack, jsii.String("GatewaySecret"), &awssecretsmanager.SecretProps{
		Description: jsii.String("agentgate gateway secret settings (sessionKey, tokenKey, originSecret, users, apiKeys, ...): read by the gateway at run time"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: template,
			GenerateStringKey:    jsii.String("originSecret"),
			PasswordLength:       jsii.Number(48),
			ExcludePunctuation:   jsii.Bool(true),
		},
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	acceptFinding(secret, "AwsSolutions-SMG4",
		"the gateway reads the secret at run time and takes a new value within secrets.refresh, so a value put with put-secret-value rotates it without a deploy; the origin secret alone needs a deploy too, for CloudFront (docs/deploy.md, Secrets)")
	if plan.authFromSecret {
		awscdk.Annotations_Of(stack).AddWarningV2(jsii.String("agentgate:auth-from-secret"), jsii.String(
			"gateway settings name no authenticator: the function starts only once the gateway secret holds apiKeys or users (docs/deploy.md, aws secretsmanager put-secret-value)"))
	}
	return &gatewaySecret{
		secret:       secret,
		originSecret: secret.SecretValueFromJson(jsii.String("originSecret")).UnsafeUnwrap(),
	}
}

// generatedValue creates a secret holding one generated value and returns
// a dynamic reference to it.
func generatedValue(stack awscdk.Stack, id, description string) *string {
	s := awssecretsmanager.NewSecret(stack, jsii.String(id), &awssecretsmanager.SecretProps{
		Description: jsii.String(description),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(48),
			ExcludePunctuation: jsii.Bool(true),
		},
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	acceptFinding(s, "AwsSolutions-SMG4",
		"it only seeds the gateway secret when CloudFormation creates it; nothing reads it afterwards, and rotations go into the gateway secret")
	return s.SecretValue().UnsafeUnwrap()
}

// arn is the secret's ARN, the function's AGENTGATE_SECRETS_ARN.
func (g *gatewaySecret) arn() *string { return g.secret.SecretArn() }

// grantRead lets role read the secret's value, and nothing else of it.
func (g *gatewaySecret) grantRead(role awsiam.Role) {
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadGatewaySecret"),
		Actions:   jsii.Strings(secretReadActions...),
		Resources: &[]*string{g.secret.SecretArn()},
	}))
}

// placeholderSecretARN stands in, for validation, for the gateway
// secret's ARN.
const placeholderSecretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:placeholder-AbCdEf"

// placeholderKeyHash stands in for API keys the secret holds.
const placeholderKeyHash = "sha256:5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2"

// secretPlaceholders stand in, for validation, for the values the gateway
// secret holds at deploy time, and for the authentication it must hold
// when the settings name none.
func secretPlaceholders(written config.Config) (config.SecretValues, bool) {
	v := config.SecretValues{SessionKey: placeholderSecret, TokenKey: placeholderSecret, OriginSecret: placeholderSecret}
	fromSecret := !written.AuthConfigured() && !written.Auth.None
	if fromSecret {
		v.APIKeys = []config.APIKey{{Name: "placeholder", Hash: placeholderKeyHash}}
	}
	return v, fromSecret
}

// refuseSecretLiterals refuses settings that would carry a secret value
// into the template, the cloud assembly or the code asset (the gateway
// section is bundled with the function as written), naming each.
func refuseSecretLiterals(written config.Config, s *Settings) error {
	const where = "put it in the gateway secret instead (docs/deploy.md: aws secretsmanager put-secret-value)"
	var errs []error
	for _, f := range []struct {
		field, json string
		set         bool
	}{
		{"edge.originSecret", "originSecret", s.Edge.OriginSecret != ""},
		{"gateway.originLock.previousSecrets", "previousOriginSecrets", len(written.OriginLock.PreviousSecrets) > 0},
		{"gateway.sessions.key", "sessionKey", written.Sessions.Key != ""},
		{"gateway.sessions.previousKeys", "previousSessionKeys", len(written.Sessions.PreviousKeys) > 0},
		{"gateway.auth.passwords.tokenKey", "tokenKey", written.Auth.Passwords.TokenKey != ""},
		{"gateway.auth.passwords.previousTokenKeys", "previousTokenKeys", len(written.Auth.Passwords.PreviousTokenKeys) > 0},
		{"gateway.auth.passwords.usersFile", "users, the file's content", written.Auth.Passwords.UsersFile != ""},
		{"gateway.limits.redis.password", "redisPassword or redisURL", written.Limits.Redis.Password != ""},
		{"gateway.metrics.token", "metricsToken", written.Metrics.Token != ""},
	} {
		if f.set {
			errs = append(errs, fmt.Errorf("settings %s: a secret does not belong in the settings, which reach the template and the code asset; %s as %s", f.field, where, f.json))
		}
	}
	if written.Secrets.ARN != "" || written.Secrets.Endpoint != "" {
		errs = append(errs, errors.New("settings gateway.secrets: the stack creates the gateway secret and gives its ARN to the function; set only secrets.refresh or secrets.timeout here"))
	}
	return errors.Join(errs...)
}
