// Package event owns the gateway's model of an agent's stream (Event) and
// the decoders that read agent dialects into it. Derived output formats read
// only this model, never the upstream bytes, so every dialect gives the same
// answer in every format.
//
// A Decoder reads the data of one SSE event at a time. Each Dialect has one:
//
//   - Strands: Bedrock ConverseStream events as a Strands agent yields them,
//     with or without the {"event": ...} wrapper. JSON strings are not read:
//     the only ones a Strands agent sends are the SDK's repr() of events it
//     could not serialise, which repeat what the Converse events say.
//   - Text: JSON strings, each a delta of the answer, as the AgentCore
//     Python SDK streams a handler that yields strings.
//   - AGUI: AG-UI protocol events ({"type": "TEXT_MESSAGE_CONTENT", ...}).
//   - Auto, the default: recognises the dialect of each event by itself, so
//     a stream may mix them.
//
// Auto decides from each event alone, with no memory of earlier ones: a
// JSON string is text, unless it is such a repr(); an object whose "type"
// names an AG-UI event is AG-UI; an object with a non-null "error" is the
// SDK's error object; any other object is read as a Converse event. The
// decision reads the object's top-level keys with a byte scanner, without
// unmarshalling.
//
// Every dialect also understands the error object the AgentCore Python SDK
// writes when a handler raises ({"error": "...", "error_type": ...}): it
// does not depend on what the handler yields.
//
// Decoding never fails. Data a decoder does not understand, and events it
// understands but that carry nothing for the model (AG-UI RUN_STARTED,
// Converse contentBlockStop), yield no events and ok false, so the caller can
// count them as skipped. Strings are decoded as encoding/json does: invalid
// UTF-8 and lone surrogates become U+FFFD.
package event
