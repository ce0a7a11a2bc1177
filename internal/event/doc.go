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
// JSON string is text, unless it is such a repr(); an object that is an
// agent error (below) is one; an object whose "type" names an AG-UI event
// is AG-UI; any other object is read as a Converse event. The decision
// reads the object's top-level keys with a byte scanner, without
// unmarshalling.
//
// # Agent errors
//
// An agent's error can name what it ran on (model ARNs, account ids,
// regions), and comes in as many shapes as there are agents, SDKs and
// services. So every dialect applies one rule to every JSON object, before
// anything else: an event is the agent's error, KindError, when its kind
// says so. Its kind is in its members' keys, and in those of the object
// under its top-level "event" member, if any (Strands' wrapper, AG-UI's
// RAW). Keys are compared as JSON text, after unescaping ({"\u0065rror":
// ...} is an "error" key), and in any ASCII case. In either object:
//
//   - a key that contains "error" or "exception" makes an error: the
//     AgentCore Python SDK's {"error": "...", "error_type": ...}, Bedrock
//     ConverseStream's exception events (modelStreamErrorException,
//     internalServerException, throttlingException, validationException,
//     serviceUnavailableException), AWS's query protocol {"Error": {"Code",
//     "Message"}}, Lambda's {"errorMessage", "errorType"};
//   - so does a "type", "__type" or "code" member whose value is a string
//     that, up to its first colon, ends in "error" or "exception": AG-UI's
//     RUN_ERROR, {"type": "error", ...}, AWS's JSON protocol {"__type":
//     "com.amazonaws.bedrock#ValidationException", "message": ...},
//     {"code": "ThrottlingException", "message": ...}.
//
// A member whose value is null says nothing: {"error": null} is no error.
// Case does not count, and a kind need only contain the word, because
// reading an error as anything else would pass it to the client, while
// reading some odd kind as an error only ends an answer early. Only kinds
// are read: text, tool input and reasoning are the agent's answer, never
// searched, even when they quote an ARN or an AWS error.
//
// The error's Text is for the log, never for a client: the SDK's "error"
// and RUN_ERROR's message as the agent wrote them, any other error whole.
// IsErrorEventName applies the same rule to an SSE event field, and
// MayMatter tells a pass-through which data it must decode to find errors
// and usage.
//
// Decoding never fails. Data a decoder does not understand, and events it
// understands but that carry nothing for the model (AG-UI RUN_STARTED,
// Converse contentBlockStop), yield no events and ok false, so the caller can
// count them as skipped. Strings are decoded as encoding/json does: invalid
// UTF-8 and lone surrogates become U+FFFD.
package event
