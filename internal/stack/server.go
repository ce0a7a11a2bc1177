package stack

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/connlimit"
	"github.com/agentgate/agentgate/internal/telemetry"
)

// NewGatewayServer returns the gateway's HTTP server, bounded as sc says.
// net/http's own header limit is twice sc.MaxHeaderBytes: the gateway
// answers requests between the two with its JSON 431, and only those far
// past the bound meet net/http's plain-text one.
func NewGatewayServer(h http.Handler, log *slog.Logger, sc config.Server) *http.Server {
	srv := NewHTTPServer(h, log)
	srv.ReadHeaderTimeout = sc.ReadHeaderTimeout
	srv.ReadTimeout = sc.ReadTimeout
	srv.IdleTimeout = sc.IdleTimeout
	srv.MaxHeaderBytes = 2 * sc.MaxHeaderBytes
	return srv
}

// fdReserve is the file descriptors kept back from connections for
// everything else the process opens: upstream connections, the limit
// store, logs.
const fdReserve = 256

// LimitConnections caps ln's connections as cfg.Server says, exempting
// network.trustedProxies from the per-address cap. The total cap is lowered
// to what the process's open-file limit leaves after fdReserve, so that the
// gateway refuses connections with a 503 before accept fails for want of
// descriptors.
func LimitConnections(ln net.Listener, cfg config.Config, log *slog.Logger, metrics telemetry.Recorder) net.Listener {
	total := cfg.Server.MaxConnections
	if limit, ok := openFileLimit(); ok && limit < uint64(total)+fdReserve {
		lowered := max(int(limit)-fdReserve, 1)
		log.Warn("server.maxConnections is lowered to fit the open-file limit", "configured", total, "lowered", lowered, "openFileLimit", limit)
		total = lowered
	}
	var exempt []netip.Prefix
	for _, c := range cfg.Network.TrustedProxies {
		if p, err := config.ParsePrefix(c); err == nil {
			exempt = append(exempt, p)
		}
	}
	if metrics == nil {
		metrics = telemetry.Discard{}
	}
	return connlimit.New(ln, connlimit.Options{
		Max:    total,
		PerIP:  cfg.Server.MaxConnectionsPerIP,
		Exempt: exempt,
		OnRefuse: func(_ netip.Addr, cap string) {
			metrics.LimitRefused("connections_" + cap)
		},
	})
}

// ServeGateway serves gw on ln until ctx ends, with the connection caps
// and request bounds of cfg, and drains it as cfg.Timeouts.ShutdownGrace
// says. Meanwhile gw keeps its secret fresh (Live.Run).
func ServeGateway(ctx context.Context, ln net.Listener, gw *Live, cfg config.Config, log *slog.Logger, metrics telemetry.Recorder) error {
	refresh, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { gw.Run(refresh) })
	defer func() {
		stop()
		wg.Wait()
	}()
	srv := NewGatewayServer(gw, log, cfg.Server)
	return Serve(ctx, srv, LimitConnections(ln, cfg, log, metrics), Drain{Grace: cfg.Timeouts.ShutdownGrace, Abort: gw.Abort})
}
