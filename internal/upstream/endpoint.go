package upstream

import (
	"context"
	"errors"
	"os"
	"regexp"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// sdkID is the AgentCore data plane's service id in the SDK's settings:
// AWS_ENDPOINT_URL_BEDROCK_AGENTCORE, the shared config's
// services.bedrock_agentcore.
const sdkID = "Bedrock AgentCore"

// resolveEndpoint returns the data plane's URL the SDK's client would
// call: the base endpoint configured for the service (the environment's
// AWS_ENDPOINT_URL_BEDROCK_AGENTCORE or AWS_ENDPOINT_URL, the shared
// config's services section), else the region's, by the service's
// endpoint rules (the standard ones: bedrock-agentcore[-fips].REGION.
// SUFFIX of the region's partition, dual-stack or not, as configured).
// It reads the settings through the same exported methods of the SDK's
// config sources the client reads them with; TestEndpointsAreTheSDKs
// holds the result to the client's own resolver for every region the
// SDK knows.
func resolveEndpoint(ctx context.Context, cfg aws.Config) (string, error) {
	if ep, ok := configuredEndpoint(ctx, cfg); ok {
		return ep, nil
	}
	var fips, dual bool
	for _, src := range cfg.ConfigSources {
		if p, ok := src.(interface {
			GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error)
		}); ok {
			if v, found, err := p.GetUseFIPSEndpoint(ctx); err == nil && found {
				fips = v == aws.FIPSEndpointStateEnabled
				break
			}
		}
	}
	for _, src := range cfg.ConfigSources {
		if p, ok := src.(interface {
			GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error)
		}); ok {
			if v, found, err := p.GetUseDualStackEndpoint(ctx); err == nil && found {
				dual = v == aws.DualStackEndpointStateEnabled
				break
			}
		}
	}
	return regionEndpoint(cfg.Region, fips, dual)
}

// configuredEndpoint is the client's resolveBaseEndpoint: the config's
// BaseEndpoint (AWS_ENDPOINT_URL), unless a source names one for the
// service, and none when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS says so.
func configuredEndpoint(ctx context.Context, cfg aws.Config) (string, bool) {
	base, found := "", false
	if cfg.BaseEndpoint != nil {
		base, found = *cfg.BaseEndpoint, true
	}
	_, global := os.LookupEnv("AWS_ENDPOINT_URL")
	_, service := os.LookupEnv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE")
	if global && !service {
		return base, found
	}
	for _, src := range cfg.ConfigSources {
		if p, ok := src.(interface {
			GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error)
		}); ok {
			if v, ok, _ := p.GetIgnoreConfiguredEndpoints(ctx); ok && v {
				return base, found
			}
		}
	}
	for _, src := range cfg.ConfigSources {
		if p, ok := src.(interface {
			GetServiceBaseEndpoint(context.Context, string) (string, bool, error)
		}); ok {
			v, ok, err := p.GetServiceBaseEndpoint(ctx, sdkID)
			if err != nil {
				break
			}
			if ok {
				return v, true
			}
		}
	}
	return base, found
}

// partition is what the endpoint rules read of an AWS partition. Every
// partition supports FIPS and dual-stack endpoints today.
type partition struct {
	id, regionRegex         string
	regions                 []string // named outright: those the pattern does not match
	dnsSuffix, dualStackDNS string
}

// partitions are the SDK's (internal/endpoints/awsrulesfn/partitions.json),
// in its order; the first is the default for a region none claims.
var partitions = []partition{
	{"aws", `^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$`, []string{"aws-global"}, "amazonaws.com", "api.aws"},
	{"aws-cn", `^cn\-\w+\-\d+$`, []string{"aws-cn-global"}, "amazonaws.com.cn", "api.amazonwebservices.com.cn"},
	{"aws-eusc", `^eusc\-(de)\-\w+\-\d+$`, nil, "amazonaws.eu", "api.amazonwebservices.eu"},
	{"aws-iso", `^us\-iso\-\w+\-\d+$`, []string{"aws-iso-global"}, "c2s.ic.gov", "api.aws.ic.gov"},
	{"aws-iso-b", `^us\-isob\-\w+\-\d+$`, []string{"aws-iso-b-global"}, "sc2s.sgov.gov", "api.aws.scloud"},
	{"aws-iso-e", `^eu\-isoe\-\w+\-\d+$`, []string{"aws-iso-e-global"}, "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"},
	{"aws-iso-f", `^us\-isof\-\w+\-\d+$`, []string{"aws-iso-f-global"}, "csp.hci.ic.gov", "api.aws.hci.ic.gov"},
	{"aws-us-gov", `^us\-gov\-\w+\-\d+$`, []string{"aws-us-gov-global"}, "amazonaws.com", "api.aws"},
}

var partitionPatterns = sync.OnceValue(func() []*regexp.Regexp {
	res := make([]*regexp.Regexp, len(partitions))
	for i, p := range partitions {
		res[i] = regexp.MustCompile(p.regionRegex)
	}
	return res
})

// partitionOf returns region's partition as the SDK finds it: by name,
// else by pattern, else the default.
func partitionOf(region string) partition {
	for _, p := range partitions {
		for _, r := range p.regions {
			if r == region {
				return p
			}
		}
	}
	for i, re := range partitionPatterns() {
		if re.MatchString(region) {
			return partitions[i]
		}
	}
	return partitions[0]
}

// regionEndpoint applies the service's endpoint rules to a region.
func regionEndpoint(region string, fips, dualStack bool) (string, error) {
	if region == "" {
		return "", errors.New("endpoint rule error, Invalid Configuration: Missing Region")
	}
	p := partitionOf(region)
	host := "https://bedrock-agentcore"
	if fips {
		host += "-fips"
	}
	suffix := p.dnsSuffix
	if dualStack {
		suffix = p.dualStackDNS
	}
	return host + "." + region + "." + suffix, nil
}
