#!/usr/bin/env bash
# Build assets/vendor/plotly-cityops.min.js: plotly.js 4.1.1 (MIT) with only the trace types the
# pages draw (entry.js), bundled and minified by esbuild.
# Pinned in package-lock.json; needs Node 20+ (plotly.js asks for 22 to develop it; bundling works
# on 20) and the npm registry. The result is committed: neither is needed to run or test CityOps.
#
#   tools/plotly/build.sh          # then: git diff --stat assets/vendor
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../../assets/vendor/plotly-cityops.min.js"
cd "$here"
npm ci --no-audit --no-fund --ignore-scripts >/dev/null
# --loader:.css=text: the MapLibre stylesheet comes in as a string that entry.js puts in a <style>
# --legal-comments=eof: the licences of plotly.js and what it bundles stay in the file
npx esbuild entry.js --bundle --minify --format=iife --global-name=Plotly --define:global=window \
  --banner:js="/*! plotly.js v4.1.1 (partial: see tools/plotly) | Copyright 2012-2025, Plotly, Inc. | MIT License */" \
  --loader:.css=text --legal-comments=eof --target=es2018 --log-level=warning --outfile="$out"
echo "built $out ($(wc -c <"$out") bytes)"
