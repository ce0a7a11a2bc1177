#!/usr/bin/env bash
# Builds the gateway for AWS Lambda: the `bootstrap` binary that the
# provided.al2023 runtime starts (arm64, static, without the RPC mode of
# aws-lambda-go), in dist/lambda/ for the CDK app (deploy/cdk, settings
# lambda.code) and zipped as dist/agentgate-lambda.zip for anything else.
#
#   scripts/build-lambda.sh          # from anywhere in the repository
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist/lambda
zip=dist/agentgate-lambda.zip
rm -rf "$out" "$zip"
mkdir -p "$out"

GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags='-s -w' \
  -o "$out/bootstrap" ./cmd/agentgate

# Lambda runs bootstrap only if the zip keeps its executable bit.
if command -v zip >/dev/null; then
  (cd "$out" && zip -q -X ../agentgate-lambda.zip bootstrap)
else
  python3 - "$out/bootstrap" "$zip" <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
info.external_attr = 0o100755 << 16
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
    z.writestr(info, f.read())
PY
fi

echo "built $out/bootstrap ($(du -h "$out/bootstrap" | cut -f1)) and $zip ($(du -h "$zip" | cut -f1))"
