#!/usr/bin/env bash
# Regenerates openapi.json: the team's subset of Seam's OpenAPI document
# (CONTRACT.md's seam/openapi-subset.json) plus the entries named below, copied
# unchanged from the full document in npm @seamapi/types (MIT). Needs npm, node
# and python3. Usage: vendor.sh <openapi-subset.json> [version]
set -euo pipefail
subset=${1:?usage: vendor.sh <openapi-subset.json> [version]}
version=${2:-1.977.0}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "@seamapi/types@$version" >/dev/null && tar xzf "seamapi-types-$version.tgz")
node --input-type=module -e "
import openapi from '$work/package/lib/seam/connect/openapi.js';
import fs from 'fs';
fs.writeFileSync('$work/full.json', JSON.stringify(openapi));
"
python3 - "$subset" "$work/full.json" "$here/openapi.json" <<'PY'
import json, sys
subset, full, out = sys.argv[1:]
s = json.load(open(subset))
f = json.load(open(full))
# Paths the product needs beyond the subset (they reference only schemas the
# subset already has).
for p in ["/acs/users/list"]:
    s["paths"][p] = f["paths"][p]
# The security schemes the operations name, so that a validator can resolve
# their security requirements.
names = {n for item in s["paths"].values() for op in item.values()
         for req in op.get("security", []) for n in req}
s["components"]["securitySchemes"] = {n: f["components"]["securitySchemes"][n] for n in sorted(names)}
json.dump(s, open(out, "w"), indent=1, sort_keys=True)
open(out, "a").write("\n")
PY
echo "wrote $here/openapi.json"
