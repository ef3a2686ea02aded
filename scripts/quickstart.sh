#!/usr/bin/env bash
# posefactory quick start: the whole pipeline on this machine (the local target), on a
# generated sample character, ending with the path of report.html. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
demo=${POSEFACTORY_DEMO_DIR:-$root/demo}

say() { printf 'quickstart: %s\n' "$*" >&2; }

find_browser() {
  for b in chromium chromium-browser google-chrome google-chrome-stable \
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" \
    "/Applications/Chromium.app/Contents/MacOS/Chromium"; do
    if command -v "$b" >/dev/null 2>&1 || [ -x "$b" ]; then return 0; fi
  done
  return 1
}

# 1. Blender and a Chromium-based browser (MediaPipe runs in it).
missing=()
command -v blender >/dev/null 2>&1 || [ -x /Applications/Blender.app/Contents/MacOS/Blender ] || missing+=(blender)
find_browser || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(uname -s)" = Darwin ]; then
    say "missing: ${missing[*]}. Install them, then run this again:"
    say "  brew install --cask ${missing[*]/chromium/google-chrome}"
    exit 1
  elif command -v apt-get >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing ${missing[*]} with apt-get (about 1 GB, a few minutes)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" python3-numpy >/dev/null
  else
    say "missing: ${missing[*]}: install them with your package manager, then run this again"
    exit 1
  fi
fi

# 2. posefactory itself.
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run --silent build

# 3. A demo project: the sample character and small, quick render settings.
mkdir -p "$demo"
cd "$demo"
if [ ! -f posefactory.yaml ]; then
  cat > posefactory.yaml <<'YAML'
# The quick start's project: see config.example.yaml for every key.
target: local
characters: characters
data: data
frames:
  step: 40
render:
  samples: 16
  resolution: [384, 384]
YAML
  mac_blender=/Applications/Blender.app/Contents/MacOS/Blender
  if ! command -v blender >/dev/null 2>&1 && [ -x "$mac_blender" ]; then
    printf 'targets:\n  local:\n    executor: local\n    blender: %s\n' "$mac_blender" >> posefactory.yaml
  fi
fi
pf() { node "$root/dist/cli.cjs" "$@"; }
pf sample
pf pipeline
