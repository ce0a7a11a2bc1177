# syntax=docker/dockerfile:1
# check=skip=FromPlatformFlagConstDisallowed
#
# `agentgate agent` for Amazon Bedrock AgentCore Runtime: linux/arm64, the
# HTTP contract on 0.0.0.0:8080 (POST /invocations, GET /ping), non-root.
# Build from the repository root; no emulation is needed on an x86 machine,
# as Go cross-compiles and the final stage runs nothing:
#
#   docker build -f deploy/docker/agent.Dockerfile -t agentgate-agent .
#
# The agent's settings come from AGENTGATE_* variables (README,
# Configuration: agent.*), which the CDK app passes to the runtime from
# agentRuntime.environment.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd ./cmd
COPY internal ./internal
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=linux GOARCH=arm64 CGO_ENABLED=0 \
    go build -trimpath -ldflags='-s -w' -o /out/agentgate ./cmd/agentgate

# AgentCore Runtime runs arm64 images only: the platform is fixed on purpose
# (hence the skipped check above), whatever the builder's.
FROM --platform=linux/arm64 gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/agentgate /agentgate
ENV AGENTGATE_AGENT_LISTEN=0.0.0.0:8080
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/agentgate", "agent"]
