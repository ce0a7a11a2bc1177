package lambda

import (
	"slices"
	"testing"

	"github.com/agentgate/agentgate/internal/config"
)

func TestConfigureBelievesCloudFrontOnlyBehindTheOriginLock(t *testing.T) {
	locked := config.Default()
	locked.OriginLock = config.OriginLock{Header: "X-Origin-Verify", Secret: "0123456789abcdef"}
	Configure(&locked)
	if !slices.Equal(locked.Network.CloudFrontProxies, []string{"0.0.0.0/0", "::/0"}) {
		t.Fatalf("behind the origin lock: cloudFrontProxies %q, want every peer", locked.Network.CloudFrontProxies)
	}

	fromSecret := config.Default()
	fromSecret.OriginLock.Header = "X-Origin-Verify" // the secret comes from Secrets Manager later
	Configure(&fromSecret)
	if !slices.Equal(fromSecret.Network.CloudFrontProxies, []string{"0.0.0.0/0", "::/0"}) {
		t.Fatalf("a header with its secret in Secrets Manager: cloudFrontProxies %q, want every peer", fromSecret.Network.CloudFrontProxies)
	}

	open := config.Default()
	Configure(&open)
	if len(open.Network.CloudFrontProxies) != 0 {
		t.Fatalf("without the origin lock: cloudFrontProxies %q, want none", open.Network.CloudFrontProxies)
	}

	chosen := config.Default()
	chosen.OriginLock = locked.OriginLock
	chosen.Network.CloudFrontProxies = []string{"10.0.0.0/8"}
	Configure(&chosen)
	if !slices.Equal(chosen.Network.CloudFrontProxies, []string{"10.0.0.0/8"}) {
		t.Fatalf("a configured list was replaced: %q", chosen.Network.CloudFrontProxies)
	}
}

func TestConfigureKeepsTurnsDurableOnlyWithASharedStore(t *testing.T) {
	on, off := true, false
	for _, tt := range []struct {
		store   string
		durable *bool
		want    bool
	}{
		{"memory", nil, false},
		{"", nil, false},
		{"dynamodb", nil, true},
		{"redis", nil, true},
		{"memory", &on, true},
		{"dynamodb", &off, false},
	} {
		cfg := config.Default()
		cfg.Limits.Store, cfg.Stream.Durable = tt.store, tt.durable
		Configure(&cfg)
		if got := cfg.Stream.IsDurable(); got != tt.want {
			t.Errorf("store %q, stream.durable %v: durable %v, want %v", tt.store, tt.durable, got, tt.want)
		}
	}
}
