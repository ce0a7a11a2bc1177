package stack

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/gateway"
	"github.com/agentgate/agentgate/internal/limit"
	"github.com/agentgate/agentgate/internal/secrets"
)

// Live is the gateway of a running server or function: the one its
// configuration describes, with the secret settings Secrets Manager holds
// when secrets.arn names a secret. It reads the secret again every
// secrets.refresh (Run, or RefreshIfStale where nothing runs between
// requests) and, when a value changed, builds a new gateway and swaps it in
// at once: requests already running finish on the gateway that took them,
// new ones get the new one. The new gateway takes over every part of the
// old one whose settings did not change (build): the limits store above
// all, so that no swap forgets a counter or a stream's slot.
//
// A read or a build that fails leaves the running gateway as it is; the
// failure is logged without any value.
type Live struct {
	cfg    config.Config // the file and the environment: before the secret
	source *secrets.Source
	log    *slog.Logger
	tel    Telemetry
	now    func() time.Time

	// swap is held for writing only while the current gateway changes
	// hands, and for reading while a request picks it.
	swap    sync.RWMutex
	current *generation
	retired map[*generation]struct{} // replaced, with requests still running

	// mu serialises reads of the secret and the builds they cause.
	mu     sync.Mutex
	values config.SecretValues
	parts  *parts
	readAt time.Time // when the secret was last read, or failed to be
}

// generation is one built gateway and the requests it serves.
type generation struct {
	gw      *gateway.Server
	store   limit.Store
	running atomic.Int64
	retired atomic.Bool
	// closeStore says the store is this generation's alone: the next one
	// opened another (other Redis settings), so it closes with this one.
	closeStore bool
	release    sync.Once
}

// OpenGateway builds the gateway cfg describes. With secrets.arn it reads
// the secret first, and a secret it cannot read stops the start.
func OpenGateway(ctx context.Context, cfg config.Config, log *slog.Logger, tel Telemetry) (*Live, error) {
	l := &Live{cfg: cfg, log: log, tel: tel, now: time.Now, retired: map[*generation]struct{}{}}
	if cfg.Secrets.ARN != "" {
		src, err := secrets.NewSource(ctx, cfg.Secrets)
		if err != nil {
			return nil, err
		}
		l.readAt = l.now()
		if l.values, err = src.Read(ctx); err != nil {
			return nil, fmt.Errorf("the gateway cannot start without its secret: %w", err)
		}
		l.source = src
	}
	g, p, err := l.build(ctx, l.values, nil)
	if err != nil {
		return nil, err
	}
	l.current, l.parts = g, p
	return l, nil
}

// build builds a generation from the configuration with values over it.
func (l *Live) build(ctx context.Context, values config.SecretValues, prev *parts) (*generation, *parts, error) {
	cfg := l.cfg
	cfg.Agents = maps.Clone(l.cfg.Agents) // validation fills in defaults
	values.Apply(&cfg)
	gw, p, err := build(ctx, cfg, l.log, l.tel, prev)
	if err != nil {
		return nil, nil, err
	}
	return &generation{gw: gw, store: p.store}, p, nil
}

// ServeHTTP serves r on the current gateway, which stays r's until it
// ends, whatever swap comes meanwhile.
func (l *Live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.swap.RLock()
	g := l.current
	g.running.Add(1)
	l.swap.RUnlock()
	defer func() {
		if g.running.Add(-1) == 0 && g.retired.Load() {
			l.release(g)
		}
	}()
	g.gw.ServeHTTP(w, r)
}

// Abort ends the running streams of every gateway, the current one and
// those swapped out with streams still running, as gateway.Server.Abort
// does, and waits for them or ctx.
func (l *Live) Abort(ctx context.Context) {
	l.swap.RLock()
	gens := []*generation{l.current}
	for g := range l.retired {
		gens = append(gens, g)
	}
	l.swap.RUnlock()
	var wg sync.WaitGroup
	for _, g := range gens {
		wg.Go(func() { g.gw.Abort(ctx) })
	}
	wg.Wait()
}

// install makes next the current gateway. The one it replaces is
// released once its last request ends: at once, when none is running.
func (l *Live) install(next *generation) {
	l.swap.Lock()
	old := l.current
	l.current = next
	old.closeStore = old.store != next.store
	old.retired.Store(true)
	idle := old.running.Load() == 0
	if !idle {
		l.retired[old] = struct{}{}
	}
	l.swap.Unlock()
	if idle {
		l.release(old)
	}
}

// release forgets a retired generation whose last request ended, and
// closes the store it alone used.
func (l *Live) release(g *generation) {
	g.release.Do(func() {
		l.swap.Lock()
		delete(l.retired, g)
		l.swap.Unlock()
		if g.closeStore {
			closeStore(g.store)
		}
	})
}

// Refresh reads the secret and, when a value changed, swaps in a gateway
// built with the new values. On failure the running gateway stays, and the
// error, which holds no value, says why.
func (l *Live) Refresh(ctx context.Context) error {
	if l.source == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.readAt = l.now()
	values, err := l.source.Read(ctx)
	if err != nil {
		return err
	}
	changed := l.values.Changed(values)
	if len(changed) == 0 {
		return nil
	}
	g, p, err := l.build(ctx, values, l.parts)
	if err != nil {
		return fmt.Errorf("secrets.arn %s: the new values (%v) do not make a valid gateway: %w", l.source.ARN(), changed, err)
	}
	l.values, l.parts = values, p
	l.install(g)
	l.log.Info("secrets: new values in effect", "secret", l.source.ARN(), "changed", changed)
	return nil
}

// RefreshIfStale refreshes when the values were read longer than
// secrets.refresh ago, and logs a failure. The Lambda adapter calls it as
// each invocation starts, since a frozen function runs nothing between
// invocations.
func (l *Live) RefreshIfStale(ctx context.Context) {
	if l.source == nil {
		return
	}
	l.mu.Lock()
	stale := l.now().Sub(l.readAt) >= l.cfg.Secrets.Refresh
	l.mu.Unlock()
	if stale {
		l.refreshLogged(ctx)
	}
}

// Run refreshes every secrets.refresh until ctx ends; without a secret it
// returns at once.
func (l *Live) Run(ctx context.Context) {
	if l.source == nil {
		return
	}
	t := time.NewTicker(l.cfg.Secrets.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.refreshLogged(ctx)
		}
	}
}

func (l *Live) refreshLogged(ctx context.Context) {
	if err := l.Refresh(ctx); err != nil && ctx.Err() == nil {
		l.log.Warn("secrets: refresh failed; the last values stay in effect", "error", err.Error())
	}
}
