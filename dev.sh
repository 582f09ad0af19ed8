#!/usr/bin/env bash
# The project's one entry point for developers and CI.
#   ./dev.sh demo    set up, then render the built-in example fleet into dist/runbooks
#   ./dev.sh test    set up (Python, and as root the Debian packages the real-part tests use),
#                    then lint, type-check and run every test
#   ./dev.sh lint    ruff, mypy, shellcheck
#   ./dev.sh bench   the benchmarks under bench/ (./dev.sh bench check pdf: those two)
#   ./dev.sh binary  the single-file executable dist/umrunbook (PyInstaller, for this OS)
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

readonly VENV=.venv
# What the tests drive for real (a browser, an SSH server, PDF and shell checkers), as
# command:Debian-package pairs: a command found on the PATH, from wherever, is not installed.
readonly SYSTEM_COMMANDS=(
  chromium:chromium /usr/sbin/sshd:openssh-server sftp:openssh-client shellcheck:shellcheck
  qpdf:qpdf pdftotext:poppler-utils cmark-gfm:cmark-gfm java:default-jre-headless
  node:nodejs npm:npm unshare:util-linux setpriv:util-linux script:bsdutils dash:dash
  openssl:openssl
)

say() { printf 'dev.sh: %s\n' "$*" >&2; }

setup_python() {
  if [[ ! -x $VENV/bin/python ]]; then
    say "creating the virtualenv in $VENV"
    if ! python3 -m venv "$VENV"; then
      rm -rf "$VENV"
      # Debian's own Python keeps venv in a package of its own.
      if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        say "installing Debian's python3-venv"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$VENV"
      else
        say "python3 cannot create a virtualenv: install python3-venv (Debian, Ubuntu), then run this again"
        exit 1
      fi
    fi
  fi
  # Reinstall only when the project's metadata changed since the last install.
  if [[ ! -f $VENV/.installed || pyproject.toml -nt $VENV/.installed ]]; then
    say "installing umrunbook and its development tools"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet -e '.[dev]'
    touch "$VENV/.installed"
  fi
}

setup_system() {
  local missing=()
  local pair
  for pair in "${SYSTEM_COMMANDS[@]}"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  ((${#missing[@]})) || return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "missing Debian packages (run as root to install them): ${missing[*]}"
  fi
}

setup_node() {
  local dir=tests/node
  [[ -f $dir/package.json ]] || return 0
  if [[ ! -d $dir/node_modules || $dir/package.json -nt $dir/node_modules ]]; then
    say "installing the browser-test packages in $dir"
    npm install --prefix "$dir" --no-audit --no-fund --silent
    touch "$dir/node_modules"
  fi
}

lint() {
  "$VENV/bin/ruff" check .
  "$VENV/bin/ruff" format --check .
  "$VENV/bin/mypy"
  local scripts=()
  mapfile -t scripts < <(git ls-files '*.sh' 2>/dev/null || find . -name '*.sh' -not -path './.venv/*')
  if command -v shellcheck >/dev/null; then
    shellcheck "${scripts[@]}"
  else
    say "shellcheck is not installed: shell scripts were not checked"
    return 1
  fi
}

# The binary is built from a clean install of the package (not the editable one), in a
# virtualenv of its own, so that it holds umrunbook's dependencies and nothing else: the
# exact versions of locks/binary.txt, each checked against its hash, so that two builds of
# one commit hold the same code. build/binary/freeze.txt records what was installed.
# Refresh the lock after a dependency change: pip-compile --generate-hashes --allow-unsafe
#   --strip-extras --no-emit-index-url --no-emit-find-links --output-file locks/binary.txt
#   pyproject.toml locks/binary.in
binary() {
  local build=build/binary
  rm -rf "$build"
  python3 -m venv "$build/venv"
  "$build/venv/bin/pip" install --quiet --require-hashes --no-deps -r locks/binary.txt
  "$build/venv/bin/pip" install --quiet --no-deps --no-build-isolation .
  "$build/venv/bin/pip" freeze --all --exclude umrunbook --exclude pip >"$build/freeze.txt"
  # The entry script lives outside the source tree, so that PyInstaller takes umrunbook
  # from the clean install, never from generator/.
  printf '%s\n' 'from umrunbook.__main__ import main' '' 'if __name__ == "__main__":' '    main()' \
    >"$build/entry.py"
  # What the binary holds and how (packaging/umrunbook.spec says why): umrunbook and what
  # it imports, the engines' metadata for --version, stripped, without the modules no
  # command imports. The single file carries Typst's engine as one archive, unpacked once
  # into the user's cache when a command first typesets (umrunbook/engine.py).
  "$build/venv/bin/python" packaging/engine_archive.py "$build/engine" >/dev/null
  "$build/venv/bin/pyinstaller" --clean --noconfirm --log-level WARN --distpath dist \
    --workpath "$build/work" packaging/umrunbook.spec -- --onefile "$PWD/$build/entry.py" "$PWD/$build/engine"
  say "built dist/umrunbook ($(du -h dist/umrunbook | cut -f1))"
  # The same as one folder, zipped: nothing to unpack at each start (README, "The
  # single-file binary").
  "$build/venv/bin/pyinstaller" --noconfirm --log-level WARN --distpath "$build/folder" \
    --workpath "$build/work-folder" packaging/umrunbook.spec -- --onedir "$PWD/$build/entry.py"
  rm -f dist/umrunbook-folder.zip
  (cd "$build/folder" && "$OLDPWD/$build/venv/bin/python" -m zipfile -c "$OLDPWD/dist/umrunbook-folder.zip" umrunbook)
  say "built dist/umrunbook-folder.zip ($(du -h dist/umrunbook-folder.zip | cut -f1)): unzip, run umrunbook/umrunbook"
}

main() {
  local command=${1:-}
  shift || true
  case $command in
    demo)
      setup_python
      "$VENV/bin/umrunbook" render "$@"
      say "the change package is in dist/runbooks (open dist/runbooks/index.html)"
      ;;
    test)
      setup_system
      setup_python
      setup_node
      lint
      "$VENV/bin/python" -m pytest "$@"
      ;;
    lint)
      setup_python
      lint
      ;;
    binary)
      binary
      ;;
    bench)
      # ./dev.sh bench [NAME ...]: bench/bench_NAME.py for each NAME (pdf, check, versions,
      # fleet, markdown), every one without a NAME; each takes its defaults.
      setup_python
      local script names=("$@")
      if ((${#names[@]} == 0)); then
        for script in bench/bench_*.py; do
          script=${script#bench/bench_}
          names+=("${script%.py}")
        done
      fi
      for script in "${names[@]}"; do "$VENV/bin/python" "bench/bench_$script.py"; done
      ;;
    *)
      sed -n '2,8p' "$0" >&2
      exit 2
      ;;
  esac
}

main "$@"
