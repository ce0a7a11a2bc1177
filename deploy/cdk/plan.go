package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/identity"
	"go.yaml.in/yaml/v3"
)

// gatewayPlan is what the gateway function will run with, worked out before
// any construct exists so that a bad setting fails the synth with the
// gateway's own message rather than the function's first cold start.
type gatewayPlan struct {
	// file is agentgate.yaml as bundled with the function.
	file []byte
	// runtimeARNs are the upstream runtimes the settings name; the runtime
	// this app creates is added by the stack.
	runtimeARNs []string
	// maxBodyBytes is the gateway's request body cap (WAF mirrors it).
	maxBodyBytes int64
	// authFromSecret says the file names no authenticator: the gateway
	// secret must hold apiKeys or users.
	authFromSecret bool
	// limitsTable says the file leaves limits.store unset, and the stack
	// makes a DynamoDB table the store: the one shared store a function
	// URL can reach without a VPC, so that limits hold across instances.
	limitsTable bool
	// runtime says the stack creates the agent runtime, the gateway's
	// default agent: the settings name an image (agentRuntime.imageUri) or
	// no agent's ARN at all, and then the image is built from this
	// repository.
	runtime bool
	// headerAllowlist is that runtime's requestHeaderAllowlist: the
	// headers in which the gateway tells its default agent who is asking
	// (the principal's and those of agents.DEFAULT.forwardClaims).
	headerAllowlist []string
}

// Placeholders stand in, for validation only, for values the stack fills in
// at deploy time.
const (
	placeholderSecret = "placeholder-secret-generated-at-deploy-time-0000"
	placeholderARN    = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/placeholder-0000000000"
	placeholderTable  = "placeholder-limits"
)

// hasKey reports whether the mapping n holds the path of keys.
func hasKey(n *yaml.Node, path ...string) bool {
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return false
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return false
		}
		n = next
	}
	return true
}

// planGateway reads the gateway section as the gateway will, with the
// environment the stack gives the function.
func planGateway(s *Settings) (plan gatewayPlan, err error) {
	if s.Gateway.Kind != 0 {
		if plan.file, err = yaml.Marshal(&s.Gateway); err != nil {
			return plan, fmt.Errorf("settings gateway: %w", err)
		}
	}
	written, err := loadConfig(plan.file, nil)
	if err != nil {
		return plan, err
	}
	// An agent written without an ARN is the runtime the stack creates,
	// given gateway settings of its own (forwardClaims, say).
	plan.runtime = s.AgentRuntime.ImageURI != "" || !anyARN(written.Agents)
	if err := ownedByStack(written, plan.runtime); err != nil {
		return plan, err
	}
	if err := refuseSecretLiterals(written, s); err != nil {
		return plan, err
	}
	env := map[string]string{"AGENTGATE_ORIGIN_HEADER": s.Edge.OriginHeader, "AGENTGATE_SECRETS_ARN": placeholderSecretARN}
	if plan.runtime {
		env["AGENTGATE_UPSTREAM_ARN"] = placeholderARN
	}
	plan.limitsTable = !hasKey(&s.Gateway, "limits", "store")
	if plan.limitsTable {
		env["AGENTGATE_LIMIT_STORE"], env["AGENTGATE_DYNAMODB_TABLE"] = "dynamodb", placeholderTable
	}
	cfg, err := loadConfig(plan.file, env)
	if err != nil {
		return plan, err
	}
	var placeholders config.SecretValues
	placeholders, plan.authFromSecret = secretPlaceholders(written)
	placeholders.Apply(&cfg)
	if err := cfg.ValidateGateway(); err != nil {
		return plan, fmt.Errorf("settings gateway: %w", err)
	}
	if plan.runtime {
		forward, err := identity.NewForward(cfg.Agents[cfg.DefaultAgent].ForwardClaims)
		if err != nil { // ValidateGateway has checked it
			return plan, fmt.Errorf("settings gateway.agents.%s.forwardClaims: %w", cfg.DefaultAgent, err)
		}
		plan.headerAllowlist = forward.AllowList()
	}
	for _, a := range written.Agents {
		if a.ARN == "" {
			continue
		}
		if !slices.Contains(plan.runtimeARNs, a.ARN) {
			plan.runtimeARNs = append(plan.runtimeARNs, a.ARN)
		}
	}
	slices.Sort(plan.runtimeARNs)
	plan.maxBodyBytes = cfg.Limits.MaxBodyBytes
	return plan, nil
}

// anyARN reports whether some agent names a runtime of its own.
func anyARN(agents map[string]config.Agent) bool {
	for _, a := range agents {
		if a.ARN != "" {
			return true
		}
	}
	return false
}

// ownedByStack refuses gateway settings that the stack provides itself.
func ownedByStack(c config.Config, withRuntime bool) error {
	if c.OriginLock.Header != "" || c.OriginLock.Secret != "" {
		return fmt.Errorf("settings gateway.originLock: set edge.originHeader instead; the stack generates the secret into the gateway secret and gives the same values to CloudFront and the gateway")
	}
	if c.AWS.AccessKeyID != "" || c.AWS.SecretAccessKey != "" || c.AWS.SessionToken != "" {
		return fmt.Errorf("settings gateway.aws: the function runs with its own role; static credentials do not belong in the bundle")
	}
	if withRuntime {
		if a, ok := c.Agents[c.DefaultAgent]; ok && a.ARN != "" {
			return fmt.Errorf("settings gateway.agents.%s.arn: the runtime the stack creates from agentRuntime.imageUri serves as the default agent %q; drop one of the two", c.DefaultAgent, c.DefaultAgent)
		}
	}
	return nil
}

// loadConfig loads file through the gateway's own loader, with getenv
// answering from env only.
func loadConfig(file []byte, env map[string]string) (config.Config, error) {
	f, err := os.CreateTemp("", "agentgate-settings-*.yaml")
	if err != nil {
		return config.Config{}, err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(file)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return config.Config{}, err
	}
	cfg, err := config.Load(f.Name(), func(k string) string { return env[k] })
	if err != nil {
		return cfg, fmt.Errorf("settings gateway: %s", strings.ReplaceAll(err.Error(), f.Name(), "gateway"))
	}
	return cfg, nil
}
