package format

import (
	"mime"
	"strconv"
	"strings"
)

// acceptTypes maps the media types a request's Accept header may name to
// the format that answers with them.
var acceptTypes = map[string]Name{
	"text/event-stream":    Original,
	"text/plain":           Transformed,
	"application/x-ndjson": NDJSON,
}

// FromAccept chooses a format from an Accept header: the media type with
// the highest q-value among text/event-stream (Original), text/plain
// (Transformed) and application/x-ndjson (NDJSON), the first listed on a
// tie. Wildcards (*/*, text/*) choose nothing, nor does a type with q=0 or
// a malformed range; ok is false when nothing was chosen, and the caller
// falls back to its default.
func FromAccept(accept string) (name Name, ok bool) {
	best := 0.0
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		n, known := acceptTypes[mt]
		if !known {
			continue
		}
		q := 1.0
		if s, has := params["q"]; has {
			q, err = strconv.ParseFloat(s, 64)
			if err != nil || !(q >= 0 && q <= 1) {
				continue
			}
		}
		if q > best {
			name, best = n, q
		}
	}
	return name, best > 0
}
