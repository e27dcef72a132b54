#!/usr/bin/env bash
# The repository's style, checked: ruff (lint and format) for Python, clang-format for C++, at
# the versions pinned by pyproject.toml's `lint` extra (installed here if missing or different).
# `bash tests/lint.sh` checks; `bash tests/lint.sh --fix` rewrites the files instead. .ci/run
# runs the check and fails on a violation; .pre-commit-config.yaml runs the same tools on commit.
set -euo pipefail
cd "$(dirname "$0")/.."

pins=$(python -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["lint"]))')
# shellcheck disable=SC2086
python -m pip install --quiet $pins

cpp_files=$(git ls-files '*.cpp' '*.hpp')
if [ "${1:-}" = "--fix" ]; then
  python -m ruff check --fix .
  python -m ruff format .
  # shellcheck disable=SC2086
  clang-format -i $cpp_files
  exit 0
fi
status=0
python -m ruff check . || status=1
python -m ruff format --check . || status=1
# shellcheck disable=SC2086
clang-format --dry-run -Werror $cpp_files || status=1
[ "$status" -eq 0 ] && echo "lint: ruff and clang-format report nothing"
exit "$status"
