#!/usr/bin/env bash
# `make demo`: the bundled knowledge base at work, as an analyst would see it.
set -euo pipefail
cd "$(dirname "$0")/.."
cacop=.venv/bin/cacop
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step cacop validate
$cacop validate

step cacop list --type strategy
$cacop list --type strategy

step cacop show milwaukee-2024-cgic-nibin-lead-follow-up-within-48-hours
$cacop show milwaukee-2024-cgic-nibin-lead-follow-up-within-48-hours

step cacop similar milwaukee-2024-cgic-nibin-lead-follow-up-within-48-hours --limit 3
$cacop similar milwaukee-2024-cgic-nibin-lead-follow-up-within-48-hours --limit 3

step cacop search "LPR carjacking" --limit 3
$cacop search "LPR carjacking" --limit 3

step cacop search "nibin leads"
$cacop search "nibin leads" --limit 5
