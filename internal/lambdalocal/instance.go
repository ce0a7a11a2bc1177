package lambdalocal

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// instance is one execution environment: the bootstrap's process and the
// Runtime API it alone talks to.
type instance struct {
	f      *Function
	cmd    *exec.Cmd
	ln     net.Listener
	srv    *http.Server
	next   chan *invocation // the invocation its next call takes; one at most
	exited chan struct{}    // closed when the process has ended
	once   sync.Once
}

// connKey holds, in a Runtime API request's context, the connection it came
// on: hanging up on a response stream closes it.
type connKey struct{}

// startInstance starts a process of the bootstrap with a Runtime API of its
// own. Called with f.mu held.
func (f *Function) startInstance() (*instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdalocal: %w", err)
	}
	in := &instance{f: f, ln: ln, next: make(chan *invocation, 1), exited: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", in.serveNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", in.serveResponse)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", in.serveError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(f.cfg.Output, io.LimitReader(r.Body, 64<<10))
		w.WriteHeader(http.StatusAccepted)
	})
	in.srv = &http.Server{Handler: mux, ConnContext: func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}}
	go in.srv.Serve(ln)

	cmd := exec.Command(f.cfg.Bootstrap)
	cmd.Dir = filepath.Dir(f.cfg.Bootstrap)
	cmd.Env = append(append([]string{}, f.cfg.Env...),
		"AWS_LAMBDA_RUNTIME_API="+ln.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME="+f.cfg.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+f.cfg.Name,
		"AWS_REGION="+f.cfg.Region,
		"AWS_DEFAULT_REGION="+f.cfg.Region,
		"AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
		"LAMBDA_TASK_ROOT="+cmd.Dir,
		"_HANDLER=bootstrap",
		"TZ=:UTC",
	)
	cmd.Stdout, cmd.Stderr = f.cfg.Output, f.cfg.Output
	if err := cmd.Start(); err != nil {
		in.srv.Close()
		return nil, fmt.Errorf("lambdalocal: starting %s: %w", f.cfg.Bootstrap, err)
	}
	in.cmd = cmd
	go func() {
		cmd.Wait()
		close(in.exited)
		f.unready(in)
	}()
	f.all = append(f.all, in)
	return in, nil
}

func (in *instance) hasExited() bool {
	select {
	case <-in.exited:
		return true
	default:
		return false
	}
}

// stop ends the process and its Runtime API.
func (in *instance) stop() {
	in.once.Do(func() {
		if in.cmd.Process != nil {
			in.cmd.Process.Kill()
		}
		<-in.exited
		in.srv.Close()
	})
}

// serveNext hands the function its next event: the one dispatched to this
// instance already, else the next one that comes, while it waits idle.
func (in *instance) serveNext(w http.ResponseWriter, r *http.Request) {
	var inv *invocation
	select {
	case inv = <-in.next:
	default:
		in.f.ready(in)
		select {
		case inv = <-in.next:
		case <-r.Context().Done():
			in.f.unready(in)
			return
		}
	}
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", in.f.arn)
	h.Set("Lambda-Runtime-Trace-Id", "Root=1-"+strconv.FormatInt(time.Now().Unix(), 16)+"-"+inv.id[:8]+";Sampled=0")
	h.Set("Content-Type", "application/json")
	w.Write(inv.event)
}

// serveResponse hands the function's response to the caller's request,
// which relays it, and hangs up on the function when the caller has gone.
func (in *instance) serveResponse(w http.ResponseWriter, r *http.Request) {
	inv := in.f.lookup(r.PathValue("id"))
	if inv == nil {
		http.Error(w, `{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}`, http.StatusBadRequest)
		return
	}
	d := delivery{req: r, done: make(chan bool, 1)}
	select {
	case inv.response <- d:
	case <-inv.viewer.Done():
		hangUp(r)
		return
	}
	select {
	case hungUp := <-d.done:
		if hungUp {
			hangUp(r)
			return
		}
	case <-inv.viewer.Done():
		// The caller left while the function was silent: the relay is
		// blocked reading, and the hang-up ends its read.
		hangUp(r)
		<-d.done
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// serveError takes the function's report of a failed invocation.
func (in *instance) serveError(w http.ResponseWriter, r *http.Request) {
	inv := in.f.lookup(r.PathValue("id"))
	if inv == nil {
		http.Error(w, `{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}`, http.StatusBadRequest)
		return
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	select {
	case inv.failed <- b:
	default:
	}
	w.WriteHeader(http.StatusAccepted)
}

// hangUp closes the connection r came on, as the Runtime API does to a
// response whose caller has gone.
func hangUp(r *http.Request) {
	if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
		c.Close()
	}
}
