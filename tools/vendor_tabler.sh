#!/bin/sh
# Re-vendors Tabler (https://tabler.io, MIT) into static/vendor/tabler/: the CSS of the modules
# listed in tools/tabler/portal.scss, compiled from the npm package's Sass sources. Run it only
# to change the version or the module list; the portal itself needs neither Node nor Sass.
#   sh tools/vendor_tabler.sh [version]
set -eu
VERSION="${1:-1.6.1}"
SASS_VERSION="1.108.2"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/static/vendor/tabler"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm pack --silent "@tabler/core@$VERSION" >/dev/null
tar xzf "tabler-core-$VERSION.tgz"
npm install --silent --no-save --no-package-lock "sass@$SASS_VERSION" >/dev/null
./node_modules/.bin/sass --no-source-map --style=compressed --quiet --load-path=package/scss \
  "$ROOT/tools/tabler/portal.scss" portal.css
# Tabler's own build prefixes every custom property with `tblr-` (Bootstrap's popper hook
# `--bs-position` excepted); do the same so its documentation's variable names apply.
python3 - portal.css "$OUT/tabler.min.css" "$VERSION" <<'PY'
import re, sys
source, target, version = sys.argv[1:]
css = open(source, encoding="utf-8").read().lstrip("\ufeff")
css = re.sub(r"(?<![\w-])--(?!bs-position)(?=[a-zA-Z])", "--tblr-", css)
header = (f"/*! Tabler v{version} (https://tabler.io), MIT licence, see LICENSE. A subset: "
          "the modules listed in tools/tabler/portal.scss. */\n")
charset = '@charset "UTF-8";'
body = css.removeprefix(charset)
open(target, "w", encoding="utf-8").write((charset if body != css else "") + header + body)
PY
echo "Tabler $VERSION: $(wc -c < "$OUT/tabler.min.css") bytes, $(gzip -9c "$OUT/tabler.min.css" | wc -c) gzipped"
