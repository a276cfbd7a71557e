#!/usr/bin/env bash
# dr_study's one entry point for a fresh machine. Everything runs in the virtual environment ./.venv,
# created and kept in step with setup.py, settings.ini and constraints.txt on every call.
#
#   bash scripts/dev.sh reproduce [ARGS]  set up, then `dr-study reproduce ARGS` (default profile: smoke)
#   bash scripts/dev.sh test [ARGS]       set up, then the whole test suite: notebook tests, then pytest ARGS
#   bash scripts/dev.sh check             notebooks clean, library and README in sync with the notebooks (CI)
#   bash scripts/dev.sh readme            regenerate README.md from nbs/index.ipynb
#   bash scripts/dev.sh docs              the method and API pages with nbdev_docs (needs Quarto), from ./_quarto.yml
#   bash scripts/dev.sh setup             set up only
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${DR_STUDY_VENV:-.venv}"

setup() {
  [ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
  local want; want=$(cat setup.py settings.ini constraints.txt | sha256sum | cut -c1-16)
  if [ "$(cat "$VENV/.dr_study_setup" 2>/dev/null)" != "$want" ]; then
    echo "[dev] installing dr_study and its development tools into $VENV (first time: a few minutes)" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[dev]"
    echo "$want" > "$VENV/.dr_study_setup"
  fi
}

system_packages() {  # Debian's chromium (the site test) and slurm-wlm + munge (the SLURM test): root only, as on CI
  local want=()
  command -v chromium >/dev/null || want+=(chromium)
  command -v slurmctld >/dev/null || want+=(slurm-wlm munge)
  [ ${#want[@]} = 0 ] && return
  if [ "$(id -u)" = 0 ]; then
    echo "[dev] installing Debian's ${want[*]} for the browser and SLURM tests" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}"; } >/dev/null || echo "[dev] could not install ${want[*]}" >&2
  else echo "[dev] ${want[*]} not found and not root: the browser test is skipped, the SLURM test uses submitit's LocalExecutor" >&2; fi
}

readme() { "$VENV/bin/jupyter" nbconvert --log-level=ERROR --to markdown --stdout nbs/index.ipynb > README.md; }

check() {
  local bad=0
  "$VENV/bin/nbdev_clean"; "$VENV/bin/nbdev_clean" --fname dr_study/study
  git diff --quiet -- nbs dr_study/study || { echo "notebooks are not clean: run nbdev_clean and commit" >&2; git diff --stat -- nbs dr_study/study >&2; bad=1; }
  "$VENV/bin/nbdev_export"
  { git diff --quiet -- dr_study && [ -z "$(git status --porcelain -- dr_study)" ]; } || {
    echo "dr_study/ is out of sync with the notebooks: run nbdev_export and commit" >&2; git status --short -- dr_study >&2; bad=1; }
  readme
  git diff --quiet -- README.md || { echo "README.md is out of sync with nbs/index.ipynb: run 'bash scripts/dev.sh readme'" >&2; bad=1; }
  return $bad
}

cmd="${1:-}"; shift || true
case "$cmd" in
  setup) setup ;;
  reproduce) setup; exec "$VENV/bin/dr-study" reproduce "$@" ;;
  test) setup; system_packages
        "$VENV/bin/nbdev_test" --flags slow
        exec "$VENV/bin/python" -m pytest tests "$@" ;;
  check) setup; check ;;
  readme) setup; readme ;;
  docs) setup; "$VENV/bin/python" -c 'from dr_study.site import nbdev_quarto_yml; nbdev_quarto_yml()'; exec "$VENV/bin/nbdev_docs" ;;
  *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
