package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// settingsWith writes the example settings with the gateway section
// replaced, and loads them.
func settingsWith(t *testing.T, extra, gateway string) (*Settings, error) {
	t.Helper()
	example, err := os.ReadFile(defaultSettingsFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(example)
	text = text[:strings.Index(text, "\ngateway:")] + "\n" + extra + "\ngateway:\n" + gateway
	path := filepath.Join(t.TempDir(), "settings.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return LoadSettings(path)
}

func TestTheExampleSettingsPlanAGateway(t *testing.T) {
	s, err := LoadSettings(defaultSettingsFile)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := planGateway(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.runtimeARNs) != 1 || plan.runtimeARNs[0] != exampleARN {
		t.Errorf("runtimes %v", plan.runtimeARNs)
	}
	if plan.maxBodyBytes != 1<<20 || plan.authFromSecret || plan.runtime {
		t.Errorf("plan %+v", plan)
	}
	if !strings.Contains(string(plan.file), "trustedProxies") {
		t.Errorf("bundled configuration:\n%s", plan.file)
	}
}

func TestBadSettingsAreRefusedNamingTheField(t *testing.T) {
	const agent = "  agents: {demo: {arn: " + exampleARN + "}}\n  defaultAgent: demo\n"
	for _, tc := range []struct {
		name, extra, gateway, want string
	}{
		{"a gateway field the gateway does not know", "", agent + "  auth: {none: true}\n  limts: {}\n", "limts"},
		{"a bad gateway value, in the gateway's words", "", agent + "  auth: {none: true}\n  limits: {store: disk}\n", "limits.store"},
		{"an origin lock set in the gateway", "", agent + "  auth: {none: true}\n  originLock: {header: X-A, secret: 0123456789abcdef}\n", "edge.originHeader"},
		{"static AWS credentials", "", agent + "  auth: {none: true}\n  aws: {accessKeyId: AKID, secretAccessKey: x}\n", "gateway.aws"},
		{"an agent ARN beside the created runtime", "", agent + "  auth: {none: true}\n", "gateway.agents.demo.arn"},
		{"a deployment field it does not know", "colour: blue", agent, "colour"},
		{"a short origin secret", "", agent, "edge.originSecret"},
		{"an image that is not in ECR", "", agent, "agentRuntime.imageUri"},
		{"a window WAF does not offer", "", agent, "waf.windowSeconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := settingsWith(t, tc.extra, tc.gateway)
			if err == nil {
				switch tc.want {
				case "gateway.agents.demo.arn":
					s.AgentRuntime.ImageURI = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/agentgate-agent:v1"
				case "edge.originSecret":
					s.Edge.OriginSecret = "short"
					err = s.validate()
				case "agentRuntime.imageUri":
					s.AgentRuntime.ImageURI = "docker.io/library/agent:latest"
					err = s.validate()
				case "waf.windowSeconds":
					s.WAF.WindowSeconds = 30
					err = s.validate()
				}
			}
			if err == nil {
				_, err = planGateway(s)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestWithoutAgentsTheStackCreatesTheRuntime(t *testing.T) {
	s, err := settingsWith(t, "", "  auth: {none: true}\n")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := planGateway(s)
	if err != nil || !plan.runtime {
		t.Errorf("plan %+v, %v; want the stack's runtime", plan, err)
	}
}

// WAF ignores an override that names no rule of its group, so a misspelt
// rule must fail the synth rather than leave the rule as it was.
func TestWAFRuleNamesAreChecked(t *testing.T) {
	for _, tc := range []struct {
		name             string
		block, countOnly []string
		want             string
	}{
		{"a rule to block that does not count by default", []string{"NoUserAgent_HEADER"}, nil, "waf.block"},
		{"a rule to count that no managed group has", nil, []string{"CrossSiteScripting_Body"}, "waf.countOnly"},
		{"a rule both blocked and counted", []string{"GenericRFI_BODY"}, []string{"GenericRFI_BODY"}, "also in waf.block"},
		{"rules to block and to count", []string{"GenericRFI_BODY", "SizeRestrictions_BODY"}, []string{"NoUserAgent_HEADER"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := LoadSettings(defaultSettingsFile)
			if err != nil {
				t.Fatal(err)
			}
			s.WAF.Block, s.WAF.CountOnly = tc.block, tc.countOnly
			err = s.validate()
			if tc.want == "" && err != nil {
				t.Errorf("error %v, want none", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
