package agentcorelocal

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FaultHeader injects a fault into one InvokeAgentRuntime call, so that a
// caller can rehearse an outage without Go code: its value is the fields of
// a Fault as a config file spells them, "name=value" separated by
// semicolons, e.g.
//
//	X-Agentcore-Local-Fault: error=ThrottlingException; retryAfter=2s
//	X-Agentcore-Local-Fault: dropAfter=3
//
// (times is not among them: the header's fault acts on its own call.) It
// takes the place of the runtime's fault for that call, which neither
// suffers the runtime's fault nor counts toward its Times. Only the
// emulator knows it, and it honours it only from loopback; from elsewhere
// it is ignored and logged. It never reaches the agent.
const FaultHeader = "X-Agentcore-Local-Fault"

// faultFor returns the fault an invocation suffers: its FaultHeader's when
// it carries one from loopback, the runtime's otherwise.
func (s *Server) faultFor(r *http.Request, rt *runtime) (Fault, *apiError) {
	value := r.Header.Get(FaultHeader)
	if value == "" {
		return rt.takeFault(), nil
	}
	if !fromLoopback(r) {
		s.log.Warn("agentcore-local ignored "+FaultHeader+" from a remote address", "remote", r.RemoteAddr)
		return rt.takeFault(), nil
	}
	f, err := parseFault(value)
	if err != nil {
		return Fault{}, validationError("%s: %v", FaultHeader, err)
	}
	return f, nil
}

// parseFault reads FaultHeader's value.
func parseFault(value string) (Fault, error) {
	var f Fault
	for field := range strings.SplitSeq(value, ";") {
		name, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		name, v = strings.TrimSpace(name), strings.TrimSpace(v)
		if !ok || name == "" {
			return Fault{}, fmt.Errorf("%q is not name=value", field)
		}
		var err error
		switch name {
		case "error":
			f.Error = v
		case "midStreamError":
			f.MidStreamError = v
		case "retryAfter":
			f.RetryAfter, err = time.ParseDuration(v)
		case "delayFirst":
			f.DelayFirst, err = time.ParseDuration(v)
		case "delayEach":
			f.DelayEach, err = time.ParseDuration(v)
		case "dropAfter":
			f.DropAfter, err = strconv.Atoi(v)
		case "malformedAfter":
			f.MalformedAfter, err = strconv.Atoi(v)
		case "oversizedAfter":
			f.OversizedAfter, err = strconv.Atoi(v)
		default:
			return Fault{}, fmt.Errorf("%q is not a fault field (error, retryAfter, delayFirst, delayEach, dropAfter, malformedAfter, oversizedAfter, midStreamError)", name)
		}
		if err != nil {
			return Fault{}, fmt.Errorf("%s: %q is not a value for it", name, v)
		}
	}
	if problems := f.problems(); len(problems) > 0 {
		return Fault{}, problems[0]
	}
	return f, nil
}

// fromLoopback reports whether r came from this machine's loopback.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
