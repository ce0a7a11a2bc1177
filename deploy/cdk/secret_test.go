package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// synthTo synthesizes the example settings, as change adjusts them, into
// a cloud assembly in a folder of the test's, and returns the folder and
// the main stack's template as written there.
func synthTo(t *testing.T, change func(*Settings)) (string, template, error) {
	t.Helper()
	s, err := LoadSettings(defaultSettingsFile)
	if err != nil {
		t.Fatal(err)
	}
	s.Account, s.Region = "123456789012", "eu-west-1"
	s.Lambda.AllowPlaceholder = true
	if change != nil {
		change(s)
	}
	outdir := t.TempDir()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir)})
	d, err := NewAgentgate(app, s)
	if err != nil {
		return outdir, nil, err
	}
	app.Synth(nil)
	raw, err := os.ReadFile(filepath.Join(outdir, *d.Main.TemplateFile()))
	if err != nil {
		t.Fatal(err)
	}
	var tpl template
	if err := json.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	return outdir, tpl, nil
}

// scan fails the test for every file under dir, templates, manifests and
// the code asset's folder alike, that holds one of material.
func scan(t *testing.T, dir string, material ...string) (files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, m := range material {
			if bytes.Contains(b, []byte(m)) {
				t.Errorf("%s holds secret material %q", strings.TrimPrefix(path, dir), m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// gatewaySecretID is the logical id of the gateway secret in tpl.
func gatewaySecretID(t *testing.T, tpl template) string {
	t.Helper()
	for id := range tpl.resources("AWS::SecretsManager::Secret") {
		if strings.HasPrefix(id, "GatewaySecret") {
			return id
		}
	}
	t.Fatal("no gateway secret")
	return ""
}

func TestNoSecretReachesTheCloudAssemblyOrTheFunctionsEnvironment(t *testing.T) {
	outdir, tpl, err := synthTo(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := scan(t, outdir, placeholderSecret, placeholderKeyHash, placeholderSecretARN); n < 3 {
		t.Fatalf("only %d files in the cloud assembly: the scan proves nothing", n)
	}
	if _, err := os.Stat(filepath.Join(outdir, "agentgate-lambda", "agentgate.yaml")); err != nil {
		t.Fatalf("the code asset's folder is not in the assembly: %v", err)
	}
	secretID := gatewaySecretID(t, tpl)

	t.Run("the function's environment names the secret and holds none", func(t *testing.T) {
		env := tpl.functionEnv(t)
		if got := compact(env["AGENTGATE_SECRETS_ARN"]); got != `{"Ref":"`+secretID+`"}` {
			t.Errorf("AGENTGATE_SECRETS_ARN = %s, want the gateway secret's Ref", got)
		}
		names := slices.Sorted(mapKeys(env))
		want := []string{"AGENTGATE_CONFIG", "AGENTGATE_DYNAMODB_TABLE", "AGENTGATE_LIMIT_STORE", "AGENTGATE_ORIGIN_HEADER", "AGENTGATE_SECRETS_ARN"}
		if !slices.Equal(names, want) {
			t.Errorf("environment variables %v, want exactly %v", names, want)
		}
		if got := compact(env); strings.Contains(got, "resolve:secretsmanager") || strings.Contains(got, "SecretString") {
			t.Errorf("the environment resolves a secret: %s", got)
		}
	})

	t.Run("the role may only GetSecretValue, on the gateway secret alone", func(t *testing.T) {
		var found []string
		for _, p := range tpl.resources("AWS::IAM::Policy") {
			for _, st := range get(t, p, "PolicyDocument", "Statement").([]any) {
				if !strings.Contains(compact(st), "secretsmanager") {
					continue
				}
				found = append(found, compact(st))
				actions, resources := strs(get(t, st, "Action")), strs(get(t, st, "Resource"))
				if !slices.Equal(actions, []string{"secretsmanager:GetSecretValue"}) || !slices.Equal(resources, []string{`{"Ref":"` + secretID + `"}`}) ||
					get(t, st, "Effect") != "Allow" || st.(map[string]any)["Condition"] != nil {
					t.Errorf("statement %s, want exactly GetSecretValue on the gateway secret's Ref", compact(st))
				}
			}
		}
		if len(found) != 1 {
			t.Errorf("%d statements about Secrets Manager, want 1: %v", len(found), found)
		}
	})

	t.Run("sessionKey, tokenKey and originSecret are generated at deploy time", func(t *testing.T) {
		gen := get(t, tpl.resources("AWS::SecretsManager::Secret")[secretID], "GenerateSecretString").(map[string]any)
		if gen["GenerateStringKey"] != "originSecret" {
			t.Errorf("generated key %v, want originSecret", gen["GenerateStringKey"])
		}
		template := compact(gen["SecretStringTemplate"])
		for _, key := range []string{"sessionKey", "tokenKey"} {
			if !strings.Contains(template, `\"`+key+`\":\"{{resolve:secretsmanager:",{"Ref":"Gateway`) {
				t.Errorf("%s is not a generated secret's dynamic reference in the template %s", key, template)
			}
		}
		for id, s := range tpl.resources("AWS::SecretsManager::Secret") {
			if s["SecretString"] != nil || s["GenerateSecretString"] == nil {
				t.Errorf("secret %s holds a value written in the template: %s", id, compact(s))
			}
		}
	})

	t.Run("CloudFront gets the origin secret as a dynamic reference into the gateway secret", func(t *testing.T) {
		_, dist := tpl.only(t, "AWS::CloudFront::Distribution")
		got := compact(get(t, dist, "DistributionConfig", "Origins", 0, "OriginCustomHeaders", 0, "HeaderValue"))
		want := fmt.Sprintf(`{"Fn::Join":["",["{{resolve:secretsmanager:",{"Ref":"%s"},":SecretString:originSecret::}}"]]}`, secretID)
		if got != want {
			t.Errorf("origin header value %s, want %s", got, want)
		}
	})
}

func TestSettingsWithoutAuthLeaveItToTheSecretAndSaySo(t *testing.T) {
	outdir, tpl, err := synthTo(t, func(s *Settings) {
		gatewayYAML(t, s, "defaultAgent: demo\nagents:\n  demo:\n    arn: "+exampleARN+"\n")
	})
	if err != nil {
		t.Fatal(err)
	}
	scan(t, outdir, placeholderSecret, placeholderKeyHash)
	gatewaySecretID(t, tpl)
	manifest, err := os.ReadFile(filepath.Join(outdir, "Agentgate.metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(manifest), "agentgate:auth-from-secret") {
		t.Error("no warning that the secret must hold apiKeys or users")
	}
}

func TestSecretLiteralsInTheSettingsAreRefusedAtSynth(t *testing.T) {
	const material = "literal-secret-material-0123456789abcdef"
	const agents = "defaultAgent: demo\nagents: {demo: {arn: " + exampleARN + "}}\n"
	const agent = agents + "auth: {none: true}\n"
	for _, tt := range []struct {
		name, gateway, edge, want string
	}{
		{"a session key", agent + "sessions: {key: " + material + "}\n", "", "gateway.sessions.key"},
		{"previous session keys", agent + "sessions: {previousKeys: [" + material + "]}\n", "", "gateway.sessions.previousKeys"},
		{"a login token key", agents + "auth: {none: true, passwords: {tokenKey: " + material + "}}\n", "", "gateway.auth.passwords.tokenKey"},
		{"a users file", agents + "auth: {none: true, passwords: {usersFile: /var/task/users}}\n", "", "gateway.auth.passwords.usersFile"},
		{"a Redis password", agent + "limits: {store: redis, redis: {addr: 'cache:6379', password: " + material + "}}\n", "", "gateway.limits.redis.password"},
		{"a metrics token", agent + "metrics: {token: " + material + "}\n", "", "gateway.metrics.token"},
		{"previous origin secrets", agent + "originLock: {previousSecrets: [" + material + "]}\n", "", "gateway.originLock.previousSecrets"},
		{"an origin secret in the edge settings", agent, material, "edge.originSecret"},
		{"a secret of the gateway's own", agent + "secrets: {arn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf'}\n", "", "gateway.secrets"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			outdir, _, err := synthTo(t, func(s *Settings) {
				gatewayYAML(t, s, tt.gateway)
				s.Edge.OriginSecret = tt.edge
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "put-secret-value") && tt.want != "gateway.secrets" {
				t.Fatalf("err = %v, want a refusal naming %s and the way into the secret", err, tt.want)
			}
			if strings.Contains(err.Error(), material) {
				t.Errorf("the error quotes the value: %v", err)
			}
			scan(t, outdir, material)
		})
	}
	t.Run("every literal is named at once", func(t *testing.T) {
		_, _, err := synthTo(t, func(s *Settings) {
			gatewayYAML(t, s, agent+"sessions: {key: "+material+"}\nmetrics: {token: "+material+"}\n")
		})
		if err == nil || !strings.Contains(err.Error(), "gateway.sessions.key") || !strings.Contains(err.Error(), "gateway.metrics.token") {
			t.Fatalf("err = %v", err)
		}
	})
}
