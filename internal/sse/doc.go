// Package sse owns the Server-Sent Events wire format for the gateway: it
// splits an upstream text/event-stream into blocks as the WHATWG HTML
// specification ("Server-sent events", parsing an event stream) defines
// them, and it writes well-formed events and comments for clients.
//
// The Reader is built for relaying. Every block it returns carries the exact
// bytes it was read from, so a pass-through that forwards Event.Raw
// reproduces the upstream stream byte for byte, comments and line endings
// included. Next returns a block as soon as its terminating blank line has
// been read and never waits for more input than that, so each event can be
// flushed to the client the moment it arrives. Memory is bounded per stream
// by Options, and buffers are reused from one event to the next.
//
// The package does not decode UTF-8: data, event types and ids are passed on
// as the bytes the upstream sent, where a browser would replace invalid
// sequences with U+FFFD.
package sse
