#!/bin/sh
# Rebuild the web console assets from web/src into generator/service/console/ (commit the result).
set -eu
cd "$(dirname "$0")"
npm ci --no-fund --no-audit
npm run build
