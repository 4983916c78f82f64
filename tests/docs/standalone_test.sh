#!/usr/bin/env bash
# The docs stand on their own: README.md, docs/, deploy/*.md and .env.example name nothing a
# reader of this repository does not have (files outside it, issue or session numbers of the
# team that wrote it) and no "this build" hedges. Prints file:line of every offence.
set -euo pipefail
cd "$(dirname "$0")/../.."
PATTERN='\.\./shared|CONTRACT\.md|[Cc]ontract section|[Ii]ssues? #?[0-9]|[Ss]ession [0-9]|this build'
FILES=(README.md .env.example)
while IFS= read -r f; do FILES+=("$f"); done < <(find docs deploy -type f \( -name '*.md' -o -name '*.yaml' \) | sort)
if grep -nE "$PATTERN" "${FILES[@]}"; then
  echo "the lines above refer to things outside this repository (or hedge with 'this build')" >&2
  exit 1
fi
echo "checked ${#FILES[@]} files: they stand on their own"
