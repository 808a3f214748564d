#!/usr/bin/env bash
# Known vulnerabilities of the installed dependencies (pip-audit against PyPI's advisory data).
# A vulnerability found fails (exit 1). When PyPI cannot be reached, or pip-audit cannot query it,
# the audit is not run and a note says so: a network failure must not fail the build.
set -u
PY=${1:-.venv/bin/python}
OUT=$(dirname "$PY")/../audit.json
rm -f "$OUT"
if ! "$PY" -c "import urllib.request as u; u.urlopen('https://pypi.org/pypi/pip/json', timeout=10)" 2>/dev/null; then
    echo "NOTE: pypi.org is not reachable from here: dependency audit (pip-audit) NOT run"
    exit 0
fi
"$PY" -m pip_audit --skip-editable --progress-spinner off --format json --output "$OUT" 2>/dev/null
rc=$?
if [ ! -s "$OUT" ]; then
    echo "NOTE: pip-audit could not query its vulnerability service (exit $rc): dependency audit NOT run"
    exit 0
fi
"$PY" - "$OUT" <<'PY'
import json, sys
deps = json.load(open(sys.argv[1]))["dependencies"]
vulnerable = [d for d in deps if d.get("vulns")]
skipped = [d for d in deps if "skip_reason" in d]
for d in vulnerable:
    for v in d["vulns"]:
        print(f"VULNERABLE {d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v['fix_versions']) or 'no release yet'})")
print(f"pip-audit: {len(deps) - len(skipped)} dependencies audited, {len(vulnerable)} vulnerable, "
      f"{len(skipped)} not audited (not on PyPI at that version, e.g. a local index: {', '.join(d['name'] for d in skipped[:5])}{'…' if len(skipped) > 5 else ''})")
PY
exit $rc
