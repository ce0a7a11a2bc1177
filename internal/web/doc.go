// Package web owns the chat page the gateway serves at GET /chat: plain
// HTML, CSS and JavaScript embedded in the binary, so nothing is fetched
// at run time and there is no front-end toolchain to build; and the icon
// browsers ask the site for, at /favicon.ico.
//
// The page calls the gateway's own API from the same origin: GET /agents
// for the agents the caller may use, POST /agents/{name}/invocations with
// the ndjson format for the streamed answer, POST /auth/login when
// ID/password sign-in is on. It renders the model's Markdown by building
// DOM nodes (never innerHTML), and a strict Content-Security-Policy
// forbids inline script, so model output cannot run code in the page.
package web
