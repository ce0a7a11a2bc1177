// Package lambda serves an http.Handler (the gateway) to a Lambda function
// URL in RESPONSE_STREAM mode: it takes invocations from the Lambda Runtime
// API, turns each function URL event (payload format 2.0) into an
// http.Request, and streams the handler's response back as an
// application/vnd.awslambda.http-integration-response: a JSON prelude with
// the status, headers and cookies, 8 NUL bytes, then the body.
//
// It is the project's own Runtime API client, not aws-lambda-go's lambdaurl,
// because lambdaurl (v1.55.1) cannot do two of the three things a streaming
// gateway needs:
//
//   - Report a failure after the status went out. lambdaurl closes its body
//     pipe with Close, never CloseWithError (a TODO in its source says so),
//     so a handler has no way to make the runtime send the error trailers
//     Lambda-Runtime-Function-Error-Type and -Error-Body. Here the gateway
//     calls ReportFailure (gateway.FailureReporter) and the trailers follow
//     the last chunk.
//   - Notice that the Runtime API connection broke (the viewer went away)
//     and cancel the upstream call. lambdaurl's loop log.Fatalf's the process
//     when posting the response fails, and only at the next write: an agent
//     that is thinking keeps the function billed until then, the access log
//     line and the token charge of that request are lost, and the next
//     request pays a cold start. Even a client on net/http would notice only
//     at the next write (its transport waits for the body writer before it
//     reports a read error). So the response is written by hand as HTTP/1.1
//     on its own connection, and a reader blocked on that connection sees a
//     close at once and cancels the request's context.
//
// lambdaurl does deliver each Write as one chunk promptly; this package does
// too (see stream), and also sends the prelude when the handler flushes its
// headers, before the first event. It never compresses, and drops
// Accept-Encoding from requests so nothing behind it does. Every response
// carries at least one body byte where its status allows a body, and always
// ends with the last chunk, so CloudFront never waits out its timeout on an
// empty stream.
package lambda
