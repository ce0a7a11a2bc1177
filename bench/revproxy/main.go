// Command revproxy is a peer of the gateway in bench's peer phase: Go's
// own streaming reverse proxy, net/http/httputil.ReverseProxy with
// FlushInterval -1 (a flush after every write), and nothing else. It is a
// program of its own, with the standard library only, so that its CPU time
// and resident memory are the proxy's alone.
//
//	revproxy -listen 127.0.0.1:8081 -target http://127.0.0.1:8080
//
// It writes "listening ADDR" on standard output once it listens.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "`address` to listen on")
	target := flag.String("target", "", "base `URL` to relay every request to")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		log.Fatalf("revproxy: -target %q: want a base URL", *target)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(u) },
		FlushInterval: -1,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: 1024,
			DisableCompression:  true,
		},
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("revproxy: %v", err)
	}
	fmt.Fprintln(os.Stdout, "listening", ln.Addr())
	log.Fatal(http.Serve(ln, proxy))
}
