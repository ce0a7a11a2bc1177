package upstream

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockagentcore"
)

// sdkPartitions reads the partitions the SDK in go.mod resolves endpoints
// with.
func sdkPartitions(t *testing.T) []partition {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-sdk-go-v2").Output()
	if err != nil {
		t.Fatalf("go list the SDK's module: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal/endpoints/awsrulesfn/partitions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Partitions []struct {
			ID          string                     `json:"id"`
			RegionRegex string                     `json:"regionRegex"`
			Regions     map[string]json.RawMessage `json:"regions"`
			Outputs     struct {
				DNSSuffix, DualStackDNSSuffix   string
				SupportsFIPS, SupportsDualStack bool
			} `json:"outputs"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var ps []partition
	for _, p := range doc.Partitions {
		if !p.Outputs.SupportsFIPS || !p.Outputs.SupportsDualStack {
			t.Errorf("partition %s lacks FIPS or dual-stack: regionEndpoint must learn the rules' errors", p.ID)
		}
		ps = append(ps, partition{p.ID, p.RegionRegex, slices.Sorted(maps.Keys(p.Regions)), p.Outputs.DNSSuffix, p.Outputs.DualStackDNSSuffix})
	}
	return ps
}

// TestEndpointsAreTheSDKs: for every region the SDK names, one of each
// partition's pattern, and unknown ones, with FIPS and dual-stack on and
// off, the data plane's URL is the one the bedrockagentcore client's own
// endpoint resolver gives; and the partition table is the SDK's, so an
// SDK upgrade that changes it fails here.
func TestEndpointsAreTheSDKs(t *testing.T) {
	regions := []string{"mars-west-1", "local", "us-east-1-x", "cn-north", "eusc-fr-east-1", "us-isoz-east-1"}
	for _, sp := range sdkPartitions(t) {
		i := slices.IndexFunc(partitions, func(p partition) bool { return p.id == sp.id })
		if i < 0 {
			t.Errorf("the SDK has partition %s; the table does not", sp.id)
			continue
		}
		ours := partitions[i]
		if ours.regionRegex != sp.regionRegex || ours.dnsSuffix != sp.dnsSuffix || ours.dualStackDNS != sp.dualStackDNS {
			t.Errorf("partition %s: table %+v, the SDK's %+v", sp.id, ours, sp)
		}
		for _, r := range sp.regions {
			if !slices.Contains(ours.regions, r) && !partitionPatterns()[i].MatchString(r) {
				t.Errorf("partition %s: the SDK names %s, which the table neither names nor matches", sp.id, r)
			}
		}
		regions = append(regions, sp.regions...)
	}
	if len(partitions) != len(sdkPartitions(t)) {
		t.Errorf("the table has %d partitions, the SDK %d", len(partitions), len(sdkPartitions(t)))
	}
	regions = append(regions, "us-west-9", "cn-south-7", "us-gov-north-2", "us-iso-south-3", "us-isob-north-2", "eu-isoe-east-4", "us-isof-west-2", "eusc-de-west-2")
	sdk := bedrockagentcore.NewDefaultEndpointResolverV2()
	for _, region := range regions {
		for _, fips := range []bool{false, true} {
			for _, dual := range []bool{false, true} {
				want, err := sdk.ResolveEndpoint(context.Background(), bedrockagentcore.EndpointParameters{Region: aws.String(region), UseFIPS: aws.Bool(fips), UseDualStack: aws.Bool(dual)})
				if err != nil {
					t.Fatalf("the SDK resolves %s: %v", region, err)
				}
				got, err := regionEndpoint(region, fips, dual)
				if err != nil || got != want.URI.String() {
					t.Errorf("%s fips=%v dual=%v: %q (%v), the SDK's %q", region, fips, dual, got, err, want.URI.String())
				}
			}
		}
	}
}

// TestConfiguredEndpointsAreTheSDKs: the settings that point the SDK's
// client elsewhere (the environment, the shared config's services
// section, the switches for FIPS, dual-stack and ignoring configured
// endpoints) point the invoker at the same URL.
func TestConfiguredEndpointsAreTheSDKs(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "config")
	if err := os.WriteFile(shared, []byte("[default]\nservices = local\n\n[services local]\nbedrock_agentcore =\n  endpoint_url = http://127.0.0.1:9911\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  map[string]string
		url  string // what both must say
	}{
		{"nothing set", nil, "https://bedrock-agentcore.eu-west-1.amazonaws.com"},
		{"the service's variable", map[string]string{"AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": "http://127.0.0.1:9000"}, "http://127.0.0.1:9000"},
		{"the global variable", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:9001"}, "http://127.0.0.1:9001"},
		{"both variables", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:9001", "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": "http://127.0.0.1:9000"}, "http://127.0.0.1:9000"},
		{"the shared config's services section", map[string]string{"AWS_CONFIG_FILE": shared}, "http://127.0.0.1:9911"},
		{"the global variable over the services section", map[string]string{"AWS_CONFIG_FILE": shared, "AWS_ENDPOINT_URL": "http://127.0.0.1:9001"}, "http://127.0.0.1:9001"},
		{"configured endpoints ignored", map[string]string{"AWS_CONFIG_FILE": shared, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}, "https://bedrock-agentcore.eu-west-1.amazonaws.com"},
		{"FIPS", map[string]string{"AWS_USE_FIPS_ENDPOINT": "true"}, "https://bedrock-agentcore-fips.eu-west-1.amazonaws.com"},
		{"dual-stack", map[string]string{"AWS_USE_DUALSTACK_ENDPOINT": "true"}, "https://bedrock-agentcore.eu-west-1.api.aws"},
		{"both switches", map[string]string{"AWS_USE_FIPS_ENDPOINT": "true", "AWS_USE_DUALSTACK_ENDPOINT": "true"}, "https://bedrock-agentcore-fips.eu-west-1.api.aws"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
				"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_PROFILE"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("eu-west-1"))
			if err != nil {
				t.Fatal(err)
			}
			o := bedrockagentcore.NewFromConfig(cfg).Options()
			want := ""
			if o.BaseEndpoint != nil {
				want = *o.BaseEndpoint
			} else {
				ep, err := o.EndpointResolverV2.ResolveEndpoint(context.Background(), bedrockagentcore.EndpointParameters{Region: aws.String(o.Region),
					UseFIPS:      aws.Bool(o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled),
					UseDualStack: aws.Bool(o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled)})
				if err != nil {
					t.Fatal(err)
				}
				want = ep.URI.String()
			}
			got, err := resolveEndpoint(context.Background(), cfg)
			if err != nil || got != want || got != c.url {
				t.Errorf("%q (%v), the SDK's client calls %q, want %q", got, err, want, c.url)
			}
		})
	}
}
